"""Max pooling: max_pool1d and max_pool2d as one fused primitive."""

from __future__ import annotations

import numpy as np

from chainrule import _jit
from chainrule.autograd.function import Function
from chainrule.ops import _threads
from chainrule.ops.conv._args import _batched
from chainrule.ops.pool import _kernels
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


def _tiled(x_shape, kernel, stride, padding, dilation, out_hw) -> bool:
    """Whether the windows tile the input: kernel == stride, no padding, no dilation, every
    window whole (ceil mode may add a cut one)."""
    return (kernel == stride and padding == (0, 0) and dilation == (1, 1)
            and all(o * k <= n for o, k, n in zip(out_hw, kernel, x_shape[2:])))


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

    _threads._chunked(len(x), _sample_bytes(x), work, claim=True)
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

    _threads._chunked(len(gx), _sample_bytes(gx), work, claim=True)
    return gx


# --- compiled (chainrule._jit) ---


def _physical(a: np.ndarray, channels_last: bool) -> np.ndarray:
    """a (N, C, H, W) as the kernels see it: (N, H, W, C) or (N * C, H, W, 1), C-contiguous
    (a copy only if a is not laid out so)."""
    if channels_last:
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1))
    return np.ascontiguousarray(a).reshape(a.shape[0] * a.shape[1], *a.shape[2:], 1)


def _logical(p: np.ndarray, nc: tuple[int, int], channels_last: bool) -> np.ndarray:
    """The (N, C, H, W) view of a kernel's array p (see :func:`_physical`), (N, C) = nc."""
    return p.transpose(0, 3, 1, 2) if channels_last else p.reshape(*nc, *p.shape[1:3])


def _two_by_two(x_shape, kernel, stride, padding, dilation, out_hw) -> bool:
    """Whether :func:`_kernels.max_pool2x2_forward` applies: whole 2x2 windows, stride 2."""
    return (kernel == stride == (2, 2) and padding == (0, 0) and dilation == (1, 1)
            and 2 * out_hw[0] <= x_shape[2] and 2 * out_hw[1] <= x_shape[3])


def _compiles(x: np.ndarray, kernel, stride, padding, dilation, out_hw) -> bool:
    """Whether the compiled kernels pool x (N, C, H, W): they are enabled, a window's offset
    fits a byte, and x has channels or 2x2 windows.

    NOTE: the general kernel runs over the channels innermost: over single-channel planes it
    is ~3x slower than the NumPy reference (measured, 3x3 windows, stride 2, padding 1, 2048
    planes of 32x32: 24 vs 6.5 ms), which they take (a kernel of their own costs compile time
    for a rare case)."""
    return (_jit.enabled(x.dtype) and kernel[0] * kernel[1] <= 256
            and (x.shape[1] > 1 or _two_by_two(x.shape, kernel, stride, padding, dilation,
                                               out_hw)))


def _kernel_layout(x: np.ndarray, kernel, stride, padding, dilation, out_hw) -> bool:
    """Whether the kernels take x (N, C, H, W) channels-last (else channels-first planes).

    NOTE: over channels-first planes the general kernel is ~15x slower than over channels
    (measured as above: 24 ms over planes, 1.4 ms channels-last), so a channels-first input
    is copied channels-last first (3x3, stride 2, padding 1, 64x32x32x32: forward 7.0 ->
    4.7 ms, backward 15.9 -> 6.7 ms against the reference), unless its windows are 2x2."""
    return _channels_last(x) or not _two_by_two(x.shape, kernel, stride, padding, dilation,
                                                 out_hw)


def _compiled_max(x: np.ndarray, channels_last: bool, kernel, stride, padding, dilation,
                  out_hw):
    """Max pooling of x (N, C, H, W) by :mod:`_kernels`: (out, arg) in the kernels' layout
    (see :func:`_physical`), channels-last or not."""
    xp = _physical(x, channels_last)
    out = np.empty((len(xp), *out_hw, xp.shape[3]), x.dtype)
    arg = np.empty(out.shape, np.uint8)
    two = _two_by_two(x.shape, kernel, stride, padding, dilation, out_hw)
    geometry = (*kernel, *stride, *padding, *dilation)

    def work(lo: int, hi: int, slot: int) -> None:
        if two:
            _kernels.max_pool2x2_forward(xp[lo:hi], out[lo:hi], arg[lo:hi])
        else:
            _kernels.max_pool_forward(xp[lo:hi], *geometry, out[lo:hi], arg[lo:hi])

    if out.size:
        _threads._chunked(len(xp), _sample_bytes(xp), work, claim=True)
    return out, arg


def _compiled_max_grad(g: np.ndarray, arg: np.ndarray, x_shape, channels_last: bool, kernel,
                       stride, padding, dilation) -> np.ndarray:
    """The input gradient of :func:`_compiled_max` given g (N, C, Ho, Wo)."""
    gp = _physical(g, channels_last)
    out_hw = g.shape[2:]
    two = _two_by_two(x_shape, kernel, stride, padding, dilation, out_hw)
    disjoint = _disjoint(kernel, stride, dilation)
    covered = disjoint and all(s == k and o * s - p >= n for n, k, s, p, o in zip(
        x_shape[2:], kernel, stride, padding, out_hw))
    N, C, H, W = x_shape
    gx = (np.empty if covered else np.zeros)((N, H, W, C) if channels_last else (N * C, H, W, 1),
                                             g.dtype)
    geometry = (*kernel, *stride, *padding, *dilation)

    def work(lo: int, hi: int, slot: int) -> None:
        if two:
            _kernels.max_pool2x2_backward(gp[lo:hi], arg[lo:hi], gx[lo:hi])
        else:
            _kernels.max_pool_backward(gp[lo:hi], arg[lo:hi], *geometry, disjoint, gx[lo:hi])

    if gp.size:
        _threads._chunked(len(gx), _sample_bytes(gx), work, claim=True)
    return _logical(gx, (N, C), channels_last)


def _indices(arg: np.ndarray, W: int, kw: int, stride, padding, dilation) -> np.ndarray:
    """PyTorch's indices (h * W + w in the input plane) from window offsets arg
    (N, C, Ho, Wo)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    i, j = np.divmod(arg.astype(np.int64), kw)
    ho, wo = arg.shape[2:]
    return ((np.arange(ho) * sh - ph)[:, None] + i * dh) * W + (np.arange(wo) * sw - pw) + j * dw


# --- primitives ---


class MaxPool(Function):
    # NOTE: fused for speed. With the compiled kernels (chainrule._jit, windows of < 255
    # elements): one pass finds each window's maximum and keeps its offset in the window (a
    # byte per output), one pass hands the gradient back to it (see _kernels.py): PyTorch's
    # rule, NaN included (the last NaN of a window takes the gradient). Measured in a LeNet-5
    # training step (batch 64, in-process A/B, busy 2-core machine): both poolings' forward
    # 1.03 -> 0.50 ms, backward 1.23 -> 0.51 ms; CIFAR CNN 4.1 -> 1.3 and 5.2 -> 2.1 ms.
    # The NumPy reference, otherwise: when a gradient is wanted and the windows tile the input
    # (kernel == stride, as in most CNNs): :func:`_tile_max`, two passes keeping first-maximum
    # masks for the backward (forward + backward measured 1.1-1.5x faster than the general
    # path; a forward alone is slower, so inference takes the general path). Otherwise: the
    # max over the kh * kw offset slices; the backward finds each window's maximum again by
    # comparing the slices with the output, in row-major window order, handing the gradient
    # to the first match and passing only what is left to later offsets: so ties go to the
    # first maximum, as in PyTorch, with no argmax kept. A window holding NaN outputs NaN; its
    # gradient goes to its last element (tiles) or nowhere (otherwise); PyTorch's to its last
    # NaN.
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, out_hw, return_indices):
        ctx.one_d = x.ndim == 3
        x4 = x[:, :, None] if ctx.one_d else x
        ctx.tiled = (ctx.needs_input_grad[0] and not return_indices
                     and _tiled(x4.shape, kernel, stride, padding, dilation, out_hw))
        ctx.compiled = _compiles(x4, kernel, stride, padding, dilation, out_hw)
        if ctx.compiled:
            layout = _kernel_layout(x4, kernel, stride, padding, dilation, out_hw)
            out_p, arg = _compiled_max(x4, layout, kernel, stride, padding, dilation, out_hw)
            out = _in_layout(_logical(out_p, x4.shape[:2], layout), _channels_last(x4))
            if ctx.needs_input_grad[0]:
                ctx.arg, ctx.x_shape, ctx.channels_last = arg, x4.shape, layout
                ctx.geometry = (kernel, stride, padding, dilation)
                ctx.x_layout = _channels_last(x4)
            y = out[:, :, 0] if ctx.one_d else out
            if not return_indices:
                return y
            indices = _indices(_logical(arg, x4.shape[:2], layout), x4.shape[3], kernel[1], stride,
                               padding, dilation)
            return y, (indices[:, :, 0] if ctx.one_d else indices)
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

        _threads._chunked(len(xp), _sample_bytes(xp), work, claim=True)
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
        if ctx.compiled:
            gx = _compiled_max_grad(g, ctx.arg, ctx.x_shape, ctx.channels_last, *ctx.geometry)
            gx = _in_layout(gx, ctx.x_layout)
            return (gx[:, :, 0] if ctx.one_d else gx), None, None, None, None, None, None
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

        _threads._chunked(len(xp), _sample_bytes(xp), work, claim=True)
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
