"""Average pooling: avg_pool2d and adaptive_avg_pool2d as fused primitives."""

from __future__ import annotations

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops import _threads
from chainrule.ops.conv._args import _batched, _ntuple
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

# --- primitives ---


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

        _threads._chunked(len(xp), _sample_bytes(xp), work, claim=True)
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


# --- functional forms ---


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
