"""Matrix products through Intel MKL when the ``fast`` extra installed it (x86-64 only).

NOTE: NumPy's wheels bring OpenBLAS, whose float32 GEMMs at a network's sizes run 1.3-1.7x
slower than MKL's on this AVX-512 machine (one thread, (128, 784) @ (784, 512): 1,400 us in
OpenBLAS, 826 us in MKL, 1,018 us through PyTorch, which links MKL). So a 2-D float GEMM, the
whole cost of a Linear layer, goes to MKL's ``cblas_?gemm`` through ctypes (which releases
the GIL) when ``libmkl_rt`` is found next to the interpreter; anything else - batches, integer
or complex dtypes, empty or non-BLAS-strided operands, no MKL - stays with ``np.matmul``,
which is also the reference the tests compare with. ``CHAINRULE_NO_MKL=1`` or
``chainrule._jit.reference()`` switch it off.

NOTE: MKL runs sequential (its threading layer set before the first call, so no OpenMP
runtime is loaded): with MKL's own OpenMP threads, a LeNet-5 step on a busy machine took 17.1
instead of 11.2 ms (its workers wait at barriers and spin against our conv threads). So MKL
takes the products that one thread does best: those inside a chunk of our own threads
(``ops/_threads.py``: conv, attention, feed-forward) and small ones (below ~8M multiply-adds:
LeNet-5's Linear layers, whose OpenBLAS threads otherwise wake and spin against the conv
threads: LeNet step 8.9 ms with MKL there, 14.5 ms with OpenBLAS). From 8M multiply-adds on,
a product outside our threads is cut in two halves (rows, or columns when there are few rows):
with numba, the caller runs one half and a spinning partner thread the other
(:mod:`chainrule._partner`; (128, 784) @ (784, 512): 600-700 us, OpenBLAS's own two threads
800-900 us, PyTorch 570 us). Without numba, only from 2^27 on, the second half going to a
worker of ``ops/_threads``: waking a sleeping thread on the other core costs ~60 us each way in
this VM, so below that OpenBLAS's threading wins (the 784-512-256-10 MLP step took 3.37 ms with
OpenBLAS and 4.32 ms with such halves; at 512^3 the halves win, 1.44 vs 1.70 ms).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from chainrule import _jit, _two_cores

ENV_OFF = "CHAINRULE_NO_MKL"
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

# NOTE: products from this many multiply-adds go to MKL. Through ctypes a call cost ~19 us
# more than NumPy's, so this was 2^21 (two million); the compiled call (numba) costs ~2 us. In a
# loop the two libraries then tie from 2^18 to 2^21 ((128, 256) @ (256, 10): 17.7 us in
# OpenBLAS, 17.5 in MKL; (512, 64) @ (64, 60) 41 / 51, (32, 256) @ (256, 64) 16 / 13), but in a
# network, right after MKL's big products, MKL's small ones win: the 784-512-256-10 MLP's
# (128, 256) @ (256, 10) took 41 instead of 58 us in its raw-op step, and its inference went
# from 1.108x to 1.061x PyTorch's time (A/B, 30 rounds; raw-op step 1.138x -> 1.126x). At
# 2^18 and below OpenBLAS stays: the 64-128-10 MLP (batch 32), all of whose products are
# 2^18 or smaller, took 0.72x PyTorch's step with OpenBLAS and 0.94x with MKL.
_MIN_WORK = (1 << 18) + 1

_SINGLE_WORK = 1 << 23  # multiply-adds below which one MKL call on this thread wins
_MIN_HALF_ROWS = 32  # a product is cut by rows when each half gets at least this many
_SPLIT_WORK = 1 << 27  # without numba, multiply-adds from which halves beat OpenBLAS (above)
_MKL_THREADING_SEQUENTIAL = 1
_COMPILED_CALLS = ("cblas_sgemm", "cblas_dgemm", "vsTanh", "vdTanh")  # see _native

_gemm: dict[np.dtype, Any] | None = None  # dtype -> cblas function, once loaded
# name -> address of MKL's functions that compiled code calls (see _native), once loaded
addresses: dict[str, int] = {}
_tried = False


def _library_paths() -> list[str]:
    names = ("libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so")
    dirs = [os.path.join(sys.prefix, "lib"), os.path.join(sys.base_prefix, "lib")]
    return [os.path.join(d, n) for d in dirs for n in names if os.path.exists(os.path.join(d, n))]


def _load() -> dict[np.dtype, Any] | None:
    if os.environ.get(ENV_OFF, "") not in ("", "0") or not sys.platform.startswith("linux"):
        return None
    import ctypes

    for path in _library_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        lib.MKL_Set_Threading_Layer.argtypes = [ctypes.c_int]
        lib.MKL_Set_Threading_Layer(_MKL_THREADING_SEQUENTIAL)
        fns = {}
        i, p = ctypes.c_int, ctypes.c_void_p
        for dtype, name, scalar in ((np.dtype(np.float32), "cblas_sgemm", ctypes.c_float),
                                    (np.dtype(np.float64), "cblas_dgemm", ctypes.c_double)):
            fn = getattr(lib, name)
            fn.argtypes = [i, i, i, i, i, i, scalar, p, i, p, i, scalar, p, i]
            fn.restype = None
            fns[dtype] = fn
        for name in _COMPILED_CALLS:
            addresses[name] = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value or 0
        return fns
    return None


def available() -> bool:
    """MKL was found (checked once) and is not switched off."""
    global _gemm, _tried
    if not _tried:
        _tried = True
        _gemm = _load()
    return _gemm is not None and _jit._reference_depth == 0


def _operand(a: np.ndarray) -> tuple[int, int]:
    """(CBLAS transpose flag, leading dimension) describing a 2-D array to BLAS; the flag is 0
    when the array is not BLAS-strided. (Compiled as it is for ``chainrule._native``.)"""
    item = a.itemsize
    s0, s1 = a.strides
    rows, cols = a.shape
    if (s1 == item or cols == 1) and s0 % item == 0 and s0 >= max(cols, 1) * item:
        return _NO_TRANS, s0 // item
    if (s0 == item or rows == 1) and s1 % item == 0 and s1 >= max(rows, 1) * item:
        return _TRANS, s1 // item
    return 0, 0


def _blas_strided(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> bool:
    """MKL can compute ``out = a @ b`` in place: ``a`` and ``b`` BLAS-strided, ``out``'s
    rows unit-strided."""
    return _operand(a)[0] != 0 and _operand(b)[0] != 0 and _operand(out)[0] == _NO_TRANS


def _address(a: np.ndarray) -> int:
    # NOTE: 3x cheaper than ``a.ctypes.data``, which builds a helper object per call.
    return a.__array_interface__["data"][0]


def _eligible(a: np.ndarray, b: np.ndarray, out: np.ndarray | None) -> bool:
    """MKL may take ``a @ b`` (into ``out`` if given): 2-D operands of one float dtype, enough
    work (see ``_MIN_WORK``). Whether their strides suit BLAS is checked by the call."""
    return (a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype
            and a.size * b.shape[1] >= _MIN_WORK and b.shape[1] > 0 and available()
            and a.dtype in _gemm  # type: ignore[operator]
            and max(a.shape[0], a.shape[1], b.shape[1]) < 2**31
            and (out is None or (out.shape == (a.shape[0], b.shape[1])
                                 and out.dtype == a.dtype)))


def _single() -> bool:
    """Products run as one call on this thread: we are in a chunk of ``ops/_threads`` (which
    has this core only)."""
    return sys.modules["chainrule.ops._threads"]._OpenBLAS._depth > 0  # (imported by ops)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.matmul(a, b, out=out)`` for 2-D arrays: MKL when it applies (``out``, if given,
    must then have unit-stride rows), otherwise NumPy."""
    if _eligible(a, b, out):
        if out is None:
            out = np.empty((a.shape[0], b.shape[1]), a.dtype)
        if _product(a, b, out):
            return out
    return np.matmul(a, b, out=out)


def addmm(bias: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``bias + a @ b`` for 2-D ``a``, ``b`` and a bias row of ``b.shape[1]`` values (a Linear
    layer's forward, as ``torch.addmm``).

    NOTE: with MKL, each thread that computes rows of the product (``_split``) adds the bias
    to them right after, while they are in its cache (``_native.gemm_fused``). Adding it
    afterwards on one thread, as NumPy would, read the product's fresh output again, ~55 us
    for (128, 512) float32.
    """
    out = _addmm(bias, a, b, False)
    if out is None:
        out = np.matmul(a, b)
        out += bias
    return out


def addmm_relu(bias: np.ndarray | None, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """max(``addmm(bias, a, b)``, 0) (NaN kept; ``bias`` may be None), a Linear layer followed
    by ReLU, when MKL takes the product: each thread rectifies the rows it computed while they
    are in its cache. None, having done nothing, when MKL does not take it."""
    return _addmm(bias, a, b, True)


def _addmm(bias: np.ndarray | None, a: np.ndarray, b: np.ndarray, relu: bool
           ) -> np.ndarray | None:
    if _eligible(a, b, None) and (bias is None or (bias.dtype == a.dtype
                                                   and bias.shape == (b.shape[1],))):
        out = np.empty((a.shape[0], b.shape[1]), a.dtype)
        if _product(a, b, out, None if bias is None else np.ascontiguousarray(bias), relu):
            return out
    return None


def linear_chain(x: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray | None, bool]]
                 ) -> np.ndarray | None:
    """The output of a chain of Linear layers (each as ``(wt, bias or None, relu)``, ``wt``
    the weight transposed, (in, out)) for ``x`` (rows, in): the first half of the rows through
    every layer on this thread, the second half on the partner thread, each thread running
    its rows from layer to layer without waiting for the other. None, having done nothing,
    unless numba and MKL are both there, the partner is free, ``x`` is C-contiguous with at
    least 2 * ``_MIN_HALF_ROWS`` rows and the products are big enough for two threads.

    NOTE: a row of a layer's output needs only the same row of its input, so one hand-over
    serves the whole chain, and each thread reads only rows it wrote itself, still in its
    cache. Layer by layer (``_split``), each layer costs a hand-over and reads half its input
    from the other core, and a small last layer (the MLP's (128, 256) @ (256, 10)) runs on
    one thread from the other's rows: ~75 us in the network against ~40 us alone.
    """
    m = x.shape[0] if x.ndim == 2 else 0
    if not (m >= 2 * _MIN_HALF_ROWS and x.flags.c_contiguous and _jit.enabled() and available()
            and x.dtype in _gemm and not _single()):  # type: ignore[operator]
        return None
    table = np.empty((len(layers), _partner_module().CHAIN_FIELDS), np.int64)
    keep = []  # (the arrays the table points to stay alive through the call)
    k, work = x.shape[1], 0
    for i, (wt, bias, relu) in enumerate(layers):
        n = wt.shape[1] if wt.ndim == 2 else 0
        tb, ldb = _operand(wt) if n else (0, 0)
        if tb == 0 or wt.dtype != x.dtype or wt.shape[0] != k or k == 0 or not (
                bias is None or (bias.dtype == x.dtype and bias.shape == (n,))):
            return None
        out = np.empty((m, n), x.dtype)
        if bias is not None:
            bias = np.ascontiguousarray(bias)
        keep += [out, bias]  # (out, bias are rebound each layer; their addresses must hold)
        table[i] = (tb, ldb, _address(wt), n, k, 0 if bias is None else _address(bias),
                    relu, _address(out))
        work += m * k * n
        k = n
    if work < _SINGLE_WORK:
        return None
    partner = _partner_thread()
    if not partner.lock.acquire(blocking=False):
        return None
    try:
        partner.chain(table.reshape(-1), x, -(-m // 2))
    finally:
        partner.lock.release()
    return out


def _product(a: np.ndarray, b: np.ndarray, out: np.ndarray, bias: np.ndarray | None = None,
             relu: bool = False) -> bool:
    """``out = a @ b`` through MKL for operands ``_eligible`` accepted (with a
    contiguous ``bias`` row: ``out = bias + a @ b``; with ``relu``, rectified); False, having
    done nothing, when MKL should not or cannot take it (see ``matmul``)."""
    work = a.size * b.shape[1]
    single = _single() or work < _SINGLE_WORK  # in a chunk, or small: one call here
    if single or work >= _SPLIT_WORK or _jit.enabled():
        return _call(a, b, out, bias, relu) if single else _split(a, b, out, bias, relu)
    return False


def matmul_pair(a1: np.ndarray, b1: np.ndarray, a2: np.ndarray,
                b2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(a1 @ b1, a2 @ b2)``, two independent products (a backward pass's input and weight
    gradients): with the partner thread, one on each core, each whole.

    NOTE: a layer's two gradient products have the same number of multiply-adds, and one whole
    product per core beats cutting each in halves in turn: layer 2 of the 784-512-256-10 MLP,
    477 against 551 us.

    NOTE: smaller pairs (each from ``_MIN_WORK``) go to the partner too while it is awake
    (spinning after a product: ~5 us to hand over; it is not woken for them). The raw-op MLP
    step's last layer, (128, 10) @ (10, 256) and (256, 128) @ (128, 10), took 109 us as two
    calls on this thread and 77 us as a pair, and every later node of the backward ran faster
    too (layer 2's products 536 -> 453 us, layer 1's 591 -> 547). The step, against PyTorch
    (A/B, 25 rounds a run): faster in 6 of 8 runs, by about 4% at the median (1.148x -> 1.064x,
    1.259x -> 1.069x, 1.087x -> 1.025x, 1.190x -> 1.122x, 1.093x -> 1.055x, 1.196x -> 1.154x;
    1.127x -> 1.141x and 1.089x -> 1.097x the other way). Both on this thread through OpenBLAS
    instead: 1.087x -> 1.071x.
    """
    total = a1.size * b1.shape[1] + a2.size * b2.shape[1]
    if (_eligible(a1, b1, None) and _eligible(a2, b2, None) and _jit.enabled()
            and not _single() and (total >= _SINGLE_WORK or _two_cores._partner() is not None)):
        out1 = np.empty((a1.shape[0], b1.shape[1]), a1.dtype)
        out2 = np.empty((a2.shape[0], b2.shape[1]), a2.dtype)
        if _with_partner((a1, b1, out1, None), (a2, b2, out2, None)):
            return out1, out2
    return matmul(a1, b1), matmul(a2, b2)


_compiled: Any = None  # chainrule._native, once imported (it imports numba)
_partner: Any = None  # chainrule._partner, likewise


def _call(a: np.ndarray, b: np.ndarray, out: np.ndarray, bias: np.ndarray | None = None,
          relu: bool = False) -> bool:
    """``out = a @ b`` by one MKL call on this thread (``bias``, ``relu`` as for
    ``_product``); False, having done nothing, when an operand is not BLAS-strided or ``out``'s
    rows are not unit-strided.

    NOTE: through numba when it is there: a ctypes call costs ~19 us more than the product
    (argument conversion; an array's address alone, by ``__array_interface__``, 2.6 us), which
    was ~7% of the 784-512-256-10 MLP step's eight products; the compiled call ~2 us.
    """
    global _compiled
    if _jit.enabled():
        if _compiled is None:
            from chainrule import _native

            _compiled = _native
        return bool(_compiled.matmul_if_strided(_compiled.table(), a, b, out,
                                                0 if bias is None else _address(bias), relu))
    if not _blas_strided(a, b, out):
        return False
    ta, tb, to = _operand(a), _operand(b), _operand(out)
    m, k = a.shape
    _gemm[a.dtype](_ROW_MAJOR, ta[0], tb[0], m, out.shape[1], k, 1.0,  # type: ignore[index]
                   _address(a), ta[1], _address(b), tb[1], 0.0, _address(out), to[1])
    if bias is not None:
        out += bias
    if relu:
        np.maximum(out, 0, out=out)
    return True


def _partner_module() -> Any:
    """:mod:`chainrule._partner` (it imports numba), imported on first use."""
    global _partner
    if _partner is None:
        from chainrule import _partner as module

        _partner = module
    return _partner


def _partner_thread() -> Any:
    """The process's partner thread, started on first use."""
    return _partner_module().partner()


def _with_partner(mine: tuple, theirs: tuple, relu: bool = False) -> bool | None:
    """Run the product ``mine`` here and ``theirs`` on the partner thread (each as ``(a, b,
    out, bias or None)``; ``bias`` and ``relu`` as for ``_product``); None, having run nothing,
    when the partner is busy (another thread's product), False when an operand is not
    BLAS-strided."""
    partner = _partner_thread()
    if not partner.lock.acquire(blocking=False):
        return None
    try:
        bias1, bias2 = (0 if h[3] is None else _address(h[3]) for h in (mine, theirs))
        return partner.run(*mine[:3], *theirs[:3], bias1, bias2, relu)
    finally:
        partner.lock.release()


def _split(a: np.ndarray, b: np.ndarray, out: np.ndarray, bias: np.ndarray | None = None,
           relu: bool = False) -> bool:
    """out = a @ b (``bias``, ``relu`` as for ``_product``) as two halves on two
    threads (False, having done nothing, when an operand is not BLAS-strided): halves of the
    rows, or of the columns when there are few rows and more columns (views keep the operands'
    strides). The second half
    goes to the spinning partner thread (:mod:`chainrule._partner`) when numba is there,
    otherwise to a worker of ``ops/_threads``.

    NOTE: cutting the rows wins wherever each half keeps a few dozen: measured with the partner
    (us, rows / columns / PyTorch): (128, 512) @ (512, 256) 255 / 358 / 202, (128, 784) @
    (784, 512) 657 / 835 / 614, (64, 4096) @ (4096, 256) 1,057 / 1,612 / 875, (2048, 128) @
    (128, 512) 1,082 / 1,261 / 1,106; the backward's products tie. With 32 rows, an LSTM step's
    (32, 256) @ (256, 1024), columns win (156 / 187).

    NOTE: also measured on two threads and not kept (us, rows / the other cut / PyTorch):
    cutting k, the caller adding the partner's partial product: (128, 784) @ (784, 512)
    591 / 575 / 564, (128, 512) @ (512, 256) 222 / 237 / 193; each core packing half of b's
    columns (MKL's ``cblas_sgemm_pack``) and both computing their rows against both packed
    halves after a barrier (each row half otherwise packs all of b, which PyTorch's threaded
    MKL shares): 584 / 654 / 572 and 209 / 215 / 189; 64-byte aligned outputs and inputs
    (PyTorch's allocator aligns to 64, glibc's to 16): through ``matmul``, 602 us as NumPy
    allocates them, 608 aligned; in the MLP A/B, aligned was slower.
    """
    m, n = out.shape
    if m >= _MIN_HALF_ROWS * 2 or m >= n:
        cut = -(-m // 2)
        halves = [(a[:cut], b, out[:cut], bias), (a[cut:], b, out[cut:], bias)]
    else:
        cut = -(-n // 2)
        halves = [(a, b[:, :cut], out[:, :cut], None if bias is None else bias[:cut]),
                  (a, b[:, cut:], out[:, cut:], None if bias is None else bias[cut:])]
    if _jit.enabled():
        done = _with_partner(halves[0], halves[1], relu)
        if done is not None:
            return done
    if not _blas_strided(a, b, out):
        return False  # (views of BLAS-strided arrays are BLAS-strided)

    from chainrule.ops import _threads

    def work(lo: int, hi: int, slot: int) -> None:
        for x, y, z, row in halves[lo:hi]:
            _call(x, y, z, row, relu)

    _threads._each(2, work)
    return True
