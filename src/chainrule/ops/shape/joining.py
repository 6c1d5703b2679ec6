"""Joining primitives and their inverses: cat and stack, and split, chunk and unbind (slices
taken with the Index primitive)."""

from __future__ import annotations

import numpy as np

from chainrule._dtype import result_type
from chainrule.autograd.function import Function
from chainrule.ops.reduction import _axes
from chainrule.ops.shape.indexing import Index
from chainrule.tensor import as_tensor_like

# --- primitives ---


class Cat(Function):
    @staticmethod
    def forward(ctx, axis, *xs):
        ctx.axis = axis
        ctx.bounds = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return (None, *np.split(grad, ctx.bounds, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, axis, *xs):
        ctx.axis = axis
        return np.stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        a = ctx.axis
        return (None, *(np.take(grad, i, axis=a) for i in range(grad.shape[a])))


# --- public functions ---


def _same_dtype(tensors, op):
    ts = [as_tensor_like(t) for t in tensors]
    if not ts:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    dt = ts[0]._data.dtype
    for t in ts[1:]:  # PyTorch's promotion (int64 with float32 gives float32, not float64)
        dt = result_type(np.empty(0, dt), np.empty(0, t._data.dtype))
    return [t if t._data.dtype == dt else t.to(dt) for t in ts]


def cat(tensors, dim=0):
    """Join tensors along an existing dimension.

    >>> import chainrule
    >>> chainrule.cat([chainrule.zeros(2, 3), chainrule.ones(1, 3)]).shape
    (3, 3)
    """
    ts = _same_dtype(tensors, "cat")
    ts = [t for t in ts if not (t.ndim == 1 and t.shape[0] == 0)] or ts[:1]
    (axis,) = _axes(dim, ts[0].ndim, "cat")
    ref = ts[0].shape
    for t in ts:
        if t.ndim != len(ref) or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref))
                                    if i != axis):
            raise RuntimeError(
                f"cat: tensors must match in every dimension but {axis}; got shapes "
                f"{[x.shape for x in ts]}"
            )
    return Cat.apply(axis, *ts)


def stack(tensors, dim=0):
    """Join tensors of equal shape along a new dimension."""
    ts = _same_dtype(tensors, "stack")
    if any(t.shape != ts[0].shape for t in ts):
        raise RuntimeError(f"stack: all tensors must have the same shape, got "
                           f"{[t.shape for t in ts]}")
    nd = ts[0].ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(f"stack: dim {dim} out of range for a result with {nd} dims")
    return Stack.apply(dim % nd, *ts)


def split(input, split_size_or_sections, dim=0):
    """Pieces of ``split_size`` along ``dim`` (or of the given list of sizes)."""
    (axis,) = _axes(dim, input.ndim, "split")
    n = input.shape[axis]
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        sizes = [min(s, n - i) for i in range(0, n, s)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split: sizes {sizes} do not add up to {n} (dim {axis} of "
                               f"{input.shape})")
    out, start = [], 0
    for s in sizes:
        key = (slice(None),) * axis + (slice(start, start + s),)
        out.append(Index.apply(input, key))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    """Split into ``chunks`` pieces of near-equal size along ``dim``."""
    (axis,) = _axes(dim, input.ndim, "chunk")
    return split(input, max(1, -(-input.shape[axis] // chunks)), axis)


def unbind(input, dim=0):
    """The slices along ``dim``, as a tuple of tensors with that dimension removed."""
    (axis,) = _axes(dim, input.ndim, "unbind")
    return tuple(Index.apply(input, (slice(None),) * axis + (i,))
                 for i in range(input.shape[axis]))
