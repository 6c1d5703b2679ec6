"""Big elementwise ops split between this thread and the GEMM partner thread
(:mod:`chainrule._partner`) while that is awake, so both cores share them.

NOTE: in a step, an activation or a gradient is written by a product whose rows were cut in
two halves, one per core (``_mkl._split``); an elementwise op on the calling thread alone then
fetches the partner's half from the other core, and writes its output (often fresh memory) from
one core. PyTorch runs such ops on its threads, each on the rows its GEMM part wrote. Here the
partner takes the second half of the values (the rows its product half wrote) in compiled code
while this thread does the first; it costs ~5 us to hand over while the partner spins after a
product, against ~60 us to wake a sleeping thread, so nothing is handed to a sleeping partner.
Measured in the raw-op 784-512-256-10 MLP step: the update's ``0.01 * p.grad`` on (784, 512)
277 -> 181 us; in A/B runs against PyTorch (24 rounds each, one process), the raw-op MLP step
1.23x -> 1.14x, the nn MLP's inference 1.13x -> 1.09x and its step 1.05x -> 1.03x. A bias row
added to (128, 512) right after a product: 34 us shared, 42 us in NumPy, 30 us in PyTorch (a
Linear layer's bias is added by its GEMM instead, see ``_mkl.addmm``).

Only what a step's hot ops need: ``+``, ``-``, ``*`` of same-shape arrays, of an array and a row
(a bias) or a Python scalar; relu and its gradient. All other cases return None, and the
caller runs NumPy, which is also the reference these must equal exactly (same operations in the
same precision, so the same bits).
"""

from __future__ import annotations

import os
import sys

import numpy as np

# op and operand codes shared with the compiled loops (chainrule._partner._elementwise)
ADD, SUB, MUL, RELU, RELU_GRAD = range(5)
SAME, ROW, SCALAR = range(3)
_UFUNCS = {np.add: ADD, np.subtract: SUB, np.multiply: MUL}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_MIN_SIZE = 1 << 15  # values; below, handing over costs more than half the op


def _partner():
    """The partner thread if it exists in this process and is awake (spinning), else None."""
    module = sys.modules.get("chainrule._partner")  # loaded by a big product (_mkl)
    if module is None:
        return None
    partner = module._partner
    if partner is None or partner.ctl[module._ASLEEP] or partner.pid != os.getpid():
        return None
    return partner


def _dense(x: object) -> bool:
    return (isinstance(x, np.ndarray) and x.size >= _MIN_SIZE and x.dtype in _FLOATS
            and x.flags.c_contiguous)


def _run(op: int, mode: int, x: np.ndarray, y: np.ndarray, out: np.ndarray | None,
         s: float) -> np.ndarray | None:
    partner = _partner()
    if partner is None or not partner.lock.acquire(blocking=False):
        return None
    try:
        if out is None:
            out = np.empty_like(x)
        # NOTE: cut where the product's halves were cut (_mkl._split): at half the rows
        width = x.shape[-1] if x.ndim > 1 else 1
        mid = -(-(x.size // width) // 2) * width
        partner.elementwise(op, mode, x.reshape(-1), y.reshape(-1), out.reshape(-1), s, mid)
    finally:
        partner.lock.release()
    return out


def _overlap(out: np.ndarray, a: object) -> bool:
    """``a`` is an array that shares memory with ``out`` without being it."""
    return isinstance(a, np.ndarray) and a is not out and np.may_share_memory(out, a)


def binary(ufunc: object, a: object, b: object, out: np.ndarray | None = None
           ) -> np.ndarray | None:
    """``ufunc(a, b, out=out)`` for ``np.add``, ``np.subtract``, ``np.multiply`` with the
    partner's help, or None, having done nothing, when that does not apply."""
    op = _UFUNCS.get(ufunc)  # type: ignore[call-overload]
    if op is None:
        return None
    x, y = a, b
    if not _dense(x):  # the array may be second: x + y = y + x, x * y = y * x
        if op == SUB:
            return None
        x, y = b, a
        if not _dense(x):
            return None
    assert isinstance(x, np.ndarray)
    if out is not None and (out.shape != x.shape or out.dtype != x.dtype
                            or not out.flags.c_contiguous or _overlap(out, x) or _overlap(out, y)):
        return None  # (NumPy buffers overlapping operands; the two halves here would race)
    if type(y) in (float, int) and abs(y) < 2.0**53:  # type: ignore[arg-type]
        return _run(op, SCALAR, x, x[:0], out, float(y))  # type: ignore[arg-type]
    if not (isinstance(y, np.ndarray) and y.dtype == x.dtype and y.flags.c_contiguous):
        return None
    if y.shape == x.shape:
        return _run(op, SAME, x, y, out, 0.0)
    if y.ndim == 1 and x.ndim > 1 and y.shape[0] == x.shape[-1] and (x is a or op != SUB):
        return _run(op, ROW, x, y, out, 0.0)
    return None


def apply(ufunc: np.ufunc, a: object, b: object, out: np.ndarray | None = None) -> np.ndarray:
    """``ufunc(a, b, out=out)``: with the partner's help where :func:`binary` applies, else
    NumPy's."""
    y = binary(ufunc, a, b, out)
    return ufunc(a, b, out=out) if y is None else y


def relu(x: np.ndarray) -> np.ndarray | None:
    """``max(x, 0)`` (NaN kept) with the partner's help, or None."""
    return _run(RELU, SAME, x, x[:0], None, 0.0) if _dense(x) else None


def relu_grad(grad: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """0 where ``y <= 0``, else ``grad`` (so ``grad`` where y is NaN, as PyTorch), with the
    partner's help, or None."""
    if _dense(grad) and isinstance(y, np.ndarray) and y.dtype == grad.dtype \
            and y.shape == grad.shape and y.flags.c_contiguous:
        return _run(RELU_GRAD, SAME, grad, y, None, 0.0)
    return None
