"""C functions called from compiled code: MKL's GEMM and tanh, and two from libc.

numba calls a ctypes function only as a global, whose address it bakes into the machine code;
such code cannot be cached on disk and would be compiled again (~0.5 s) in every process. So
compiled code here receives the addresses in a table (an int64 array, see :func:`table`) and
calls them through :func:`ccall`; the kernels stay cacheable.

Imported only on the fast path: it imports numba (see :mod:`chainrule._jit`).

NOTE: numba's disk cache of a compiled function notices changes to the file that defines it,
not to the functions it calls from other files: after an edit here, ``chainrule._partner``
kept running the old ``gemm_fused`` from its cache. So on import, the cached code of the
modules whose compiled functions call into this file (or read ``_two_cores``' op codes) is
dropped when it is older than either file (:func:`_drop_stale_caches`). An install never
has such files: every file is newer than the caches it makes.
"""

from __future__ import annotations

import ctypes
import os

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from chainrule import _jit, _mkl

_DEPENDENTS = ("_partner", "_recurrent_loops")  # modules whose compiled code calls this one


def _drop_stale_caches(cache_dirs: list[str], sources: list[str],
                       dependents: tuple[str, ...] = _DEPENDENTS) -> list[str]:
    """Delete numba's cache files (``.nbi``, ``.nbc``) of ``dependents`` in ``cache_dirs`` that
    are older than any of ``sources``; returns the deleted paths."""
    try:
        stamp = max(os.stat(f).st_mtime for f in sources)
    except OSError:
        return []
    dropped = []
    for d in cache_dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            if name.split(".")[0] in dependents and name.endswith((".nbi", ".nbc")):
                path = os.path.join(d, name)
                try:
                    if os.stat(path).st_mtime < stamp:
                        os.remove(path)
                        dropped.append(path)
                except OSError:
                    pass  # (another process got there first)
    return dropped


_here = os.path.dirname(os.path.abspath(__file__))
_drop_stale_caches([os.path.join(_here, "__pycache__"), os.path.join(_here, "ops", "__pycache__")],
                   [os.path.abspath(__file__), os.path.join(_here, "_two_cores.py")])
_jit.guard_fork()  # (this module imports numba whether or not _jit.available() was asked)

# the table's slots
SGEMM, DGEMM, STANH, DTANH, CLOCK_GETTIME, SCHED_YIELD = range(6)
_ROW_MAJOR, NO_TRANS = 101, 111
_table: np.ndarray | None = None


def table() -> np.ndarray:
    """The addresses compiled code calls, by slot; MKL must be available (checked by the
    caller with ``_mkl.available()``)."""
    global _table
    if _table is None:
        libc = ctypes.CDLL(None)
        mkl = _mkl.addresses
        _table = np.array([mkl["cblas_sgemm"], mkl["cblas_dgemm"], mkl["vsTanh"], mkl["vdTanh"],
                           ctypes.cast(libc.clock_gettime, ctypes.c_void_p).value,
                           ctypes.cast(libc.sched_yield, ctypes.c_void_p).value], np.int64)
    return _table


@intrinsic
def ccall(typingctx, fn, *args):
    """Call the C function at address ``fn`` (an int64) with ``args``, typed as they are
    (int32, int64 for pointers, float32/float64); returns its int result (garbage for a void
    function: ignore it)."""
    sig = types.int32(fn, types.StarArgTuple.from_types(args))

    def codegen(context, builder, signature, llargs):
        values = [builder.extract_value(llargs[1], i) for i in range(len(args))]
        fnty = ir.FunctionType(ir.IntType(32), [v.type for v in values])
        return builder.call(builder.inttoptr(llargs[0], fnty.as_pointer()), values)

    return sig, codegen


@intrinsic
def fence(typingctx):
    """A full memory fence (``mfence`` on x86), for hand-overs between threads."""
    def codegen(context, builder, signature, llargs):
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def claim(typingctx, arr, index, expected, new):
    """Atomically set the int64 ``arr[index]`` to ``new`` if it holds ``expected`` (a
    compare-and-swap, sequentially consistent); True if it did."""
    sig = types.boolean(arr, index, expected, new)

    def codegen(context, builder, signature, llargs):
        arrty = signature.args[0]
        ary = context.make_array(arrty)(context, builder, llargs[0])
        ptr = cgutils.get_item_pointer(context, builder, arrty, ary, [llargs[1]])
        old_new = builder.cmpxchg(ptr, llargs[2], llargs[3], "seq_cst", "seq_cst")
        return builder.extract_value(old_new, 1)

    return sig, codegen


@intrinsic
def pointer(typingctx, address, dtype):
    """``address`` (an int64) as a pointer to ``dtype`` (``np.float32``, ``np.float64``), for
    ``numba.carray``."""
    sig = types.CPointer(dtype.instance_type)(address, dtype)

    def codegen(context, builder, signature, llargs):
        return builder.inttoptr(llargs[0], context.get_value_type(signature.return_type))

    return sig, codegen


@numba.njit(nogil=True, cache=True)
def now_ns(fns, ts):
    """CLOCK_MONOTONIC in nanoseconds (``ts``: two int64 of scratch)."""
    ccall(fns[CLOCK_GETTIME], np.int32(1), ts.ctypes.data)
    return ts[0] * 1_000_000_000 + ts[1]


@numba.njit(nogil=True, cache=True)
def gemm_raw(fns, double, ta, tb, m, n, k, a, lda, b, ldb, c, ldc):
    """c = a @ b by cblas_?gemm (row-major; ``ta``/``tb`` CBLAS transpose flags, ``a``, ``b``,
    ``c`` addresses): cblas_dgemm if ``double``, else cblas_sgemm."""
    # NOTE: one call per dtype: a variable holding float32 in one branch and float64 in the
    # other would be unified to float64, and cblas_sgemm would read garbage for alpha and beta.
    i = np.int32
    if double:
        ccall(fns[DGEMM], i(_ROW_MAJOR), i(ta), i(tb), i(m), i(n), i(k), np.float64(1.0),
              a, i(lda), b, i(ldb), np.float64(0.0), c, i(ldc))
    else:
        ccall(fns[SGEMM], i(_ROW_MAJOR), i(ta), i(tb), i(m), i(n), i(k), np.float32(1.0),
              a, i(lda), b, i(ldb), np.float32(0.0), c, i(ldc))


@numba.njit(nogil=True, cache=True)
def _epilogue(c, ldc, m, n, row, relu):
    """In place over the m rows of ``c`` (1-D, rows ``ldc`` apart): add ``row`` (n values, or
    none if empty), then max(., 0) (NaN kept) if ``relu``."""
    zero = c.dtype.type(0)
    for i in range(m):
        ci = c[i * ldc:i * ldc + n]
        if row.size and relu:
            for j in range(n):
                v = ci[j] + row[j]
                ci[j] = zero if v < zero else v
        elif row.size:
            for j in range(n):
                ci[j] += row[j]
        else:
            for j in range(n):
                v = ci[j]
                ci[j] = zero if v < zero else v


@numba.njit(nogil=True, cache=True)
def gemm_fused(fns, double, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, bias, relu):
    """:func:`gemm_raw`, then a Linear layer's bias and activation on c's rows: the row of n
    values at address ``bias`` (0 for none) added to each, then max(c, 0) if ``relu``.

    NOTE: each thread adds the bias to the rows it has just computed, in its cache. This beat
    copying the bias into c first and having the GEMM add the product to it (beta 1, as
    PyTorch's addmm): (64, 784) @ (784, 512) on one thread, with relu, 548 against 569 us, the
    product alone 548; (64, 512) @ (512, 256) 201 / 209 / 191."""
    gemm_raw(fns, double, ta, tb, m, n, k, a, lda, b, ldb, c, ldc)
    if m <= 0 or n <= 0 or (bias == 0 and not relu):
        return
    size = (m - 1) * ldc + n
    if double:
        row = numba.carray(pointer(bias, np.float64), n if bias != 0 else 0)
        _epilogue(numba.carray(pointer(c, np.float64), size), ldc, m, n, row, relu)
    else:
        row32 = numba.carray(pointer(bias, np.float32), n if bias != 0 else 0)
        _epilogue(numba.carray(pointer(c, np.float32), size), ldc, m, n, row32, relu)


CHAIN_FIELDS = 8  # per layer in chain_rows's table: tb, ldb, b, n, k, bias, relu, out


@numba.njit(nogil=True, cache=True)
def chain_rows(fns, double, layers, n_layers, x, ldx, lo, hi):
    """Rows lo..hi of a chain of Linear layers (each optionally rectified): row-major ``x``
    (an address, rows ``ldx`` apart) through each layer of ``layers`` (an int64 array of
    ``CHAIN_FIELDS`` values per layer: the weight as ``b`` of :func:`gemm_raw` with its
    transpose flag and leading dimension, out_features n, in_features k, the bias's address or
    0, relu 0/1, and the address of the layer's C-contiguous (rows, n) output), each layer
    reading the rows the one before wrote."""
    item = 8 if double else 4
    a, lda = x + lo * ldx * item, ldx
    for i in range(n_layers):
        f = layers[i * CHAIN_FIELDS:(i + 1) * CHAIN_FIELDS]
        n = f[3]
        c = f[7] + lo * n * item
        gemm_fused(fns, double, NO_TRANS, f[0], hi - lo, n, f[4], a, lda, f[2], f[1], c, n, f[5],
                   f[6] != 0)
        a, lda = c, n


# (CBLAS transpose flag, leading dimension) of a 2-D array, the flag 0 if not BLAS-strided:
# the Python function compiled as it is
operand = numba.njit(nogil=True, cache=True)(_mkl._operand)


@numba.njit(nogil=True, cache=True)
def blas_strided(a, b, out):
    """MKL can compute ``out = a @ b`` in place (as ``chainrule._mkl._blas_strided``)."""
    return operand(a)[0] != 0 and operand(b)[0] != 0 and operand(out)[0] == NO_TRANS


@numba.njit(nogil=True, cache=True)
def matmul(fns, a, b, out, bias=0, relu=False):
    """``out = a @ b`` by one MKL call for 2-D arrays of one float dtype, any BLAS-strided
    layout (see :func:`blas_strided`, which must hold: the recurrent loops' own arrays, or
    checked by the caller); with a ``bias`` row's address or ``relu``, as :func:`gemm_fused`.

    NOTE: a ctypes call with the arrays' addresses costs ~19 us on top of the product (argument
    conversion, ``__array_interface__`` 2.6 us an array); this call ~2 us."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    ta, lda = operand(a)
    tb, ldb = operand(b)
    ldc = operand(out)[1]
    gemm_fused(fns, a.itemsize == 8, ta, tb, m, n, k, a.ctypes.data, lda, b.ctypes.data, ldb,
               out.ctypes.data, ldc, bias, relu)


@numba.njit(nogil=True, cache=True)
def matmul_if_strided(fns, a, b, out, bias, relu):
    """:func:`matmul` when :func:`blas_strided` holds (True), else nothing (False): one
    dispatch from Python for both."""
    if not blas_strided(a, b, out):
        return False
    matmul(fns, a, b, out, bias, relu)
    return True


@numba.njit(nogil=True, cache=True)
def tanh(fns, x, out):
    """``out = tanh(x)`` by MKL's vector math (``out`` may be ``x``), for 2-D arrays with
    unit-stride rows: one call when both are contiguous, else one per row."""
    m, n = x.shape
    if m == 0 or n == 0:
        return
    fn = fns[STANH] if x.itemsize == 4 else fns[DTANH]
    if x.strides[0] == n * x.itemsize and out.strides[0] == n * out.itemsize:
        ccall(fn, np.int32(m * n), x.ctypes.data, out.ctypes.data)
        return
    for r in range(m):
        ccall(fn, np.int32(n), x[r].ctypes.data, out[r].ctypes.data)
