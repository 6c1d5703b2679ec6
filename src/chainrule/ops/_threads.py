"""Chunks of a batch run on a few threads, with NumPy's BLAS single-threaded meanwhile.

Used by convolution (and anything else whose work splits over the batch): NumPy's copies and
BLAS calls release the GIL, so two threads on two cores really run in parallel.
"""

from __future__ import annotations

import _thread
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# NOTE: measured on 2 cores (1.25 MB of L2 each): column chunks of 0.25-1 MB keep im2col and
# the GEMM in cache (the GEMM slows by a third from 1,024 to 4,096 rows); below about 1 MB of
# work in all, handing chunks to a thread costs more than it saves.
_CHUNK_BYTES = 1 << 20
_PARALLEL_BYTES = 1 << 20
_THREADS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))
_pool: tuple[int, list[_Worker]] | None = None  # (pid, workers), made on first use
_busy = _thread.allocate_lock()  # held while the workers run someone's chunks


class _Worker:
    """One thread that runs the tasks handed to it, one at a time.

    NOTE: handed over by two plain locks (go, done) rather than a ThreadPoolExecutor: a round
    trip to a waiting thread measured 7 us against 65-76 us through the executor's queue and
    futures, and _chunked makes one per parallel op (a LeNet-5 step makes about twenty).
    """

    def __init__(self) -> None:
        import threading  # on first use: a slow import

        self.go, self.done = _thread.allocate_lock(), _thread.allocate_lock()
        self.go.acquire()
        self.done.acquire()
        self.task: Callable[[], None] | None = None
        self.error: BaseException | None = None
        self.owed = False  # a claiming task whose end nobody waited for (see _claim_chunks)
        threading.Thread(target=self._loop, name="chainrule-worker", daemon=True).start()

    def _loop(self) -> None:
        while True:
            self.go.acquire()
            try:
                assert self.task is not None
                self.task()
            except BaseException as e:  # handed to the caller by wait()
                self.error = e
            finally:
                self.task = None
                self.done.release()

    def start(self, task: Callable[[], None]) -> None:
        self.task = task
        self.go.release()

    def wait(self) -> None:
        self.done.acquire()
        error, self.error = self.error, None
        if error is not None:
            raise error

    def idle(self) -> bool:
        """Ready for a task: an owed task (which runs no chunk) has ended by now."""
        if self.owed:
            if not self.done.acquire(blocking=False):
                return False
            self.owed, self.error = False, None
        return True


def _workers(count: int) -> list[_Worker]:
    """``count`` workers, started on first use (again in a forked child)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), [])
    workers = _pool[1]
    while len(workers) < count:
        workers.append(_Worker())
    return workers[:count]


def _chunked(n: int, item_bytes: int, work: Callable[[int, int, int], None],
             claim: bool = False) -> None:
    """Call ``work(lo, hi, slot)`` over ``[0, n)`` in chunks of about ``_CHUNK_BYTES``.

    Chunks are dealt round-robin to ``_THREADS`` threads (the caller's thread is slot 0); a slot
    runs its chunks one after the other, so per-slot accumulators need no lock. With ``claim``
    (for chunks that write only their own part of the output, so that which thread runs one
    does not change a bit), each thread takes the next chunk nobody has taken instead: see
    :func:`_claim_chunks`. If the workers are busy (a call from another thread, or from inside
    a chunk), the caller runs every slot itself, one after the other. NumPy's BLAS is
    made single-threaded meanwhile (MKL always is, see ``_mkl.py``); where that is not possible
    (see :class:`_OpenBLAS`), chunks run one after the other and BLAS threads each GEMM.
    """
    if n == 0:
        return
    threads = _THREADS
    if not _OpenBLAS.found() or n * item_bytes < _PARALLEL_BYTES:
        threads = 1
    chunks = -(-n * max(1, item_bytes) // _CHUNK_BYTES)
    chunks = min(n, -(-chunks // threads) * threads)  # a multiple of threads: balanced
    step = -(-n // chunks)
    spans = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
    threads = min(threads, len(spans))

    def run(slot: int) -> None:
        for lo, hi in spans[slot::threads]:
            work(lo, hi, slot)

    with _OpenBLAS.single_threaded():
        if threads > 1 and _busy.acquire(blocking=False):
            try:
                workers = _workers(threads - 1)
                # (a worker may still be descheduled since a claiming call: see _claim_chunks)
                if all(worker.idle() for worker in workers):
                    partner = sys.modules.get("chainrule._partner")  # loaded by _mkl
                    if partner is not None:
                        partner.quiet()  # let our workers have the other core
                    if claim:
                        _claim_chunks(spans, work, workers)
                        return
                    for slot, worker in enumerate(workers, 1):
                        worker.start(functools.partial(run, slot))
                    try:
                        run(0)
                    finally:
                        _wait_all(workers)
                    return
            finally:
                _busy.release()
        for slot in range(threads):  # (no workers to be had: every slot here, in turn)
            run(slot)


def _wait_all(workers: list[_Worker]) -> None:
    """Wait for every one of ``workers``, even after one has failed (none is left running a
    chunk); then raise the first failure."""
    error: BaseException | None = None
    for worker in workers:
        try:
            worker.wait()
        except BaseException as e:
            error = error or e
    if error is not None:
        raise error


def _claim_chunks(spans: list[tuple[int, int]], work: Callable[[int, int, int], None],
                  workers: list[_Worker]) -> None:
    """Every thread (the caller as slot 0) takes the next chunk nobody has taken, until none
    is left; the caller then waits only for the workers that are running a chunk.

    NOTE: with a fixed share each, a worker whose vCPU the VM's host has taken makes the caller
    wait for that share: LeNet-5's step measured 1.5x PyTorch's time with 11% steal against
    1.0-1.1x without. Here a worker that has not started by the time the caller has taken every
    chunk costs nothing: its task ends without running a chunk whenever it gets a core, and
    the next call uses it again once it has (``_Worker.owed``; until then that call runs on the
    caller's thread alone). Chunks that take more time also balance by themselves.
    """
    lock = _thread.allocate_lock()
    state = {"next": 0}
    running = [False] * (len(workers) + 1)  # per slot: inside a chunk it took

    def take(slot: int) -> int | None:
        with lock:
            i = state["next"]
            running[slot] = i < len(spans)
            if not running[slot]:
                return None
            state["next"] = i + 1
            return i

    def run(slot: int) -> None:
        while (i := take(slot)) is not None:
            work(*spans[i], slot)

    for slot, worker in enumerate(workers, 1):
        worker.start(functools.partial(run, slot))
    try:
        run(0)
    finally:
        with lock:
            state["next"] = len(spans)  # (after an error in the caller's chunk: no new chunks)
            busy = [w for slot, w in enumerate(workers, 1) if running[slot]]
        for worker in workers:
            worker.owed = worker not in busy
        _wait_all(busy)


def _each(n: int, work: Callable[[int, int, int], None], parallel: bool = True) -> None:
    """``work(lo, hi, slot)`` as :func:`_chunked` calls it, with every one of the ``n`` items a
    chunk of its own: for work already cut into one share per thread (blocks of rows that run
    their own GEMMs, halves of an optimizer update). All on the caller's thread when not
    ``parallel``."""
    _chunked(n, _CHUNK_BYTES if parallel else 1, work)


class _OpenBLAS:
    """Switches NumPy's OpenBLAS to one thread while our threads run chunks.

    NOTE: each of our threads runs its own GEMMs; if OpenBLAS also split every GEMM over all
    cores, its threads would spin against ours, and splitting a chunk's small GEMM costs more
    than it gains anyway (measured on a busy 2-core machine: a CNN step took 5-10x more CPU time
    with OpenBLAS's threads on). OpenBLAS has no Python interface, so its ``set_num_threads`` is
    found among the libraries loaded into the process (as threadpoolctl does; Linux only). With
    another BLAS, or none found, chunks run one after the other and BLAS threads each GEMM.
    """

    _fns: Any = None  # (get_num_threads, set_num_threads) once found
    _searched = False
    _depth = 0
    _saved = 1
    _lock: Any = None  # a threading.Lock, made on first use (threading is a slow import)

    @classmethod
    def found(cls) -> bool:
        if not cls._searched:
            cls._searched = True
            cls._fns = cls._search()
        return cls._fns is not None

    @staticmethod
    def _search() -> tuple | None:
        import ctypes
        import re
        import threading

        _OpenBLAS._lock = threading.Lock()
        try:
            with open("/proc/self/maps") as f:
                paths = set(re.findall(r"(/\S*openblas\S*\.so\S*)", f.read()))
            for path in sorted(paths, key=lambda p: "numpy" not in p):
                lib = ctypes.CDLL(path)
                for name in ("scipy_openblas{}64_", "openblas{}64_", "openblas{}"):
                    get = getattr(lib, name.format("_get_num_threads"), None)
                    set_ = getattr(lib, name.format("_set_num_threads"), None)
                    if get is not None and set_ is not None:
                        return get, set_
        except (OSError, AttributeError):
            pass
        return None

    @classmethod
    @contextmanager
    def single_threaded(cls) -> Iterator[None]:
        if not cls.found():
            yield
            return
        get, set_ = cls._fns
        with cls._lock:
            if cls._depth == 0:
                cls._saved = get()
                set_(1)
            cls._depth += 1
        try:
            yield
        finally:
            with cls._lock:
                cls._depth -= 1
                if cls._depth == 0:
                    set_(cls._saved)
