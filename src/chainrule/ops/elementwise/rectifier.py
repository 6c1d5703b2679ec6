"""relu, the rectifier: the primitive, its functional form and the array routines that fused
ops share (``relu_array``, ``relu_in_place``, ``relu_grad_array``: Linear + ReLU, Conv + ReLU).

A rule never writes into the ``grad`` it receives (other rules may share it).
"""

from __future__ import annotations

import numpy as np

from chainrule import _jit, _two_cores
from chainrule.autograd.function import Function
from chainrule.ops import _threads
from chainrule.ops.elementwise import _kernels

# NOTE: relu runs over large activations (a CNN's every layer): a big array is cut into chunks
# of about _threads._CHUNK_BYTES dealt to a few threads (NumPy's ufuncs release the GIL), each
# chunk's mask small enough to stay in cache. Small arrays skip all of it (one ufunc call).
# With the compiled kernels (chainrule._jit) each chunk is one pass instead of NumPy's two
# (compare, then multiply by a cast bool mask), and NumPy's float32 maximum with a scalar is
# not vectorised: measured on 301,056 float32 values (LeNet's first activation), forward 224 ->
# 100 us and backward 210 -> 145 us per thread; on 30,000 values 17.7 -> 3.8 us and 16.2 ->
# 4.7 us.


def _flat(*arrays: np.ndarray) -> list[np.ndarray] | None:
    """1-D views of arrays laid out alike without gaps (in memory order), else None (a view of
    a slice, a broadcast gradient)."""
    out = arrays[-1]
    if any(b.strides != out.strides for b in arrays):
        return None
    flats = [b.ravel(order="K") for b in arrays]
    if not all(np.may_share_memory(f, b) for f, b in zip(flats, arrays)):
        return None
    return flats


def _threaded(fn, *inputs: np.ndarray, small: bool = False) -> np.ndarray | None:
    """``fn(*input_pieces, out_piece)`` chunk by chunk on threads, into a new array laid out like
    the inputs; None (nothing run) when they are not laid out alike without gaps or, unless
    ``small``, when they are too small for threads."""
    a = inputs[0]
    parallel = (_threads._THREADS > 1
                and a.nbytes * (len(inputs) + 1) >= _threads._PARALLEL_BYTES)
    if not (parallel or small):
        return None
    out = np.empty_like(a)  # a's memory layout
    flats = _flat(*inputs, out)
    if flats is None:
        return None
    if parallel:
        _threads._chunked(a.size, len(flats) * a.itemsize,
                          lambda lo, hi, slot: fn(*(f[lo:hi] for f in flats)), claim=True)
    else:
        fn(*flats)
    return out


# NOTE: below this many values relu and its gradient stay in NumPy: the compiled kernel runs
# 5x faster per value than NaN-aware np.maximum, but calling it costs ~4 us more
# ((128, 10): 8.5 us against PyTorch's 3.4 us through the kernel).
_RELU_NUMPY_BELOW = 4096


def _relu_grad(grad: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0 where ``y <= 0``, else ``grad``: PyTorch's threshold_backward, which passes the
    gradient where y is NaN and gives 0, not NaN, for an infinite gradient where y <= 0."""
    return np.where(y <= 0, 0, grad)


def _relu_numpy(x: np.ndarray, out: np.ndarray) -> None:
    np.maximum(x, 0, out=out)


def _relu_grad_numpy(grad: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    out[...] = _relu_grad(grad, y)


def _relu_fast(kernel, compiled: bool, shared, *inputs: np.ndarray) -> np.ndarray | None:
    """``kernel`` (the compiled one if ``compiled``, else NumPy's) over ``inputs``: on our
    threads when they are big, else ``shared`` with the awake GEMM partner, else the compiled
    kernel on this thread; None when none of these applies."""
    y = _threaded(kernel, *inputs)
    if y is None:
        y = shared(*inputs)
    if y is None and compiled:
        y = _threaded(kernel, *inputs, small=True)
    return y


def relu_array(x: np.ndarray) -> np.ndarray:
    """max(x, 0) as a new array (NaN kept).

    NOTE: big arrays on our threads (_threaded), smaller ones shared with the GEMM partner
    thread when it is awake (chainrule._two_cores), else on this thread; tiny ones in NumPy."""
    y = None
    if x.size >= _RELU_NUMPY_BELOW:
        compiled = _jit.enabled(x.dtype)
        y = _relu_fast(_kernels.relu_forward if compiled else _relu_numpy, compiled,
                       _two_cores.relu, x)
    return np.maximum(x, 0) if y is None else y


def relu_in_place(a: np.ndarray) -> None:
    """max(a, 0) into ``a`` (C-contiguous; NaN kept) on this thread: the compiled kernel when
    it is there (5x faster per value than NaN-aware ``np.maximum``), else NumPy. For a chunk
    that a fused op (conv + relu) rectifies while it is in cache."""
    if _jit.enabled(a.dtype) and a.size >= _RELU_NUMPY_BELOW:
        flat = a.reshape(-1)
        _kernels.relu_forward(flat, flat)
    else:
        _relu_numpy(a, a)


def relu_grad_array(grad: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The gradient through relu's output ``y``: 0 where y <= 0 (relu'(0) = 0), else ``grad``
    (see ``_relu_grad``), computed where :func:`relu_array` would be."""
    gx = None
    if y.size >= _RELU_NUMPY_BELOW:
        compiled = _jit.enabled(y.dtype) and grad.dtype == y.dtype
        gx = _relu_fast(_kernels.relu_backward if compiled else _relu_grad_numpy, compiled,
                        _two_cores.relu_grad, grad, y)
    return _relu_grad(grad, y) if gx is None else gx


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.y = y = relu_array(x)
        return y

    @staticmethod
    def backward(ctx, grad):
        return relu_grad_array(grad, ctx.y)


def relu(input):
    """max(x, 0) of each element; the gradient at 0 is 0."""
    return Relu.apply(input)
