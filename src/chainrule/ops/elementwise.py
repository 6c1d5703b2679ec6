"""Elementwise primitives: arithmetic, comparisons, unary maths, activations' building blocks.

Rules may return gradients in the broadcast shape; the engine sums them back to each input's
shape. A rule never writes into the ``grad`` it receives (other rules may share it).
"""

from __future__ import annotations

import math

import numpy as np

from chainrule._dtype import get_default_dtype, result_type
from chainrule.autograd.function import Function
from chainrule.tensor import Tensor, as_tensor_like

# --- binary arithmetic ---


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return np.add(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, grad):
        na, nb = ctx.needs_input_grad
        return (grad * ctx.b if na else None), (grad * ctx.a if nb else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return np.true_divide(a, b)

    @staticmethod
    def backward(ctx, grad):
        na, nb = ctx.needs_input_grad
        ga = grad / ctx.b if na else None
        gb = -grad * ctx.a / (ctx.b * ctx.b) if nb else None
        return ga, gb


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        y = np.power(a, b)
        ctx.a, ctx.b, ctx.y = a, b, y
        return y

    @staticmethod
    def backward(ctx, grad):
        a, b, y = ctx.a, ctx.b, ctx.y
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if na:
            # NOTE: d(a**0)/da is 0 everywhere, also at a == 0 (PyTorch's convention).
            if isinstance(b, (int, float)):
                ga = np.zeros_like(grad) if b == 0 else grad * (b * np.power(a, b - 1))
            else:
                ga = grad * np.where(b == 0, 0.0, b * np.power(a, b - 1)).astype(
                    grad.dtype, copy=False)
        if nb:
            # NOTE: at a == 0 with b >= 0 the log term is taken as 0 (PyTorch's convention).
            with np.errstate(divide="ignore", invalid="ignore"):
                # NOTE: a Python-scalar base keeps a Python-float log, so float32 stays float32.
                t = y * (_scalar_log(a) if isinstance(a, (int, float)) else np.log(a))
            gb = grad * np.where((a == 0) & (b >= 0), 0.0, t).astype(grad.dtype, copy=False)
        return ga, gb


def _scalar_log(a: float) -> float:
    return math.log(a) if a > 0 else (-math.inf if a == 0 else math.nan)


def _tie_weights(win: np.ndarray, tie: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """1 where the first input wins, 0.5 on ties, 0 elsewhere, in the gradient's dtype."""
    w = np.array(win, dtype=dtype)
    w[tie] = 0.5
    return w


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        # NOTE: on ties each input gets half the gradient (PyTorch's convention).
        a, b = ctx.a, ctx.b
        w = _tie_weights(a > b, a == b, grad.dtype)
        return grad * w, grad * (1 - w)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        # NOTE: on ties each input gets half the gradient (PyTorch's convention).
        a, b = ctx.a, ctx.b
        w = _tie_weights(a < b, a == b, grad.dtype)
        return grad * w, grad * (1 - w)


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


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.maximum(x, 0)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, grad):
        # NOTE: relu'(0) = 0.
        return grad * (ctx.y > 0)


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.x, ctx.lo, ctx.hi = x, lo, hi
        y = x
        if lo is not None:
            y = np.maximum(y, lo)
        if hi is not None:
            y = np.minimum(y, hi)
        return y if y is not x else x.copy()

    @staticmethod
    def backward(ctx, grad):
        # NOTE: the gradient passes where lo <= x <= hi, bounds included (PyTorch's convention).
        x, lo, hi = ctx.x, ctx.lo, ctx.hi
        mask = np.ones(x.shape, bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
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


_PY_NUMBERS = (float, int, bool)


def _prepare(a, b):
    """Operands for a binary op, cast as PyTorch's type promotion says."""
    # NOTE: fast paths for the common cases that need no cast: two tensors of one dtype (NumPy's
    # built-in dtypes are singletons, so `is` finds them) and a float tensor with a Python number.
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a._data.dtype is b._data.dtype:
                return a, b
        elif type(b) in _PY_NUMBERS and a._data.dtype.kind == "f":
            return a, b
    elif isinstance(b, Tensor) and type(a) in _PY_NUMBERS and b._data.dtype.kind == "f":
        return a, b
    a, b = as_tensor_like(a), as_tensor_like(b)
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a._data.dtype != b._data.dtype:
                dt = result_type(a._data, b._data)
                if a._data.dtype != dt:
                    a = a.to(dt)
                if b._data.dtype != dt:
                    b = b.to(dt)
            return a, b
        dt = result_type(a._data, b)
        return (a if dt == a._data.dtype else a.to(dt)), b
    dt = result_type(b._data, a)
    return a, (b if dt == b._data.dtype else b.to(dt))


def _apply2(op: type[Function], name: str, a, b):
    """``op.apply(a, b)``, with an error naming the op and shapes when they do not broadcast."""
    try:
        return op.apply(a, b)
    except ValueError:
        _check_broadcast(name, a, b)
        raise


def _check_broadcast(name: str, a, b) -> None:
    sa, sb = np.shape(_arr(a)), np.shape(_arr(b))
    try:
        np.broadcast_shapes(sa, sb)
    except ValueError:
        raise RuntimeError(
            f"{name}: shapes {sa} and {sb} do not broadcast (aligned from the right, each pair "
            "of sizes must be equal or contain a 1)"
        ) from None


def add(input, other, *, alpha=1):
    """``input + alpha * other`` with broadcasting.

    >>> import chainrule
    >>> chainrule.add(chainrule.tensor([1.0, 2.0]), 1)
    tensor([2., 3.])
    """
    if alpha != 1:
        other = mul(other, alpha)
    return _apply2(Add, "add", *_prepare(input, other))


def sub(input, other, *, alpha=1):
    """``input - alpha * other`` with broadcasting."""
    if alpha != 1:
        other = mul(other, alpha)
    return _apply2(Sub, "sub", *_prepare(input, other))


def mul(input, other):
    """Elementwise product with broadcasting."""
    return _apply2(Mul, "mul", *_prepare(input, other))


def div(input, other, *, rounding_mode=None):
    """True division (integers give floats), or ``rounding_mode`` 'floor' / 'trunc'.

    >>> import chainrule
    >>> chainrule.div(chainrule.tensor([3, 4]), 2)
    tensor([1.5, 2. ])
    """
    if rounding_mode not in (None, "floor", "trunc"):
        raise ValueError(
            f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")
    a, b = _prepare(input, other)
    t = a if isinstance(a, Tensor) else b
    if t._data.dtype.kind in "biu":
        if rounding_mode is None:
            dt = get_default_dtype()
            a = a.to(dt) if isinstance(a, Tensor) else a
            b = b.to(dt) if isinstance(b, Tensor) else b
        else:
            x, y = _arr(a), _arr(b)
            q = np.floor_divide(x, y) if rounding_mode == "floor" else np.trunc(x / y)
            return Tensor._wrap(np.asarray(q).astype(t._data.dtype))
    if rounding_mode == "floor":
        # NOTE: np.floor_divide rounds like PyTorch (via fmod): 1.5 // 0.3 is 4 in float32, where
        # floor(1.5 / 0.3) would give 5 because the quotient rounds up to 5.0.
        _check_broadcast("div", a, b)
        return Step.apply(a, np.floor_divide, b)
    q = _apply2(Div, "div", a, b)
    if rounding_mode == "trunc":
        return trunc(q)
    return q


def _arr(x):
    return x._data if isinstance(x, Tensor) else x


def pow(input, exponent):  # noqa: A001 (PyTorch's name)
    """``input ** exponent`` elementwise (either may be a scalar)."""
    a, b = _prepare(input, exponent)
    if isinstance(a, Tensor) and a._data.dtype.kind in "iu" and isinstance(b, int) and b < 0:
        raise ValueError(f"pow: integers to negative integer powers are not allowed (got {b})")
    return _apply2(Pow, "pow", a, b)


def maximum(input, other):
    """Elementwise maximum of two tensors (ties split the gradient)."""
    return _apply2(Maximum, "maximum", *_prepare(input, other))


def minimum(input, other):
    """Elementwise minimum of two tensors (ties split the gradient)."""
    return _apply2(Minimum, "minimum", *_prepare(input, other))


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


# --- comparisons (no gradient) ---


def _compare(ufunc, a, b) -> Tensor:
    a, b = _prepare(a, b)
    try:
        return Tensor._wrap(ufunc(_arr(a), _arr(b)))
    except ValueError:
        _check_broadcast(ufunc.__name__, a, b)
        raise


def eq(input, other):
    return _compare(np.equal, input, other)


def ne(input, other):
    return _compare(np.not_equal, input, other)


def lt(input, other):
    return _compare(np.less, input, other)


def le(input, other):
    return _compare(np.less_equal, input, other)


def gt(input, other):
    return _compare(np.greater, input, other)


def ge(input, other):
    return _compare(np.greater_equal, input, other)


def isnan(input):
    return Tensor._wrap(np.isnan(input._data))


def isinf(input):
    return Tensor._wrap(np.isinf(input._data))


def isfinite(input):
    return Tensor._wrap(np.isfinite(input._data))


def logical_not(input):
    return Tensor._wrap(np.logical_not(input._data))


def logical_and(input, other):
    return _compare(np.logical_and, input, other)


def logical_or(input, other):
    return _compare(np.logical_or, input, other)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """Whether two tensors are equal within ``atol + rtol * |other|``."""
    return bool(np.allclose(_arr(input), _arr(other), rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other) -> bool:
    """Whether two tensors have the same shape and elements."""
    return input.shape == other.shape and bool(np.array_equal(input._data, other._data))
