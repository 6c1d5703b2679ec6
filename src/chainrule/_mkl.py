"""Matrix products through Intel MKL when the ``fast`` extra installed it (x86-64 only).

NOTE: NumPy's wheels bring OpenBLAS, whose float32 GEMMs at a network's sizes run 1.3-1.7x
slower than MKL's on this AVX-512 machine (one thread, (128, 784) @ (784, 512): 1,400 us in
OpenBLAS, 826 us in MKL, 1,018 us through PyTorch, which links MKL). So a 2-D float GEMM, the
whole cost of a Linear layer, goes to MKL's ``cblas_?gemm`` through ctypes (which releases
the GIL) when ``libmkl_rt`` is found next to the interpreter; anything else - batches, integer
or complex dtypes, empty or non-BLAS-strided operands, no MKL - stays with ``np.matmul``,
which is also the reference the tests compare with. ``CHAINRULE_NO_MKL=1`` or
``chainrule._jit.reference()`` switch it off.

MKL's OpenMP workers spin after each call (``KMP_BLOCKTIME``, 200 ms by default) and would take
the second core from our own threads (as OpenBLAS's did, see ``_blas_env.py``): unless the user
set it, the spin is cut to a few ms before MKL loads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from chainrule import _jit

ENV_OFF = "CHAINRULE_NO_MKL"
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

# NOTE: a call costs ~10 us more than NumPy's (ctypes' argument conversion, MKL's own set-up;
# measured (32, 128) @ (128, 10): 4.8 us in NumPy, 27 us through here on a busy machine); from
# about two million multiply-adds on ((64, 128) @ (128, 256)) MKL's faster kernel makes up for it.
_MIN_WORK = 1 << 21

_gemm: dict[np.dtype, Any] | None = None  # dtype -> cblas function, once loaded
_tried = False
_set_local: Any = None  # MKL_Set_Num_Threads_Local, once loaded


def _library_paths() -> list[str]:
    names = ("libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so")
    dirs = [os.path.join(sys.prefix, "lib"), os.path.join(sys.base_prefix, "lib")]
    return [os.path.join(d, n) for d in dirs for n in names if os.path.exists(os.path.join(d, n))]


def _load() -> dict[np.dtype, Any] | None:
    global _set_local
    if os.environ.get(ENV_OFF, "") not in ("", "0") or not sys.platform.startswith("linux"):
        return None
    import ctypes

    os.environ.setdefault("KMP_BLOCKTIME", "2")  # ms; read when MKL's OpenMP runtime loads
    for path in _library_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        fns = {}
        i, p = ctypes.c_int, ctypes.c_void_p
        for dtype, name, scalar in ((np.dtype(np.float32), "cblas_sgemm", ctypes.c_float),
                                    (np.dtype(np.float64), "cblas_dgemm", ctypes.c_double)):
            fn = getattr(lib, name)
            fn.argtypes = [i, i, i, i, i, i, scalar, p, i, p, i, scalar, p, i]
            fn.restype = None
            fns[dtype] = fn
        _set_local = lib.MKL_Set_Num_Threads_Local
        _set_local.argtypes, _set_local.restype = [ctypes.c_int], ctypes.c_int
        return fns
    return None


def available() -> bool:
    """MKL was found (checked once) and is not switched off."""
    global _gemm, _tried
    if not _tried:
        _tried = True
        _gemm = _load()
    return _gemm is not None and _jit._reference_depth == 0


def _operand(a: np.ndarray) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) describing a 2-D array to BLAS, or None."""
    item = a.itemsize
    s0, s1 = a.strides
    rows, cols = a.shape
    if (s1 == item or cols == 1) and s0 % item == 0 and s0 >= max(cols, 1) * item:
        return _NO_TRANS, s0 // item
    if (s0 == item or rows == 1) and s1 % item == 0 and s1 >= max(rows, 1) * item:
        return _TRANS, s1 // item
    return None


def _address(a: np.ndarray) -> int:
    # NOTE: 3x cheaper than ``a.ctypes.data``, which builds a helper object per call.
    return a.__array_interface__["data"][0]


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.matmul(a, b, out=out)`` for 2-D arrays: MKL when it applies (``out``, if given,
    must then have unit-stride rows), otherwise NumPy."""
    if (a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype and a.size * b.shape[1] >= _MIN_WORK
            and available() and a.dtype in _gemm):  # type: ignore[operator]
        ta, tb = _operand(a), _operand(b)
        m, k = a.shape
        n = b.shape[1]
        to = (_NO_TRANS, n) if out is None else _operand(out)
        if (ta is not None and tb is not None and to is not None and to[0] == _NO_TRANS
                and n and max(m, n, k) < 2**31
                and (out is None or (out.shape == (m, n) and out.dtype == a.dtype))):
            if out is None:
                out = np.empty((m, n), a.dtype)
            _gemm[a.dtype](_ROW_MAJOR, ta[0], tb[0], m, n, k, 1.0,  # type: ignore[index]
                           _address(a), ta[1], _address(b), tb[1], 0.0, _address(out), to[1])
            return out
    return np.matmul(a, b, out=out)


@contextmanager
def one_thread() -> Iterator[None]:
    """MKL runs single-threaded on the calling thread within the block (for work that our own
    threads already split, see ``ops/_threads.py``); nothing to do if MKL is not loaded."""
    if not _gemm or _set_local is None:
        yield
        return
    before = _set_local(1)
    try:
        yield
    finally:
        _set_local(before)
