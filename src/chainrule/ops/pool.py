"""Pooling: max_pool1d/2d, avg_pool2d and adaptive_avg_pool2d as fused primitives.

Max and average pooling loop over the kernel offsets: offset (i, j) of every window is one
strided slice of the (padded) input, so a pooling is kh * kw whole-array ufunc calls, and the
backward scatters through the same slices (no ``np.add.at``). With kernel == stride this touches
each input element once. A 1-D pooling runs as a 2-D one over a height of 1.
"""

from __future__ import annotations

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops import _threads
from chainrule.ops.conv import _batched, _ntuple, _window
from chainrule.tensor import Tensor

# --- geometry ---


def _pool_len(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length; in ceil mode the last window must start inside the
    input or its left padding."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _channels_last(x: np.ndarray) -> bool:
    """Whether x (N, C, H, W) is laid out channels-last in memory (as convolutions return it)."""
    return x.strides[1] < x.strides[3]


def _new(shape: tuple[int, ...], dtype, channels_last: bool, value: float | None = None
         ) -> np.ndarray:
    """A new (N, C, H, W) array in the given memory layout (so that elementwise work on it and
    on its neighbours runs over contiguous memory), filled with ``value`` unless None."""
    n, c, h, w = shape
    a = np.empty((n, h, w, c) if channels_last else shape, dtype)
    if value is not None:
        a.fill(value)
    return a.transpose(0, 3, 1, 2) if channels_last else a


def _in_layout(a: np.ndarray, channels_last: bool) -> np.ndarray:
    """a (N, C, H, W) in the given memory layout (a copy only if it is in the other one)."""
    if _channels_last(a) == channels_last:
        return a
    if channels_last:
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(a)


def _padded(x: np.ndarray, kernel, stride, padding, dilation, out_hw, value: float) -> np.ndarray:
    """x padded by ``padding`` with ``value``, and further at the bottom/right as far as the
    last window reaches (ceil mode); x itself when no padding is needed."""
    H, W = x.shape[2:]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo) = kernel, stride, padding, dilation, out_hw
    hp = max(H + 2 * ph, (ho - 1) * sh + dh * (kh - 1) + 1)
    wp = max(W + 2 * pw, (wo - 1) * sw + dw * (kw - 1) + 1)
    if (hp, wp) == (H, W):
        return x
    xp = _new((*x.shape[:2], hp, wp), x.dtype, _channels_last(x), value)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    return xp


def _slices(xp: np.ndarray, kernel, stride, dilation, out_hw) -> list[np.ndarray]:
    """One strided view of xp per kernel offset, in row-major order over the window."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    return [xp[:, :, _window(i * dh, sh, ho), _window(j * dw, sw, wo)]
            for i in range(kh) for j in range(kw)]


def _disjoint(kernel, stride, dilation) -> bool:
    """Whether the slices of different kernel offsets never share an element."""
    return all(d == 1 and s >= k for k, s, d in zip(kernel, stride, dilation))


def _tiles(xp_shape, kernel, stride, dilation, out_hw) -> bool:
    """Whether the windows cover every element of xp exactly once (kernel == stride)."""
    return all(d == 1 and s == k and o * s == n
               for n, k, s, d, o in zip(xp_shape[2:], kernel, stride, dilation, out_hw))


def _sample_bytes(a: np.ndarray) -> int:
    return a[0].size * a.itemsize if len(a) else 0


def _crop(gxp: np.ndarray, crop: tuple[int, int, int, int]) -> np.ndarray:
    """The unpadded part (top, left, H, W) of a padded gradient."""
    t, left, H, W = crop
    return gxp if gxp.shape[2:] == (H, W) else gxp[:, :, t:t + H, left:left + W]


# --- primitives ---


class MaxPool(Function):
    # NOTE: fused for speed: the max over the kh * kw offset slices. The backward finds each
    # window's maximum again by comparing the slices with the output, in row-major window order,
    # handing the gradient to the first match and passing only what is left to later offsets: so
    # ties go to the first maximum, as in PyTorch, with no argmax kept. A window holding NaN
    # outputs NaN but passes no gradient (PyTorch: to its last NaN).
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, out_hw, return_indices):
        ctx.one_d = x.ndim == 3
        x4 = x[:, :, None] if ctx.one_d else x
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
            for o, (part, gpart) in enumerate(zip(parts, gparts)):
                hit = part == top
                if disjoint:
                    np.multiply(left, hit, out=gpart)
                    taken = gpart
                else:
                    taken = left * hit
                    gpart += taken
                if o < len(parts) - 1:
                    left = left - taken

        _threads._chunked(len(xp), _sample_bytes(xp), work)
        gx = _crop(gxp, ctx.crop)
        return (gx[:, :, 0] if ctx.one_d else gx), None, None, None, None, None, None


def _avg_divisor(size, kernel, stride, padding, out_hw, count_include_pad, dtype):
    """PyTorch's divisor per output position: the window clipped to the padded input (with
    count_include_pad) or to the input itself (without); a Python float when all are equal."""
    counts = []
    for n, k, s, p, o in zip(size, kernel, stride, padding, out_hw):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        counts.append(end - start)
    div = np.multiply.outer(counts[0], counts[1]).astype(dtype)
    return float(div.flat[0]) if div.size and np.all(div == div.flat[0]) else div


class AvgPool(Function):
    # NOTE: fused for speed: sum of the kh * kw offset slices of the zero-padded input, then one
    # division (sum first, divide last, as PyTorch does).
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, out_hw, count_include_pad, divisor_override):
        dil = (1, 1)
        xp = _padded(x, kernel, stride, padding, dil, out_hw, 0.0)
        out = _new((*xp.shape[:2], *out_hw), xp.dtype, _channels_last(xp))
        if divisor_override is not None:
            div = float(divisor_override)
        else:
            div = _avg_divisor(x.shape[2:], kernel, stride, padding, out_hw, count_include_pad,
                               x.dtype)

        def work(lo: int, hi: int, slot: int) -> None:
            parts = _slices(xp[lo:hi], kernel, stride, dil, out_hw)
            dst = out[lo:hi]
            np.copyto(dst, parts[0])
            for part in parts[1:]:
                np.add(dst, part, out=dst)
            dst /= div

        _threads._chunked(len(xp), _sample_bytes(xp), work)
        ctx.div, ctx.xp_shape, ctx.channels_last = div, xp.shape, _channels_last(xp)
        ctx.geometry = (kernel, stride, dil, out_hw)
        ctx.crop = (padding[0], padding[1], *x.shape[2:])
        return out

    @staticmethod
    def backward(ctx, grad):
        gs = _in_layout(grad, ctx.channels_last) / ctx.div
        kernel, stride, dilation, out_hw = ctx.geometry
        tiles = _tiles(ctx.xp_shape, kernel, stride, dilation, out_hw)
        gxp = _new(ctx.xp_shape, grad.dtype, ctx.channels_last, None if tiles else 0.0)
        disjoint = _disjoint(kernel, stride, dilation)
        for part in _slices(gxp, kernel, stride, dilation, out_hw):
            if disjoint:
                np.copyto(part, gs)
            else:
                part += gs
        return _crop(gxp, ctx.crop), None, None, None, None, None, None


def _adaptive_bins(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's bins: output i averages [floor(i * size / out), ceil((i + 1) * size / out))."""
    i = np.arange(out)
    start = (i * size) // out
    end = -((-(i + 1) * size) // out)
    member = (np.arange(size) >= start[:, None]) & (np.arange(size) < end[:, None])
    return member, end - start


class AdaptiveAvgPool2d(Function):
    # NOTE: fused for speed. When the output divides the input the bins are equal blocks
    # (a reshape and a mean); otherwise bins may overlap and out = (Mh @ x @ Mw.T) / counts with
    # 0/1 membership matrices Mh (Ho, H) and Mw (Wo, W).
    @staticmethod
    def forward(ctx, x, out_hw):
        N, C, H, W = x.shape
        ho, wo = out_hw
        ctx.x_shape = x.shape
        if ho and wo and H % ho == 0 and W % wo == 0:
            ctx.block = (H // ho, W // wo)
            return x.reshape(N, C, ho, H // ho, wo, W // wo).mean(axis=(3, 5))
        ctx.block = None
        mh, ch = _adaptive_bins(H, ho)
        mw, cw = _adaptive_bins(W, wo)
        ctx.mh, ctx.mw = mh.astype(x.dtype), mw.astype(x.dtype)
        ctx.counts = np.multiply.outer(ch, cw).astype(x.dtype)
        return np.matmul(np.matmul(ctx.mh, x), ctx.mw.T) / ctx.counts

    @staticmethod
    def backward(ctx, grad):
        N, C, H, W = ctx.x_shape
        if ctx.block is not None:
            kh, kw = ctx.block
            g = (grad / float(kh * kw))[:, :, :, None, :, None]
            return np.broadcast_to(g, (*g.shape[:3], kh, g.shape[4], kw)).reshape(ctx.x_shape), None
        return np.matmul(np.matmul(ctx.mh.T, grad / ctx.counts), ctx.mw), None


# --- argument checking and functional forms ---


def _check_pool_input(input, n: int, where: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{where}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (n + 1, n + 2):
        dims = "(N, C, L)" if n == 1 else "(N, C, H, W)"
        raise ValueError(f"{where}: expected a {n + 2}-D input {dims} or a {n + 1}-D unbatched "
                         f"one, got shape {input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"{where}: expected a floating-point input, got {input.dtype}")


def _pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode, n: int, where: str):
    kernel = _ntuple(kernel_size, n, "kernel_size", where, 1)
    stride = kernel if stride is None or stride == [] else _ntuple(stride, n, "stride", where, 1)
    padding = _ntuple(padding, n, "padding", where, 0)
    dilation = _ntuple(dilation, n, "dilation", where, 1)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{where}: padding {padding} must be at most half of kernel_size "
                         f"{kernel}")
    size = input.shape[-n:]
    out = tuple(_pool_len(*a, bool(ceil_mode)) for a in zip(size, kernel, stride, padding,
                                                              dilation))
    if any(o <= 0 for o in out):
        raise ValueError(f"{where}: output size {out} is not positive: input of shape "
                         f"{input.shape} is too small for kernel_size {kernel} with padding "
                         f"{padding} and dilation {dilation}")
    if n == 1:
        return (1, *kernel), (1, *stride), (0, *padding), (1, *dilation), (1, *out)
    return kernel, stride, padding, dilation, out


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


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling over (N, C, H, W) or unbatched (C, H, W); ``stride`` defaults to
    ``kernel_size``; zero padding counts in the average when ``count_include_pad``;
    ``divisor_override`` replaces the window size as divisor.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> F.avg_pool2d(chainrule.arange(16.0).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 2.5,  4.5],
              [10.5, 12.5]]]])
    """
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, "avg_pool2d")


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, where):
    _check_pool_input(input, 2, where)
    kernel, stride, padding, _, out = _pool_geometry(input, kernel_size, stride, padding, 1,
                                                     ceil_mode, 2, where)
    if divisor_override is not None and (isinstance(divisor_override, bool) or
                                         int(divisor_override) != divisor_override or
                                         divisor_override == 0):
        raise ValueError(f"{where}: divisor_override must be a nonzero int, got "
                         f"{divisor_override!r}")
    x, unbatched = _batched(input, 2)
    y = AvgPool.apply(x, kernel, stride, padding, out, bool(count_include_pad),
                      None if divisor_override is None else int(divisor_override))
    return y.squeeze(0) if unbatched else y


def adaptive_avg_pool2d(input, output_size):
    """2-D average pooling to a fixed output size (H_out, W_out) over (N, C, H, W) or (C, H, W).

    ``output_size`` is an int or a pair whose entries may be None (keep that input size). Output
    cell i averages input rows floor(i * H / H_out) to ceil((i + 1) * H / H_out) - 1.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> F.adaptive_avg_pool2d(chainrule.ones(2, 3, 7, 9), (2, None)).shape
    (2, 3, 2, 9)
    """
    return _adaptive_avg_pool(input, output_size, "adaptive_avg_pool2d")


def _adaptive_avg_pool(input, output_size, where):
    _check_pool_input(input, 2, where)
    size = input.shape[-2:]
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size, output_size)
    try:
        pair = tuple(output_size)
    except TypeError:
        pair = ()
    if len(pair) != 2:
        raise ValueError(f"{where}: output_size must be an int or a pair of ints (or None), "
                         f"got {output_size!r}")
    out = tuple(s if o is None else _ntuple(o, 1, "output_size", where, 0)[0]
                for s, o in zip(size, pair))
    x, unbatched = _batched(input, 2)
    y = AdaptiveAvgPool2d.apply(x, out)
    return y.squeeze(0) if unbatched else y
