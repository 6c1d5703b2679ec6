"""Unary primitives (exp, log, sqrt, abs, trigonometry, tanh, sigmoid, clamp, rounding, casts,
clone) and their functional forms (relu has a file of its own, ``rectifier.py``).

A rule never writes into the ``grad`` it receives (other rules may share it).
"""

from __future__ import annotations

import numpy as np

from chainrule._dtype import get_default_dtype
from chainrule.autograd.function import Function
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
