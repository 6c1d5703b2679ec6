"""The worker threads behind _threads._chunked: every chunk once, errors reach the caller,
nested and concurrent calls run (one after the other) instead of waiting on each other."""

import threading
import time

import numpy as np
import pytest

from chainrule.ops import _threads


@pytest.fixture
def two_threads(monkeypatch):
    if not _threads._OpenBLAS.found():
        pytest.skip("chunks run on threads only with NumPy's OpenBLAS")
    monkeypatch.setattr(_threads, "_THREADS", 2)
    monkeypatch.setattr(_threads, "_CHUNK_BYTES", 1)
    monkeypatch.setattr(_threads, "_PARALLEL_BYTES", 0)


def _cover(n):
    seen = np.zeros(n, int)
    names = set()

    def work(lo, hi, slot):
        seen[lo:hi] += 1
        names.add(threading.current_thread().name)

    _threads._chunked(n, 8, work)
    return seen, names


def test_every_item_once_on_two_threads(two_threads):
    seen, names = _cover(37)
    assert (seen == 1).all()
    assert "chainrule-worker" in names and len(names) == 2


def test_an_error_in_a_worker_reaches_the_caller_and_the_pool_still_works(two_threads):
    def work(lo, hi, slot):
        if slot == 1:
            raise ValueError(f"chunk {lo}:{hi} failed")

    with pytest.raises(ValueError, match="chunk .* failed"):
        _threads._chunked(10, 8, work)
    assert (_cover(10)[0] == 1).all()


def test_a_nested_call_runs_on_the_calling_thread_without_deadlock(two_threads):
    inner = []

    def work(lo, hi, slot):
        seen, names = _cover(5)
        inner.append((seen.tolist(), len(names)))

    _threads._chunked(4, 8, work)
    assert inner and all(s == [1] * 5 and n == 1 for s, n in inner)


def test_callers_on_two_threads_at_once_both_get_every_item(two_threads):
    results = []
    ts = [threading.Thread(target=lambda: results.append(_cover(400)[0])) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert len(results) == 2 and all((r == 1).all() for r in results)


def test_claimed_chunks_run_once_each_on_both_threads(two_threads):
    seen = np.zeros(200, int)
    slots = {}

    def work(lo, hi, slot):
        time.sleep(0.001)  # (without the GIL: the worker gets its share)
        seen[lo:hi] += 1
        slots.setdefault(slot, set()).add(threading.current_thread().name)

    _threads._chunked(200, 8, work, claim=True)
    assert (seen == 1).all()
    assert sorted(slots) == [0, 1] and all(len(names) == 1 for names in slots.values())
    assert slots[1] == {"chainrule-worker"}


def test_a_worker_that_starts_late_costs_the_caller_nothing(two_threads, monkeypatch):
    """A descheduled worker (its task held back here until ``gate`` opens): the caller runs
    every chunk and returns; calls made before the worker has ended its task run on the
    caller's thread; once it has, the worker takes chunks again."""
    gate = threading.Event()
    start = _threads._Worker.start
    monkeypatch.setattr(_threads._Worker, "start",
                        lambda self, task: start(self, lambda: (gate.wait(10), task())))
    try:
        for _ in range(2):
            seen = np.zeros(9, int)
            used = set()

            def work(lo, hi, slot, seen=seen, used=used):
                seen[lo:hi] += 1
                used.add(threading.current_thread())

            _threads._chunked(9, 8, work, claim=True)
            assert (seen == 1).all() and used == {threading.current_thread()}
            (worker,) = _threads._workers(1)
            assert worker.owed
            assert (_cover(5)[0] == 1).all()  # (a fixed-share call, on the caller's thread too)
    finally:
        gate.set()
    monkeypatch.setattr(_threads._Worker, "start", start)
    deadline = time.monotonic() + 30
    while not worker.idle():
        assert time.monotonic() < deadline, "the worker never ended its task"
    seen, names = _cover(37)
    assert (seen == 1).all() and "chainrule-worker" in names


def test_an_error_in_the_callers_claimed_chunk_reaches_it(two_threads):
    def work(lo, hi, slot):
        if slot == 0:
            raise ValueError(f"chunk {lo}:{hi} failed")

    with pytest.raises(ValueError, match="chunk .* failed"):
        _threads._chunked(10, 8, work, claim=True)
    assert (_cover(10)[0] == 1).all()


def test_after_one_worker_fails_every_other_is_waited_for(two_threads, monkeypatch):
    monkeypatch.setattr(_threads, "_THREADS", 3)
    lock = threading.Lock()
    active = [0]

    def work(lo, hi, slot):
        if slot == 1:  # the first worker
            raise ValueError("chunk failed")
        with lock:
            active[0] += 1
        time.sleep(0.1 if slot == 2 else 0)  # the second worker still busy when slot 1 fails
        with lock:
            active[0] -= 1

    with pytest.raises(ValueError, match="chunk failed"):
        _threads._chunked(3, 8, work)
    assert active[0] == 0  # nothing left running once the call has returned
    assert (_cover(10)[0] == 1).all()
