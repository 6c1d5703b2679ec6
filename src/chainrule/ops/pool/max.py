"""Max pooling: max_pool1d and max_pool2d as one fused primitive."""

from __future__ import annotations

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops import _threads
from chainrule.ops.conv._args import _batched
from chainrule.ops.pool._common import (
    _channels_last,
    _check_pool_input,
    _crop,
    _disjoint,
    _in_layout,
    _new,
    _padded,
    _pool_geometry,
    _sample_bytes,
    _slices,
    _tiles,
)

# --- windows that tile the input ---


def _tiled(kernel, stride, padding, dilation) -> bool:
    """Whether the windows tile the input: kernel == stride, no padding, no dilation."""
    return kernel == stride and padding == (0, 0) and dilation == (1, 1)


def _tile_view(a: np.ndarray, kernel, out_hw) -> np.ndarray:
    """a (N, C, H, W) cut to whole windows, as a (N, C, Ho, kh, Wo, kw) view."""
    (kh, kw), (ho, wo) = kernel, out_hw
    return np.reshape(a[:, :, :ho * kh, :wo * kw], (*a.shape[:2], ho, kh, wo, kw), copy=False)


def _first_max(parts: list[np.ndarray], out: np.ndarray, masks: list[np.ndarray]) -> None:
    """out = the elementwise max of ``parts``; ``masks[i]`` (given for all parts but the last,
    or none) = where ``parts[i]`` holds the first maximum."""
    if len(parts) == 1:
        np.copyto(out, parts[0])
    else:
        np.maximum(parts[0], parts[1], out=out)
    for part in parts[2:]:
        np.maximum(out, part, out=out)
    for i, mask in enumerate(masks):
        np.equal(parts[i], out, out=mask)
        for earlier in masks[:i]:
            np.greater(mask, earlier, out=mask)  # mask and not earlier


def _route(g: np.ndarray, masks: list[np.ndarray], gparts: list[np.ndarray]) -> None:
    """g to the part holding the first maximum: each masked part takes g where its mask holds,
    the last part what is left (exactly g or 0, as the masks never overlap)."""
    last = gparts[-1]
    for mask, gpart in zip(masks, gparts):
        np.multiply(g, mask, out=gpart)
    if not masks:
        np.copyto(last, g)
        return
    np.subtract(g, gparts[0], out=last)
    for gpart in gparts[1:-1]:
        np.subtract(last, gpart, out=last)


def _tile_max(x: np.ndarray, kernel, out_hw):
    """Max pooling of x (N, C, H, W) with kernel == stride, and the masks its gradient needs.
    Returns (out, (column masks, row masks))."""
    (kh, kw) = kernel
    v = _tile_view(x, kernel, out_hw)
    # NOTE: the max over each window's columns first, then over its rows: ties then go to the
    # first maximum in row-major window order (PyTorch's), with one mask per offset but the
    # last. ``empty_like`` keeps the input's memory layout, so every ufunc runs over matching
    # strides.
    cols = np.empty_like(v[..., 0])  # (N, C, Ho, kh, Wo)
    out = np.empty_like(cols[:, :, :, 0])  # (N, C, Ho, Wo)
    cmasks = [np.empty_like(cols, bool) for _ in range(kw - 1)]
    rmasks = [np.empty_like(out, bool) for _ in range(kh - 1)]

    def work(lo: int, hi: int, slot: int) -> None:
        _first_max([v[lo:hi, ..., j] for j in range(kw)], cols[lo:hi],
                   [m[lo:hi] for m in cmasks])
        _first_max([cols[lo:hi, :, :, i] for i in range(kh)], out[lo:hi],
                   [m[lo:hi] for m in rmasks])

    _threads._chunked(len(x), _sample_bytes(x), work)
    return out, (cmasks, rmasks)


def _tile_max_grad(g: np.ndarray, masks, x_shape, channels_last: bool, kernel, out_hw
                   ) -> np.ndarray:
    """The input gradient of :func:`_tile_max` given g (N, C, Ho, Wo)."""
    (kh, kw), (ho, wo) = kernel, out_hw
    cmasks, rmasks = masks
    whole = x_shape[2:] == (ho * kh, wo * kw)
    gx = _new(x_shape, g.dtype, channels_last, None if whole else 0.0)
    gv = _tile_view(gx, kernel, out_hw)
    g = _in_layout(g, channels_last)
    gcols = np.empty_like(gv[..., 0])

    def work(lo: int, hi: int, slot: int) -> None:
        _route(g[lo:hi], [m[lo:hi] for m in rmasks], [gcols[lo:hi, :, :, i] for i in range(kh)])
        _route(gcols[lo:hi], [m[lo:hi] for m in cmasks], [gv[lo:hi, ..., j] for j in range(kw)])

    _threads._chunked(len(gx), _sample_bytes(gx), work)
    return gx


# --- primitives ---


class MaxPool(Function):
    # NOTE: fused for speed. When a gradient is wanted and the windows tile the input (kernel ==
    # stride, as in most CNNs): :func:`_tile_max`, two passes keeping first-maximum masks for
    # the backward (forward + backward measured 1.1-1.5x faster than the general path; a
    # forward alone is slower, so inference takes the general path). Otherwise: the max over
    # the kh * kw offset slices; the backward finds each window's maximum again by comparing
    # the slices with the output, in row-major window order, handing the gradient to the first
    # match and passing only what is left to later offsets: so ties go to the first maximum,
    # as in PyTorch, with no argmax kept. A window holding NaN outputs NaN; its gradient goes
    # to its last element (tiles) or nowhere (otherwise); PyTorch's to its last NaN.
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, out_hw, return_indices):
        ctx.one_d = x.ndim == 3
        x4 = x[:, :, None] if ctx.one_d else x
        ctx.tiled = (ctx.needs_input_grad[0] and not return_indices
                     and _tiled(kernel, stride, padding, dilation))
        if ctx.tiled:
            out, ctx.masks = _tile_max(x4, kernel, out_hw)
            ctx.x_shape, ctx.channels_last = x4.shape, _channels_last(x4)
            ctx.geometry = (kernel, out_hw)
            return out[:, :, 0] if ctx.one_d else out
        xp = _padded(x4, kernel, stride, padding, dilation, out_hw, -np.inf)
        out = _new((*xp.shape[:2], *out_hw), xp.dtype, _channels_last(xp))

        def work(lo: int, hi: int, slot: int) -> None:
            parts = _slices(xp[lo:hi], kernel, stride, dilation, out_hw)
            dst = out[lo:hi]
            np.copyto(dst, parts[0])
            for part in parts[1:]:
                np.maximum(dst, part, out=dst)

        _threads._chunked(len(xp), _sample_bytes(xp), work)
        if ctx.needs_input_grad[0]:
            ctx.xp, ctx.out = xp, out
            ctx.geometry = (kernel, stride, dilation, out_hw)
            ctx.crop = (padding[0], padding[1], *x4.shape[2:])
        y = out[:, :, 0] if ctx.one_d else out
        if not return_indices:
            return y
        H, W = x4.shape[2:]
        kw, (sh, sw), (ph, pw), (dh, dw), (ho, wo) = kernel[1], stride, padding, dilation, out_hw
        indices = np.full(out.shape, -1, np.int64)
        corner = (np.arange(ho) * sh - ph)[:, None] * W + (np.arange(wo) * sw - pw)
        parts = _slices(xp, kernel, stride, dilation, out_hw)
        for o in range(len(parts) - 1, -1, -1):  # the first maximum is written last
            i, j = divmod(o, kw)
            np.copyto(indices, corner + (i * dh * W + j * dw), where=parts[o] == out)
        return y, (indices[:, :, 0] if ctx.one_d else indices)

    @staticmethod
    def backward(ctx, grad, *_):
        g = grad[:, :, None] if ctx.one_d else grad
        if ctx.tiled:
            gx = _tile_max_grad(g, ctx.masks, ctx.x_shape, ctx.channels_last, *ctx.geometry)
            return (gx[:, :, 0] if ctx.one_d else gx), None, None, None, None, None, None
        kernel, stride, dilation, out_hw = ctx.geometry
        xp, out = ctx.xp, ctx.out
        layout = _channels_last(xp)
        tiles = _tiles(xp.shape, kernel, stride, dilation, out_hw)
        gxp = _new(xp.shape, g.dtype, layout, None if tiles else 0.0)
        # NOTE: elementwise work over two layouts at once runs several times slower
        g = _in_layout(g, layout)
        disjoint = _disjoint(kernel, stride, dilation)

        def work(lo: int, hi: int, slot: int) -> None:
            parts = _slices(xp[lo:hi], kernel, stride, dilation, out_hw)
            gparts = _slices(gxp[lo:hi], kernel, stride, dilation, out_hw)
            top = out[lo:hi]
            left = g[lo:hi]  # the gradient not yet handed to a window element
            hit = np.empty_like(top, bool)
            buf = None if disjoint else np.empty_like(top, g.dtype)
            for o, (part, gpart) in enumerate(zip(parts, gparts)):
                np.equal(part, top, out=hit)
                taken = np.multiply(left, hit, out=gpart if disjoint else buf)
                if not disjoint:
                    gpart += taken
                if o < len(parts) - 1:  # a new array first (g is not ours), then in place
                    left = left - taken if o == 0 else np.subtract(left, taken, out=left)

        _threads._chunked(len(xp), _sample_bytes(xp), work)
        gx = _crop(gxp, ctx.crop)
        return (gx[:, :, 0] if ctx.one_d else gx), None, None, None, None, None, None


# --- functional forms ---


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, n,
              where):
    _check_pool_input(input, n, where)
    geometry = _pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode, n, where)
    x, unbatched = _batched(input, n)
    out = MaxPool.apply(x, *geometry, bool(return_indices))
    if not unbatched:
        return out
    if return_indices:
        return out[0].squeeze(0), out[1].squeeze(0)
    return out.squeeze(0)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-D max pooling over (N, C, L) or unbatched (C, L); ``stride`` defaults to
    ``kernel_size``, padding counts as -inf. ``return_indices`` adds each maximum's index in L.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> F.max_pool1d(chainrule.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2)
    tensor([[[3., 2.]]])
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     1, "max_pool1d")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling over (N, C, H, W) or unbatched (C, H, W); ``stride`` defaults to
    ``kernel_size``, padding counts as -inf. ``return_indices`` adds each maximum's flat index
    ``h * W + w`` in its input plane.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> F.max_pool2d(chainrule.arange(16.0).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     2, "max_pool2d")
