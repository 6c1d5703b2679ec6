"""Binary arithmetic primitives (add, sub, mul, div, pow, maximum, minimum), PyTorch's type
promotion of their operands, and their functional forms.

Rules may return gradients in the broadcast shape; the engine sums them back to each input's
shape. A rule never writes into the ``grad`` it receives (other rules may share it).
"""

from __future__ import annotations

import math

import numpy as np

from chainrule import _two_cores
from chainrule._dtype import get_default_dtype, result_type
from chainrule.autograd.function import Function
from chainrule.tensor import Tensor, as_tensor_like

# --- binary arithmetic ---


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return _two_cores.apply(np.add, a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return _two_cores.apply(np.subtract, a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return _two_cores.apply(np.multiply, a, b)

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
    from chainrule.ops.elementwise.unary import Step, trunc  # rounding lives with unary ops

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
