"""Shape, movement and indexing primitives: views, joins, selection and scatter."""

from __future__ import annotations

import math

import numpy as np

from chainrule._dtype import result_type
from chainrule.autograd.function import Function
from chainrule.ops.reduction import _axes
from chainrule.tensor import Tensor, as_tensor_like

# --- views ---


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


# --- indexing ---


def _is_basic(idx) -> bool:
    parts = idx if isinstance(idx, tuple) else (idx,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


def _no_repeats(idx) -> bool:
    parts = idx if isinstance(idx, tuple) else (idx,)
    adv = [p for p in parts if isinstance(p, np.ndarray)]
    return len(adv) == 1 and adv[0].dtype == np.bool_


class Index(Function):
    @staticmethod
    def forward(ctx, x, idx):
        ctx.shape, ctx.dtype, ctx.idx = x.shape, x.dtype, idx
        return x[idx]

    @staticmethod
    def backward(ctx, grad):
        g = np.zeros(ctx.shape, ctx.dtype)
        idx = ctx.idx
        if _is_basic(idx) or _no_repeats(idx):
            g[idx] = grad
        else:
            # NOTE: an index may repeat, so the gradient is accumulated with add.at.
            np.add.at(g, idx, grad)
        return g, None


class IndexPut(Function):
    """``x[idx] = value`` as a new array (the out-of-place form of item assignment)."""

    @staticmethod
    def forward(ctx, x, value, idx):
        y = x.copy()
        y[idx] = value
        ctx.idx = idx
        ctx.vshape = np.shape(value)
        return y

    @staticmethod
    def backward(ctx, grad):
        gx = gv = None
        if ctx.needs_input_grad[0]:
            gx = grad.copy()
            gx[ctx.idx] = 0
        if ctx.needs_input_grad[1]:
            gv = grad[ctx.idx]
        return gx, gv, None


def _index(key):
    """Turn a PyTorch-style index (tensors allowed anywhere) into a NumPy index."""
    if isinstance(key, Tensor):
        return key._data
    if isinstance(key, tuple):
        return tuple(k._data if isinstance(k, Tensor) else k for k in key)
    if isinstance(key, list):
        # NOTE: a list holding slices, None or Ellipsis can only be a tuple of indices; any other
        # list is one integer index, also a nested one (NumPy's rule, and PyTorch's once its
        # deprecated tuple reading of x[[[0, 1], [2, 2]]] is gone).
        if any(isinstance(k, slice) or k is None or k is Ellipsis for k in key):
            return _index(tuple(key))
        return np.asarray([k._data if isinstance(k, Tensor) else k for k in key])
    return key


def getitem(x: Tensor, key) -> Tensor:
    idx = _index(key)
    try:
        return Index.apply(x, idx)
    except IndexError as e:
        raise IndexError(f"indexing a tensor of shape {x.shape} with {key!r}: {e}") from None


def setitem(x: Tensor, key, value) -> Tensor:
    """The out-of-place result of ``x[key] = value``."""
    idx = _index(key)
    value = as_tensor_like(value)
    if isinstance(value, Tensor) and value._data.dtype != x._data.dtype:
        value = value.to(x.dtype)
    return IndexPut.apply(x, value, idx)


class Gather(Function):
    @staticmethod
    def forward(ctx, x, axis, index):
        sl = tuple(slice(0, n) if a != axis else slice(None) for a, n in enumerate(index.shape))
        ctx.shape, ctx.axis, ctx.index, ctx.sl = x.shape, axis, index, sl
        return np.take_along_axis(x[sl], index, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        g = np.zeros(ctx.shape, grad.dtype)
        grid = list(np.indices(ctx.index.shape, sparse=True))
        grid[ctx.axis] = ctx.index
        np.add.at(g, tuple(grid), grad)  # NOTE: indices may repeat along the gather axis
        return g, None, None


class MaskedFill(Function):
    @staticmethod
    def forward(ctx, x, mask, value):
        ctx.mask = mask
        return np.where(mask, np.asarray(value, x.dtype), x)

    @staticmethod
    def backward(ctx, grad):
        return np.where(ctx.mask, 0, grad).astype(grad.dtype, copy=False), None, None


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        c = ctx.cond
        na, nb = ctx.needs_input_grad[1:]
        ga = np.where(c, grad, 0).astype(grad.dtype, copy=False) if na else None
        gb = np.where(c, 0, grad).astype(grad.dtype, copy=False) if nb else None
        return None, ga, gb


# --- joins ---


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


def gather(input, dim, index):
    """``out[i][j] = input[i][index[i][j]]`` for ``dim=1`` (and likewise for any dim)."""
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu" or idx.ndim != input.ndim:
        raise RuntimeError(
            f"gather: index must be an integer tensor with {input.ndim} dims like the input "
            f"{input.shape}, got dtype {idx.dtype} and shape {idx.shape}"
        )
    (axis,) = _axes(dim, input.ndim, "gather") or (None,)
    if axis is None:  # a 0-d input and index
        return reshape(gather(reshape(input, 1), 0, idx.reshape(1)), ())
    for a, (n, m) in enumerate(zip(idx.shape, input.shape)):
        if a != axis and n > m:
            raise RuntimeError(f"gather: index {idx.shape} is larger than input {input.shape} "
                               f"at dim {a}")
    if idx.size and (idx.min() < 0 or idx.max() >= input.shape[axis]):
        raise IndexError(f"gather: index out of range for dim {axis} of size {input.shape[axis]} "
                         f"(indices must be in [0, {input.shape[axis] - 1}], as in PyTorch)")
    return Gather.apply(input, axis, idx)


def masked_fill(input, mask, value):
    """Elements where ``mask`` is True replaced by ``value``."""
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill: mask must be a bool tensor, got {m.dtype}")
    if isinstance(value, Tensor):
        value = value.item()
    return MaskedFill.apply(input, m, value)


def where(condition, input=None, other=None):
    """``input`` where ``condition`` holds, else ``other`` (either may be a scalar)."""
    from chainrule.ops.elementwise import _prepare

    c = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if input is None and other is None:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in np.nonzero(c))
    a, b = _prepare(input, other)
    return Where.apply(c.astype(bool, copy=False), a, b)


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


def index_select(input, dim, index):
    (axis,) = _axes(dim, input.ndim, "index_select")
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    return Index.apply(input, (slice(None),) * axis + (idx,))


def narrow(input, dim, start, length):
    (axis,) = _axes(dim, input.ndim, "narrow")
    return Index.apply(input, (slice(None),) * axis + (slice(start, start + length),))


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
