"""Unary primitives (exp, log, sqrt, abs, trigonometry, tanh, sigmoid, relu, clamp, rounding,
casts, clone) and their functional forms.

A rule never writes into the ``grad`` it receives (other rules may share it).
"""

from __future__ import annotations

import numpy as np

from chainrule import _jit, _two_cores
from chainrule._dtype import get_default_dtype
from chainrule.autograd.function import Function
from chainrule.ops import _threads
from chainrule.ops.elementwise import _kernels
from chainrule.ops.elementwise.binary import div, mul
from chainrule.ops.elementwise.compare import gt, lt
from chainrule.tensor import Tensor

# --- unary maths ---


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return np.negative(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.y


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        with np.errstate(divide="ignore"):
            return grad / ctx.x


class Log1p(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(x)

    @staticmethod
    def backward(ctx, grad):
        with np.errstate(divide="ignore"):
            return grad / (1 + ctx.x)


class Expm1(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.expm1(x)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, grad):
        return grad * (ctx.y + 1)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        with np.errstate(invalid="ignore"):
            y = np.sqrt(x)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, grad):
        # NOTE: the gradient at 0 is inf, as in PyTorch.
        with np.errstate(divide="ignore"):
            return grad / (2 * ctx.y)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        # NOTE: abs'(0) = 0 (the sign function's value).
        return grad * np.sign(ctx.x)


class Sin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * np.cos(ctx.x)


class Cos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return np.cos(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad * np.sin(ctx.x)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, grad):
        y = ctx.y
        return grad * (1 - y * y)


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow: exp is only ever taken of -|x|."""
    # NOTE: for x < 0 the form exp(x) / (1 + exp(x)) keeps tiny values instead of 1 - 1 = 0.
    e = np.exp(-np.abs(x))
    d = 1 + e
    return np.where(x >= 0, 1 / d, e / d).astype(x.dtype, copy=False)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        y = stable_sigmoid(x)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, grad):
        y = ctx.y
        return grad * (y * (1 - y))


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
                          lambda lo, hi, slot: fn(*(f[lo:hi] for f in flats)))
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
        np.maximum(a, 0, out=a)


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


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.x, ctx.lo, ctx.hi = x, lo, hi
        y = x
        if lo is not None:
            y = np.maximum(y, lo)
        if hi is not None:
            y = np.minimum(y, hi)
        return y  # clamp() passes at least one bound

    @staticmethod
    def backward(ctx, grad):
        # NOTE: the gradient passes where lo <= x <= hi, bounds included (PyTorch's convention).
        x, lo, hi = ctx.x, ctx.lo, ctx.hi
        mask = x >= lo if lo is not None else True
        if hi is not None:
            mask = mask & (x <= hi)
        return grad * mask, None, None


class Step(Function):
    """Piecewise-constant maps (sign, floor, ceil, round, trunc, floor division): zero gradient
    everywhere, also for the extra operands (``ufunc(x, *args)``)."""

    @staticmethod
    def forward(ctx, x, ufunc, *args):
        return ufunc(x, *args)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.zeros_like(grad) if n else None for n in ctx.needs_input_grad)


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.dtype), None


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


# --- public functions ---


def neg(input):
    return Neg.apply(input)


def _float(x: Tensor) -> Tensor:
    return x if x._data.dtype.kind == "f" else x.to(get_default_dtype())


def exp(input):
    """e to the power of each element."""
    return Exp.apply(_float(input))


def log(input):
    """Natural logarithm of each element (``-inf`` at 0, ``nan`` below)."""
    return Log.apply(_float(input))


def log1p(input):
    return Log1p.apply(_float(input))


def expm1(input):
    return Expm1.apply(_float(input))


def sqrt(input):
    return Sqrt.apply(_float(input))


def rsqrt(input):
    return div(1.0, sqrt(input))


def abs(input):  # noqa: A001
    return Abs.apply(input)


def sin(input):
    return Sin.apply(_float(input))


def cos(input):
    return Cos.apply(_float(input))


def tanh(input):
    """Hyperbolic tangent of each element."""
    return Tanh.apply(_float(input))


def sigmoid(input):
    """Logistic sigmoid, computed without overflow for large ``|x|``.

    >>> import chainrule
    >>> chainrule.sigmoid(chainrule.tensor([0.0]))
    tensor([0.5])
    """
    return Sigmoid.apply(_float(input))


def relu(input):
    """max(x, 0) of each element; the gradient at 0 is 0."""
    return Relu.apply(input)


def clamp(input, min=None, max=None):  # noqa: A002
    """Limit every element to ``[min, max]`` (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if any(isinstance(b, Tensor) and b.requires_grad for b in (min, max)):
        # NOTE: bounds that need a gradient: composed from where, so a bound gets the gradient
        # where it is the result and x keeps it on the bounds (PyTorch's convention).
        from chainrule.ops.shape import where

        y = input if min is None else where(lt(input, min), min, input)
        return y if max is None else where(gt(y, max), max, y)
    lo = min._data if isinstance(min, Tensor) else min
    hi = max._data if isinstance(max, Tensor) else max
    if isinstance(lo, float) or isinstance(hi, float):
        input = _float(input)
    return Clamp.apply(input, lo, hi)


def sign(input):
    return Step.apply(input, np.sign)


def floor(input):
    return Step.apply(input, np.floor)


def ceil(input):
    return Step.apply(input, np.ceil)


def round(input):  # noqa: A001
    return Step.apply(input, np.round)


def trunc(input):
    return Step.apply(input, np.trunc)


def clone(input):
    return Clone.apply(input)


def square(input):
    return mul(input, input)


def reciprocal(input):
    return div(1.0, input)
