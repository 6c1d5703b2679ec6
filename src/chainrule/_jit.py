"""Compiled kernels, optional: the ``fast`` extra (``pip install chainrule[fast]``, numba).

The NumPy code stays the readable reference. A few hot spots that NumPy runs as several passes
over memory (im2col and col2im, pooling, ReLU, an optimizer's update, an LSTM's gates) also have
a kernel: a plain Python function with loops that numba compiles on its first call (cached on
disk, so later processes load it), with the GIL released so that :mod:`chainrule.ops._threads`
can run it on every core. Where both exist, the caller asks :func:`enabled` and takes one or the
other; tests run both and compare them.

numba is imported on first use, never by ``import chainrule``. Set ``CHAINRULE_NO_NUMBA=1`` to
run the NumPy reference everywhere even when numba is installed; ``with reference():`` does the
same within a block (tests use it).

Writing a kernel (see the ``_kernels.py`` modules): decorate it with :func:`kernel`; take the
output arrays as arguments (allocated by the caller with NumPy, in the layout it wants); loop
over contiguous memory in the innermost loop so that LLVM vectorises it; keep the arithmetic
in the arrays' dtype (a ``float`` constant in a float32 loop promotes to float64: write
``x.dtype.type(0.5)`` or pass the constant as an argument).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

ENV_OFF = "CHAINRULE_NO_NUMBA"

_available: bool | None = None  # numba importable (and not switched off by ENV_OFF)
_reference_depth = 0  # > 0 inside reference()
_lock: Any = None  # a threading.Lock, made on the first compile


def available() -> bool:
    """numba can be imported and ``CHAINRULE_NO_NUMBA`` is not set (checked once)."""
    global _available
    if _available is None:
        if os.environ.get(ENV_OFF, "") not in ("", "0"):
            _available = False
        else:
            try:
                import numba  # noqa: F401
            except ImportError:
                _available = False
            else:
                _available = True
                guard_fork()
    return _available


_fork_guarded = False


def guard_fork() -> None:
    """Make ``os.fork`` wait for any compilation in progress on another thread (once per
    process; called wherever numba is imported).

    NOTE: numba compiles (or loads from its disk cache) on a function's first call, in the
    thread that calls it, holding its global compiler lock. The partner thread's first call of
    its loop compiles it while the caller, not waiting for it, may finish its product and fork.
    The child then inherits that lock held by a thread that does not exist in it, and LLVM
    half-way through a compilation: a child that compiled anything hung, or LLVM aborted on
    "List invariant broken!" (CI, test_a_forked_child_starts_a_partner_of_its_own). Holding
    the lock across the fork makes the fork wait until the compilation is over.
    """
    global _fork_guarded
    if _fork_guarded:
        return
    _fork_guarded = True
    from numba.core.compiler_lock import global_compiler_lock as lock

    os.register_at_fork(before=lock.acquire, after_in_parent=lock.release,
                        after_in_child=lock.release)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # the dtypes kernels are compiled for


def enabled(dtype: Any = None) -> bool:
    """Use the compiled kernels now: numba is available, no :func:`reference` block is active
    and, if ``dtype`` is given, it is one the kernels take (float32 or float64; anything else
    takes the NumPy path rather than compiling a specialisation of its own)."""
    return (_reference_depth == 0 and available()
            and (dtype is None or np.dtype(dtype) in _FLOATS))


def dense(a: np.ndarray | None, dtype: Any, ndim: int = 1) -> np.ndarray:
    """``a`` C-contiguous, or an empty array standing for None (a kernel argument that may be
    missing, such as a bias, keeps one signature that way)."""
    return np.empty((0,) * ndim, dtype) if a is None else np.ascontiguousarray(a)


@contextmanager
def reference() -> Iterator[None]:
    """Within the block, every op takes its NumPy reference path."""
    global _reference_depth
    _reference_depth += 1
    try:
        yield
    finally:
        _reference_depth -= 1


class kernel:
    """A function compiled by numba on its first call (``nogil``, cached on disk).

    ``@kernel`` or ``@kernel(fastmath=True)``. Calling it without numba raises RuntimeError: the
    caller must check :func:`enabled` first.
    """

    def __init__(self, fn: Callable | None = None, **options: Any) -> None:
        self.options = {"nogil": True, "cache": True, "error_model": "numpy", **options}
        self.fn = fn
        self.compiled: Callable | None = None
        if fn is not None:
            self.__name__ = fn.__name__
            self.__doc__ = fn.__doc__

    def __call__(self, *args: Any) -> Any:
        if self.fn is None:  # @kernel(...) form: this call receives the function
            (fn,) = args
            return kernel(fn, **self.options)
        compiled = self.compiled
        if compiled is None:
            compiled = self._compile()
        return compiled(*args)

    def _compile(self) -> Callable:
        global _lock
        if not available():
            raise RuntimeError(f"kernel {self.__name__}: numba is not available (install the "
                               f"'fast' extra, or check chainrule._jit.enabled() first)")
        if _lock is None:
            import threading

            _lock = threading.Lock()
        with _lock:
            if self.compiled is None:
                import numba

                self.compiled = numba.njit(**self.options)(self.fn)
        assert self.compiled is not None
        return self.compiled
