"""The spinning partner thread (chainrule._partner) that runs half of a big MKL product."""

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from chainrule import _mkl

pytestmark = pytest.mark.usefixtures("fast_paths")


@pytest.fixture
def partner(monkeypatch):
    from chainrule import _partner

    assert _mkl.available()
    monkeypatch.setattr(_mkl, "_SINGLE_WORK", 0)  # every product above _MIN_WORK is split
    return _partner


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(301, 200, 250), (20, 300, 901), (128, 784, 512)])
def test_halves_with_the_partner_equal_numpy(partner, dtype, shape):
    rng = np.random.default_rng(0)
    m, k, n = shape
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype).T
    buf = np.full((m, n + 7), 3, dtype)
    out = buf[:, 2:n + 2]  # row-strided, as the Linear layers' outputs are not
    done = partner.partner().ctl[partner._DONE]
    assert _mkl.matmul(a, b, out=out) is out
    tol = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out, a @ b, rtol=tol, atol=tol * np.sqrt(k))
    assert (buf[:, :2] == 3).all() and (buf[:, n + 2:] == 3).all()
    assert partner._partner.ctl[partner._DONE] == done + 1  # the partner did one half


def test_the_partner_sleeps_when_idle_and_wakes_for_the_next_product(partner, monkeypatch):
    monkeypatch.setattr(partner, "SPIN_NS", 1000)
    a = np.ones((200, 300), np.float32)
    b = np.ones((300, 400), np.float32)
    for _ in range(5):
        np.testing.assert_array_equal(_mkl.matmul(a, b), np.full((200, 400), 300, np.float32))
        deadline = time.monotonic() + 10
        while not partner._partner.ctl[partner._ASLEEP]:  # asleep within ~1 us (+ 0.5 ms)
            assert time.monotonic() < deadline, "the partner never went to sleep"
            time.sleep(0.001)


def test_threads_multiplying_at_once_each_get_their_own_product(partner):
    rng = np.random.default_rng(1)
    pairs = [(rng.standard_normal((150, 200)), rng.standard_normal((200, 180)))
             for _ in range(4)]
    errors = []

    def work(a, b):
        for _ in range(50):  # the partner is busy now and then: that call runs both halves
            if not np.allclose(_mkl.matmul(a, b), a @ b, rtol=1e-12, atol=1e-10):
                errors.append("wrong product")

    threads = [threading.Thread(target=work, args=p) for p in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_forked_child_starts_a_partner_of_its_own():
    code = """if True:
        import os, numpy as np
        from chainrule import _mkl, _partner
        _mkl._SINGLE_WORK = 0
        a = np.ones((200, 300)); b = np.ones((300, 400))
        assert (_mkl.matmul(a, b) == 300).all()
        first = _partner._partner
        pid = os.fork()
        if pid == 0:
            ok = (_mkl.matmul(a, b) == 300).all() and _partner._partner is not first
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert (_mkl.matmul(a, b) == 300).all() and _partner._partner is first
        print("ok")
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_pair_of_products_runs_one_on_each_thread(partner, dtype):
    rng = np.random.default_rng(2)
    g = rng.standard_normal((128, 256)).astype(dtype)  # a Linear layer's output gradient
    x = rng.standard_normal((128, 512)).astype(dtype)  # its input
    w = rng.standard_normal((256, 512)).astype(dtype)  # its weight
    done = partner.partner().ctl[partner._DONE]
    gx, gw = _mkl.matmul_pair(g, w, g.T, x)
    tol = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(gx, g @ w, rtol=tol, atol=tol * 16)
    np.testing.assert_allclose(gw, g.T @ x, rtol=tol, atol=tol * 16)
    assert partner._partner.ctl[partner._DONE] == done + 1  # one whole product, not halves
    with partner._partner.lock:  # partner busy (another thread's product): each on its own
        gx2, gw2 = _mkl.matmul_pair(g, w, g.T, x)
    np.testing.assert_allclose(gx2, gx, rtol=tol, atol=tol * 16)
    np.testing.assert_allclose(gw2, gw, rtol=tol, atol=tol * 16)


def test_a_small_pair_goes_to_the_partner_only_while_it_is_awake(partner, monkeypatch):
    monkeypatch.setattr(_mkl, "_SINGLE_WORK", 1 << 62)  # (the fixture's 0 would pair anything)
    rng = np.random.default_rng(4)
    g = rng.standard_normal((128, 10)).astype(np.float32)  # the raw-op MLP's last layer
    w = rng.standard_normal((256, 10)).astype(np.float32)
    h = rng.standard_normal((128, 256)).astype(np.float32)
    p = partner.partner()
    monkeypatch.setattr(partner, "SPIN_NS", 10**10)  # awake for the next 10 s once woken
    partner.quiet()
    deadline = time.monotonic() + 10
    while not p.ctl[partner._ASLEEP]:
        assert time.monotonic() < deadline, "the partner never went to sleep"
        time.sleep(0.001)
    p.run(h, w, np.empty((128, 10), np.float32), h, w, np.empty((128, 10), np.float32))
    assert not p.ctl[partner._ASLEEP]  # (woken by run(); spinning with the long SPIN_NS)
    done = p.ctl[partner._DONE]
    gx, gw = _mkl.matmul_pair(g, w.T, h.T, g)
    np.testing.assert_allclose(gx, g @ w.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw, h.T @ g, rtol=1e-4, atol=1e-3)
    assert p.ctl[partner._DONE] == done + 1  # one of the two ran on the partner
    monkeypatch.setattr(partner, "SPIN_NS", 1000)
    partner.quiet()
    deadline = time.monotonic() + 10
    while not p.ctl[partner._ASLEEP]:
        assert time.monotonic() < deadline, "the partner never went to sleep"
        time.sleep(0.001)
    done = p.ctl[partner._DONE]
    _mkl.matmul_pair(g, w.T, h.T, g)
    assert p.ctl[partner._DONE] == done and p.ctl[partner._ASLEEP]  # not woken for it


def test_the_partner_stops_spinning_when_our_worker_threads_start(partner, monkeypatch):
    from chainrule.ops import _threads

    monkeypatch.setattr(partner, "SPIN_NS", 60 * 10**9)  # would spin for a minute
    a = np.ones((200, 300), np.float32)
    b = np.ones((300, 400), np.float32)
    np.testing.assert_array_equal(_mkl.matmul(a, b), np.full((200, 400), 300, np.float32))
    time.sleep(0.05)  # the partner still on the SPIN_NS it had; a fresh product for the new one
    _mkl.matmul(a, b)
    assert not partner._partner.ctl[partner._ASLEEP]
    _threads._each(2, lambda lo, hi, slot: None)  # a chunked op wakes a worker
    deadline = time.monotonic() + 10
    while not partner._partner.ctl[partner._ASLEEP]:
        assert time.monotonic() < deadline, "the partner kept spinning"
        time.sleep(0.001)
    np.testing.assert_array_equal(_mkl.matmul(a, b), np.full((200, 400), 300, np.float32))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_callers_thread_does_the_part_a_sleeping_or_stalled_partner_has_not_claimed(
        partner, monkeypatch, dtype):
    monkeypatch.setattr(partner, "SPIN_NS", 1000)
    rng = np.random.default_rng(3)
    a = rng.standard_normal((200, 300)).astype(dtype)
    b = rng.standard_normal((300, 400)).astype(dtype)
    _mkl.matmul(a, b)
    partner.quiet()  # (it may still be on a long SPIN_NS of an earlier test)
    deadline = time.monotonic() + 10
    while not partner._partner.ctl[partner._ASLEEP]:
        assert time.monotonic() < deadline, "the partner never went to sleep"
        time.sleep(0.001)
    # it stays asleep (as if it fell asleep right after the caller looked, or the host took
    # its core): the caller claims the posted half once its own is done, and runs it
    monkeypatch.setattr(partner._Partner, "_wake", lambda self: None)
    from chainrule import _two_cores

    ctl = partner._partner.ctl
    tol = 1e-4 if dtype == "float32" else 1e-12
    x = rng.standard_normal((128, 512)).astype(dtype)
    for _ in range(3):
        done = ctl[partner._DONE]
        np.testing.assert_allclose(_mkl.matmul(a, b), a @ b, rtol=tol, atol=tol * 20)
        assert ctl[partner._DONE] == done + 1 and ctl[partner._CLAIMED] == done + 1
        assert ctl[partner._ASLEEP]  # nobody woke it
        assert _two_cores.relu(x) is None  # never handed to a sleeping partner


def test_cached_code_older_than_the_native_calls_it_uses_is_dropped(tmp_path):
    # numba's cache sees changes to a function's own file only: the partner's cached code
    # must not outlive an edit of _native.py, whose functions it calls
    import os

    from chainrule import _native

    source = tmp_path / "_native.py"
    source.write_text("")
    names = ["_partner._run-216.py311.nbi", "_partner._run-216.py311.1.nbc",
             "_recurrent_loops.lstm-40.py311.nbi", "_kernels.relu-9.py311.nbi",
             "_partner.cpython-311.pyc"]
    for name in names:
        (tmp_path / name).write_text("")
        os.utime(tmp_path / name, (1000, 1000))  # older than the source
    os.utime(tmp_path / names[2], (2 * 10**9, 2 * 10**9))  # newer: kept
    dropped = _native._drop_stale_caches([str(tmp_path)], [str(source)])
    assert sorted(os.path.basename(p) for p in dropped) == sorted(names[:2])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["_native.py", *names[2:]])
    assert _native._drop_stale_caches([str(tmp_path / "missing")], [str(source)]) == []
    assert _native._drop_stale_caches([str(tmp_path)], [str(tmp_path / "missing.py")]) == []
