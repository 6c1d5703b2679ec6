"""The optional compiled-kernel mechanism (chainrule._jit): lazy import, the switch, errors."""

import os
import subprocess
import sys

import numpy as np
import pytest

from chainrule import _jit

pytestmark = pytest.mark.usefixtures("fast_paths")


@_jit.kernel
def _axpy(a, x, y):
    for i in range(x.size):
        y[i] += a * x[i]


@_jit.kernel(fastmath=True)
def _total(x):
    s = x.dtype.type(0)
    for i in range(x.size):
        s += x[i]
    return s


def test_a_kernel_compiles_on_first_call_and_keeps_dtype_and_options():
    assert _jit.available()
    x = np.arange(5, dtype=np.float32)
    y = np.ones(5, np.float32)
    _axpy(np.float32(2), x, y)
    assert y.tolist() == [1, 3, 5, 7, 9]
    assert _axpy.__name__ == "_axpy" and _axpy.compiled is not None
    assert _total.options["fastmath"] and _total.options["nogil"]
    assert _total(np.arange(4.0)) == 6.0


def test_reference_blocks_nest_and_switch_the_compiled_path_off():
    assert _jit.enabled()
    with _jit.reference():
        assert not _jit.enabled()
        with _jit.reference():
            assert not _jit.enabled()
        assert not _jit.enabled()
    assert _jit.enabled()


def test_the_environment_switch_and_the_lazy_import_in_a_fresh_process():
    code = ("import sys, chainrule; from chainrule import _jit; "
            "print('numba' in sys.modules, _jit.available(), 'numba' in sys.modules)")
    run = dict(capture_output=True, text=True, check=True)
    env = {k: v for k, v in os.environ.items() if k != _jit.ENV_OFF}
    out = subprocess.run([sys.executable, "-c", code], env=env, **run).stdout.split()
    assert out == ["False", "True", "True"]  # imported only when first asked for
    env[_jit.ENV_OFF] = "1"
    out = subprocess.run([sys.executable, "-c", code], env=env, **run).stdout.split()
    assert out == ["False", "False", "False"]


def test_calling_a_kernel_without_numba_says_what_to_do(monkeypatch):
    monkeypatch.setattr(_jit, "_available", False)
    fresh = _jit.kernel(lambda x: x)
    with pytest.raises(RuntimeError, match="numba is not available.*'fast' extra"):
        fresh(1)


def test_a_fork_waits_for_a_compilation_on_another_thread():
    # A thread compiles; the main thread forks while it holds numba's compiler lock. Without the
    # guard the child inherits the lock held by a thread it does not have, and its own first
    # compilation hangs (or LLVM aborts); the alarm turns a hang into a failure.
    code = """if True:
        import os, signal, threading
        import numpy as np
        from chainrule import _jit
        assert _jit.available()
        import numba
        from numba.core.compiler_lock import global_compiler_lock
        body = "".join(f"    s += np.sin(x[{i}]) * {i}.0\\n" for i in range(150))
        ns = {"np": np}
        exec("def big(x):\\n    s = 0.0\\n" + body + "    return s\\n", ns)
        big = numba.njit(ns["big"])
        t = threading.Thread(target=big, args=(np.ones(200),))
        t.start()
        while global_compiler_lock._lock.acquire(blocking=False):  # until the thread has it
            global_compiler_lock._lock.release()
            assert t.is_alive(), "the thread compiled before the fork"
        pid = os.fork()
        if pid == 0:
            signal.alarm(60)
            os._exit(0 if numba.njit(lambda v: v + 1)(1) == 2 else 1)
        _, status = os.waitpid(pid, 0)
        t.join()
        print("child", os.waitstatus_to_exitcode(status))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=240)
    assert out.stdout.strip() == "child 0", out.stderr
