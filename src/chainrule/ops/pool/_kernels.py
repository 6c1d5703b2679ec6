"""Compiled max pooling (see :mod:`chainrule._jit`): one pass over the input that keeps each
window's maximum and where it is, and one pass that hands the gradient back to it.

The kernels see arrays as (B, H, W, C), C-contiguous: a channels-last (N, C, H, W) array is
its (N, H, W, C) memory, a channels-first one is (N * C, H, W, 1). ``arg`` holds a maximum's
offset ``i * kw + j`` in its window (uint8: windows of at most 256 elements). The maximum is
PyTorch's: the first in row-major window order, or the last NaN (take v if v > max or v is
NaN), among the window's elements inside the input (padding is never read or written).

NOTE: loops whose trip count LLVM knows are unrolled and vectorised; over a window of runtime
size they are not (measured, 2x2 windows of a (64, 6, 28, 28) channels-last input: 1.4 ms
with runtime window loops, 0.25-0.5 ms unrolled). So 2x2 windows with stride 2 (most CNNs)
have kernels of their own, and the general kernels keep the channel loop innermost.
"""

from __future__ import annotations

import numpy as np

from chainrule._jit import kernel

# --- any window ---


@kernel
def max_pool_forward(x, kh, kw, sh, sw, ph, pw, dh, dw, out, arg):
    """out = the max of each window of x, arg = its offset in the window."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    Ho, Wo = out.shape[1], out.shape[2]
    for b in range(x.shape[0]):
        for oh in range(Ho):
            h0 = oh * sh - ph
            for ow in range(Wo):
                w0 = ow * sw - pw
                first = True
                for i in range(kh):
                    h = h0 + i * dh
                    if h < 0 or h >= H:
                        continue
                    for j in range(kw):
                        w = w0 + j * dw
                        if w < 0 or w >= W:
                            continue
                        k = i * kw + j
                        if first:
                            first = False
                            for c in range(C):
                                out[b, oh, ow, c] = x[b, h, w, c]
                                arg[b, oh, ow, c] = k
                            continue
                        for c in range(C):
                            v = x[b, h, w, c]
                            m = out[b, oh, ow, c]
                            take = (v > m) | (v != v)
                            out[b, oh, ow, c] = v if take else m
                            arg[b, oh, ow, c] = k if take else arg[b, oh, ow, c]
                if first:  # no element of the window inside the input
                    for c in range(C):
                        out[b, oh, ow, c] = -np.inf
                        arg[b, oh, ow, c] = 0


@kernel
def max_pool_backward(g, arg, kh, kw, sh, sw, ph, pw, dh, dw, disjoint, gx):
    """gx = g handed to each window's recorded maximum. ``disjoint`` windows (stride >=
    kernel, no dilation) write every element they cover, g or 0 (the caller zeroes what no
    window covers); otherwise gx must hold zeros and the windows add into it."""
    H, W, C = gx.shape[1], gx.shape[2], gx.shape[3]
    Ho, Wo = g.shape[1], g.shape[2]
    zero = g.dtype.type(0)
    for b in range(g.shape[0]):
        for oh in range(Ho):
            h0 = oh * sh - ph
            for ow in range(Wo):
                w0 = ow * sw - pw
                if disjoint:
                    for i in range(kh):
                        h = h0 + i * dh
                        if h < 0 or h >= H:
                            continue
                        for j in range(kw):
                            w = w0 + j * dw
                            if w < 0 or w >= W:
                                continue
                            k = i * kw + j
                            for c in range(C):
                                take = arg[b, oh, ow, c] == k
                                gx[b, h, w, c] = g[b, oh, ow, c] if take else zero
                    continue
                for c in range(C):
                    a = arg[b, oh, ow, c]
                    i = a // kw
                    h = h0 + i * dh
                    w = w0 + (a - i * kw) * dw
                    if 0 <= h < H and 0 <= w < W:  # else a window wholly in the padding
                        gx[b, h, w, c] += g[b, oh, ow, c]


# --- 2x2 windows, stride 2, no padding ---


@kernel
def max_pool2x2_forward(x, out, arg):
    """:func:`max_pool_forward` for 2x2 windows with stride 2 and no padding."""
    # NOTE: compare-and-select without branches (random data mispredicts branches: 2x slower
    # for 32 channels). Channels-first planes (C == 1) have a loop along rows of their own
    # (measured, 64x32x32x32 float32: 3.5 ms without, 1.3 ms with; 2.2-2.8 ms for the
    # NumPy reference).
    if out.shape[3] == 1:
        for b in range(out.shape[0]):
            for oh in range(out.shape[1]):
                for ow in range(out.shape[2]):
                    m = x[b, 2 * oh, 2 * ow, 0]
                    a = np.uint8(0)
                    v = x[b, 2 * oh, 2 * ow + 1, 0]
                    take = (v > m) | (v != v)
                    m = v if take else m
                    a = np.uint8(1) if take else a
                    v = x[b, 2 * oh + 1, 2 * ow, 0]
                    take = (v > m) | (v != v)
                    m = v if take else m
                    a = np.uint8(2) if take else a
                    v = x[b, 2 * oh + 1, 2 * ow + 1, 0]
                    take = (v > m) | (v != v)
                    out[b, oh, ow, 0] = v if take else m
                    arg[b, oh, ow, 0] = np.uint8(3) if take else a
        return
    for b in range(out.shape[0]):
        for oh in range(out.shape[1]):
            for ow in range(out.shape[2]):
                for c in range(out.shape[3]):
                    m = x[b, 2 * oh, 2 * ow, c]
                    a = np.uint8(0)
                    v = x[b, 2 * oh, 2 * ow + 1, c]
                    take = (v > m) | (v != v)
                    m = v if take else m
                    a = np.uint8(1) if take else a
                    v = x[b, 2 * oh + 1, 2 * ow, c]
                    take = (v > m) | (v != v)
                    m = v if take else m
                    a = np.uint8(2) if take else a
                    v = x[b, 2 * oh + 1, 2 * ow + 1, c]
                    take = (v > m) | (v != v)
                    out[b, oh, ow, c] = v if take else m
                    arg[b, oh, ow, c] = np.uint8(3) if take else a


@kernel
def max_pool2x2_backward(g, arg, gx):
    """:func:`max_pool_backward` for 2x2 windows with stride 2 and no padding: writes every
    element of the windows (the caller zeroes a last odd row or column)."""
    B, Ho, Wo, C = g.shape
    zero = g.dtype.type(0)
    # NOTE: which loop goes innermost depends on C (measured, ms for a batch of 64 with
    # 28x28x6, 32x32x32 and channels-first 28x28 planes): element by element for a few
    # channels (0.16, 1.32, 0.50), one window offset at a time over the channels for many
    # (0.83, 0.87, 0.50). A branch along rows for channels-first planes (0.14) was dropped:
    # every branch adds ~0.5 s of compile time per dtype.
    if C < 16:
        for b in range(B):
            for oh in range(Ho):
                for ow in range(Wo):
                    for c in range(C):
                        a = arg[b, oh, ow, c]
                        v = g[b, oh, ow, c]
                        gx[b, 2 * oh, 2 * ow, c] = v if a == 0 else zero
                        gx[b, 2 * oh, 2 * ow + 1, c] = v if a == 1 else zero
                        gx[b, 2 * oh + 1, 2 * ow, c] = v if a == 2 else zero
                        gx[b, 2 * oh + 1, 2 * ow + 1, c] = v if a == 3 else zero
    else:
        for b in range(B):
            for oh in range(Ho):
                for ow in range(Wo):
                    for i in range(2):
                        for j in range(2):
                            k = 2 * i + j
                            for c in range(C):
                                v = g[b, oh, ow, c]
                                take = arg[b, oh, ow, c] == k
                                gx[b, 2 * oh + i, 2 * ow + j, c] = v if take else zero
