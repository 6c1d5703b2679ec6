"""Reductions over dimensions, and the softmax family (fused for numerical stability)."""

from __future__ import annotations

import builtins
import math
from typing import NamedTuple

import numpy as np

from chainrule._dtype import get_default_dtype
from chainrule.autograd.function import Function
from chainrule.ops._short_rows import reduce_keepdims
from chainrule.tensor import Tensor


def _axes(dim, ndim: int, op: str):
    """Normalise ``dim`` (None, int or sequence; negatives allowed) to a tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if not dims:
        return tuple(range(ndim))
    n = builtins.max(ndim, 1)
    out = []
    for d in dims:
        if not -n <= d < n:
            raise IndexError(
                f"{op}: dimension {d} is out of range for a tensor with {ndim} dimensions "
                f"(expected in [{-n}, {n - 1}])"
            )
        out.append(d % n if ndim else 0)
    return tuple(out) if ndim else ()


def _keep(grad: np.ndarray, axes: tuple, keepdim: bool) -> np.ndarray:
    """Put back the reduced axes (as size 1) so ``grad`` broadcasts against the input."""
    if keepdim or not axes:
        return grad
    shape = list(grad.shape)
    for a in sorted(axes):  # the axes are normalised, as _axes returns them
        shape.insert(a, 1)
    return grad.reshape(shape)


def _spread(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """``grad`` (with the reduced axes kept) copied over the input's ``shape``."""
    # NOTE: a new array, not np.broadcast_to's read-only view: broadcast_to's Python overhead
    # costs more than filling a small array, and a leaf's .grad would need a writable copy anyway.
    out = np.empty(shape, grad.dtype)
    out[...] = grad
    return out


# --- sums and means ---


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return np.add.reduce(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        return _spread(_keep(grad, ctx.axes, ctx.keepdim), ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        ctx.n = n = math.prod(x.shape[a] for a in axes)
        # NOTE: the sum divided by the count in the input's precision, as np.mean computes it,
        # without np.mean's Python layers (the mean of (128, 1) in the raw-op MLP step: 66 ->
        # 37 us). The mean of nothing is 0 / NaN: NaN, as PyTorch's, without 0 / 0's warning.
        total = np.add.reduce(x, axis=axes, keepdims=keepdim)
        return np.true_divide(total, n or math.nan, dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        g = _keep(grad, ctx.axes, ctx.keepdim) * (1.0 / builtins.max(ctx.n, 1))
        return _spread(g, ctx.shape), None, None


class Var(Function):
    @staticmethod
    def forward(ctx, x, axes, correction, keepdim):
        n = math.prod(x.shape[a] for a in axes)
        mu = np.mean(x, axis=axes, keepdims=True)
        xc = x - mu
        ctx.xc, ctx.axes, ctx.keepdim = xc, axes, keepdim
        ctx.denom = n - correction
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(xc * xc, axis=axes, keepdims=keepdim) / np.asarray(
                ctx.denom, x.dtype)

    @staticmethod
    def backward(ctx, grad):
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = 2.0 / ctx.denom if ctx.denom > 0 else math.inf
        return _keep(grad, ctx.axes, ctx.keepdim) * (scale * ctx.xc), None, None, None


class Prod(Function):
    @staticmethod
    def forward(ctx, x, axis, keepdim):
        y = np.prod(x, axis=axis, keepdims=keepdim)
        ctx.x, ctx.axis, ctx.keepdim = x, axis, keepdim
        return y

    @staticmethod
    def backward(ctx, grad):
        # NOTE: the product of all the *other* elements, computed with exclusive cumulative
        # products so that zeros in the input are handled exactly (no division by x).
        x, axis = ctx.x, ctx.axis
        g = grad if ctx.keepdim or axis is None else np.expand_dims(grad, axis)
        xs, a = (x.reshape(-1), 0) if axis is None else (x, axis)  # all elements: one axis
        ones = np.ones_like(np.take(xs, [0], axis=a))
        left = np.concatenate([ones, np.cumprod(xs, axis=a)], axis=a)
        left = np.take(left, range(xs.shape[a]), axis=a)
        rev = np.flip(xs, axis=a)
        right = np.concatenate([ones, np.cumprod(rev, axis=a)], axis=a)
        right = np.flip(np.take(right, range(xs.shape[a]), axis=a), axis=a)
        return g * (left * right).reshape(x.shape), None, None


# --- max and min ---


class AMax(Function):
    """Max over axes; the gradient is shared equally among tied maxima (PyTorch's amax)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, largest):
        y = np.max(x, axis=axes, keepdims=True) if largest else np.min(x, axis=axes, keepdims=True)
        ctx.mask, ctx.axes, ctx.keepdim = x == y, axes, keepdim
        return y if keepdim else np.squeeze(y, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        mask = ctx.mask
        count = np.sum(mask, axis=ctx.axes, keepdims=True)
        g = _keep(grad, ctx.axes, ctx.keepdim) / count.astype(grad.dtype)
        return g * mask, None, None, None


class MaxDim(Function):
    """Max along one dim with indices; the gradient goes to the chosen index only."""

    @staticmethod
    def forward(ctx, x, axis, keepdim, largest):
        idx = np.argmax(x, axis=axis, keepdims=True) if largest else np.argmin(
            x, axis=axis, keepdims=True)
        vals = np.take_along_axis(x, idx, axis=axis)
        ctx.idx, ctx.axis, ctx.shape = idx, axis, x.shape
        if not keepdim:
            vals, idx = np.squeeze(vals, axis), np.squeeze(idx, axis)
        ctx.keepdim = keepdim
        return vals, idx.astype(np.int64)

    @staticmethod
    def backward(ctx, grad, _grad_idx):
        g = np.zeros(ctx.shape, grad.dtype)
        src = grad if ctx.keepdim else np.expand_dims(grad, ctx.axis)
        np.put_along_axis(g, ctx.idx, src, axis=ctx.axis)
        return g, None, None, None


class ValuesIndices(NamedTuple):
    values: Tensor
    indices: Tensor


def _minmax(input, dim, keepdim, largest, name):
    if input._data.size == 0:
        raise RuntimeError(
            f"{name}: cannot reduce a tensor of shape {input.shape} with no elements")
    if dim is None:
        return AMax.apply(input, None, False, largest)
    if isinstance(dim, Tensor):  # torch.max(a, b): the elementwise form
        from chainrule.ops.elementwise import maximum, minimum

        return maximum(input, dim) if largest else minimum(input, dim)
    (axis,) = _axes(dim, input.ndim, name) or (0,)
    if input.ndim == 0:
        return ValuesIndices(input.clone(), Tensor._wrap(np.asarray(0, np.int64)))
    return ValuesIndices(*MaxDim.apply(input, axis, keepdim, largest))


def max(input, dim=None, keepdim=False):  # noqa: A001
    """The largest element, or ``(values, indices)`` along ``dim``.

    >>> import chainrule
    >>> chainrule.max(chainrule.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1).values
    tensor([5., 7.])
    """
    return _minmax(input, dim, keepdim, True, "max")


def min(input, dim=None, keepdim=False):  # noqa: A001
    """The smallest element, or ``(values, indices)`` along ``dim``."""
    return _minmax(input, dim, keepdim, False, "min")


def amax(input, dim=(), keepdim=False):
    return AMax.apply(input, _axes(dim, input.ndim, "amax"), keepdim, True)


def amin(input, dim=(), keepdim=False):
    return AMax.apply(input, _axes(dim, input.ndim, "amin"), keepdim, False)


def argmax(input, dim=None, keepdim=False):
    """Index of the largest element (of the flattened tensor when ``dim`` is None)."""
    if dim is None:
        return Tensor._wrap(np.asarray(np.argmax(input._data), np.int64))
    (axis,) = _axes(dim, input.ndim, "argmax")
    return Tensor._wrap(np.argmax(input._data, axis=axis, keepdims=keepdim).astype(np.int64))


def argmin(input, dim=None, keepdim=False):
    """Index of the smallest element (of the flattened tensor when ``dim`` is None)."""
    if dim is None:
        return Tensor._wrap(np.asarray(np.argmin(input._data), np.int64))
    (axis,) = _axes(dim, input.ndim, "argmin")
    return Tensor._wrap(np.argmin(input._data, axis=axis, keepdims=keepdim).astype(np.int64))


# --- public sums ---


def sum(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A001
    """Sum of all elements, or over ``dim`` (an int or a tuple of ints).

    >>> import chainrule
    >>> chainrule.sum(chainrule.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=0)
    tensor([4., 6.])
    """
    if dtype is not None:
        input = input.to(dtype)
    elif input._data.dtype.kind in "biu":
        input = input.to(np.int64)
    return Sum.apply(input, _axes(dim, input.ndim, "sum"), keepdim)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    """Mean of all elements, or over ``dim``."""
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind != "f":
        raise RuntimeError(
            f"mean: could not infer output dtype; input dtype must be floating point, got "
            f"{input.dtype} (use .float() first)"
        )
    return Mean.apply(input, _axes(dim, input.ndim, "mean"), keepdim)


def _correction(unbiased, correction) -> float:
    if correction is not None:
        return correction
    return 1 if unbiased in (None, True) else 0


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance, unbiased (divides by n - 1) unless ``unbiased=False`` or ``correction=0``."""
    if isinstance(dim, bool):  # var(unbiased) positional form
        dim, unbiased = None, dim
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"var: input dtype must be floating point, got {input.dtype}")
    axes = _axes(dim, input.ndim, "var")
    return Var.apply(input, axes, _correction(unbiased, correction), keepdim)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation: the square root of :func:`var`."""
    from chainrule.ops.elementwise import sqrt

    return sqrt(var(input, dim, unbiased, keepdim, correction=correction))


def prod(input, dim=None, keepdim=False):
    """Product of all elements, or along one ``dim``."""
    axes = () if dim is None else _axes(dim, input.ndim, "prod")  # () for a 0-d input
    axis = axes[0] if axes else None
    return Prod.apply(input, axis, keepdim)


# --- softmax family ---


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        # NOTE: subtracting the max keeps exp from overflowing; the result is unchanged.
        e = np.exp(x - reduce_keepdims(np.maximum, x, axis))
        e /= reduce_keepdims(np.add, e, axis)
        ctx.y, ctx.axis = e, axis
        return e

    @staticmethod
    def backward(ctx, grad):
        y = ctx.y
        gy = grad * y
        return gy - y * reduce_keepdims(np.add, gy, ctx.axis), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        # NOTE: x - max - log(sum(exp(x - max))) is finite for any finite x. (The ufuncs' own
        # reduce, not np.max/np.sum: the same computation without their Python layers; see
        # _short_rows for rows of a few values.)
        z = x - reduce_keepdims(np.maximum, x, axis)
        z -= np.log(reduce_keepdims(np.add, np.exp(z), axis))
        ctx.y, ctx.axis = z, axis
        return z

    @staticmethod
    def backward(ctx, grad):
        return grad - np.exp(ctx.y) * reduce_keepdims(np.add, grad, ctx.axis), None


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        m = np.max(x, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
        with np.errstate(divide="ignore"):
            y = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        ctx.x, ctx.y, ctx.axes, ctx.keepdim = x, y, axes, keepdim
        return y if keepdim else np.squeeze(y, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        return _keep(grad, ctx.axes, ctx.keepdim) * np.exp(ctx.x - ctx.y), None, None


def _softmax_input(input, dim, dtype, name):
    if dtype is not None:
        input = input.to(dtype)
    elif input._data.dtype.kind != "f":
        input = input.to(get_default_dtype())
    if dim is None:
        raise TypeError(f"{name}: pass dim= (the dimension that sums to one)")
    (axis,) = _axes(dim, input.ndim, name) or (0,)
    return input, axis


def softmax(input, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``, computed stably.

    >>> import chainrule
    >>> chainrule.softmax(chainrule.tensor([0.0, 0.0]), dim=0)
    tensor([0.5, 0.5])
    """
    input, axis = _softmax_input(input, dim, dtype, "softmax")
    if input.ndim == 0:
        return input / input
    return Softmax.apply(input, axis)


def log_softmax(input, dim=None, dtype=None):
    """log(softmax(x)) along ``dim``, without forming softmax (finite for any finite input)."""
    input, axis = _softmax_input(input, dim, dtype, "log_softmax")
    if input.ndim == 0:
        return input - input
    return LogSoftmax.apply(input, axis)


def logsumexp(input, dim=None, keepdim=False):
    """log(sum(exp(x))) over ``dim``, computed stably."""
    if input._data.dtype.kind != "f":
        input = input.to(get_default_dtype())
    return LogSumExp.apply(input, _axes(dim, input.ndim, "logsumexp"), keepdim)


class CumSum(Function):
    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return np.cumsum(x, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        a = ctx.axis
        return np.flip(np.cumsum(np.flip(grad, a), axis=a), a), None


def cumsum(input, dim, *, dtype=None):
    """Running sum along ``dim``."""
    if dtype is not None:
        input = input.to(dtype)
    (axis,) = _axes(dim, input.ndim, "cumsum") or (0,)
    if input.ndim == 0:
        return input.clone()
    return CumSum.apply(input, axis)


def norm(input, p=2, dim=None, keepdim=False):
    """The p-norm (default 2) of all elements or over ``dim``, composed from primitives."""
    from chainrule.ops.elementwise import abs as _abs
    from chainrule.ops.elementwise import pow as _pow
    from chainrule.ops.elementwise import sqrt

    if p in ("fro", 2):
        return sqrt(sum(input * input, dim, keepdim))
    if p == 1:
        return sum(_abs(input), dim, keepdim)
    if p == math.inf:
        return amax(_abs(input), dim if dim is not None else (), keepdim)
    return _pow(sum(_pow(_abs(input), p), dim, keepdim), 1.0 / p)
