"""Movement primitives: the same elements in a new layout. Reshape (and flatten, squeeze,
unsqueeze), permute (and transpose), expand and repeat, flip, and constant padding."""

from __future__ import annotations

import math

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops.reduction import _axes

# --- primitives ---


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return np.reshape(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return np.reshape(grad, ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx, grad):
        return np.transpose(grad, np.argsort(ctx.axes)), None


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad, None  # the engine sums the broadcast axes back


class Repeat(Function):
    @staticmethod
    def forward(ctx, x, reps):
        x = x.reshape((1,) * (len(reps) - x.ndim) + x.shape)
        ctx.shape = x.shape
        ctx.reps = reps
        return np.tile(x, reps)

    @staticmethod
    def backward(ctx, grad):
        split = []
        for r, s in zip(ctx.reps, ctx.shape):
            split += [r, s]
        g = grad.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return g, None


class Flip(Function):
    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return np.flip(x, axes).copy()

    @staticmethod
    def backward(ctx, grad):
        return np.flip(grad, ctx.axes), None


class Pad(Function):
    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.sl = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))
        return np.pad(x, widths, constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.sl], None, None


# --- public functions ---


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def reshape(input, *shape):
    """The same elements in a new shape (one dimension may be -1).

    >>> import chainrule
    >>> chainrule.arange(6).reshape(2, 3).shape
    (2, 3)
    """
    shape = _shape_arg(shape)
    n = input._data.size
    known = math.prod(s for s in shape if s != -1)
    if shape.count(-1) > 1 or (-1 not in shape and known != n) or (
            -1 in shape and (known == 0 or n % known)):
        raise RuntimeError(
            f"reshape: shape {shape} is invalid for a tensor of shape {input.shape} "
            f"({n} elements)"
        )
    return Reshape.apply(input, shape)


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dimensions ``start_dim..end_dim`` into one."""
    nd = input.ndim
    if nd == 0:
        return reshape(input, 1)
    s, e = _axes((start_dim, end_dim), nd, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shp = input.shape
    return reshape(input, shp[:s] + (math.prod(shp[s:e + 1]),) + shp[e + 1:])


def squeeze(input, dim=None):
    """Remove dimensions of size 1 (all of them, or just ``dim`` if it has size 1)."""
    shp = input.shape
    if dim is None:
        new = tuple(s for s in shp if s != 1)
    else:
        axes = _axes(dim, input.ndim, "squeeze")
        new = tuple(s for i, s in enumerate(shp) if not (i in axes and s == 1))
    return input if new == shp else Reshape.apply(input, new)


def unsqueeze(input, dim):
    """Insert a dimension of size 1 at ``dim``."""
    nd = input.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(f"unsqueeze: dim {dim} out of range for a result with {nd} dimensions")
    d = dim % nd
    return Reshape.apply(input, input.shape[:d] + (1,) + input.shape[d:])


def permute(input, *dims):
    """Reorder the dimensions."""
    dims = _shape_arg(dims)
    if len(dims) != input.ndim or sorted(d % max(input.ndim, 1) for d in dims) != list(
            range(input.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {input.ndim} dims of "
                         f"a tensor of shape {input.shape}")
    return Permute.apply(input, tuple(d % input.ndim for d in dims))


def transpose(input, dim0, dim1):
    """Swap two dimensions."""
    nd = input.ndim
    if nd < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return input
    a, b = _axes((dim0, dim1), nd, "transpose")
    axes = list(range(nd))
    axes[a], axes[b] = axes[b], axes[a]
    return Permute.apply(input, tuple(axes))


def expand(input, *sizes):
    """Broadcast size-1 dimensions to ``sizes`` (-1 keeps a size) without copying."""
    sizes = _shape_arg(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise RuntimeError(f"expand: {sizes} has fewer dimensions than the tensor {input.shape}")
    shape = tuple(input.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    for i, n in enumerate(input.shape):
        if n != 1 and n != shape[i + lead]:
            raise RuntimeError(
                f"expand: the tensor's size {n} at dim {i} must match {shape[i + lead]} or be 1 "
                f"(tensor {input.shape}, requested {sizes})"
            )
    return Expand.apply(input, shape)


def repeat(input, *sizes):
    """Tile the tensor ``sizes[i]`` times along each dimension."""
    sizes = _shape_arg(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError(f"repeat: {len(sizes)} repeats for a tensor with {input.ndim} dims")
    return Repeat.apply(input, sizes)


def flip(input, dims):
    return Flip.apply(input, _axes(dims, input.ndim, "flip"))


def pad(input, pad, mode="constant", value=0.0):
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right, top, bottom, ...)``."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} (only 'constant' is implemented)")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: {pad} must hold pairs for at most {input.ndim} dims")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if any(lo < 0 or hi < 0 for lo, hi in widths):
        raise NotImplementedError(f"pad: negative padding {pad} is not supported")
    return Pad.apply(input, tuple(widths), value)
