"""Compiled im2col and col2im (see :mod:`chainrule._jit`): the column matrices written straight
from the input, padding written as zeros inline (no padded copy of the input), and the column
gradients added straight into the input gradient (no strided NumPy add per kernel offset).

The kernels see C-contiguous arrays, flattened, in the layout the caller chose
(``_im2col.py``); ``n0`` is the first sample of the chunk in ``x``/``gx``, and a chunk's
columns start at its sample 0. Geometry: ``sh, sw`` stride, ``dh, dw`` dilation, ``top, left``
the padding before the input; ``n, ho, wo`` the chunk's samples and output size.

- channels-last: ``x`` (N, H, W, C), the columns (n, Ho, Wo, groups * kh * kw * cg), one row
  per output pixel in (group, i, j, c) order;
- channels-first: ``x`` (N, C, H, W), the columns (C * kh * kw, n, Ho, Wo), one row per tap in
  (c, i, j) order (c counts over all groups).

A convolution with one input channel (LeNet's first layer: 1 in, 6 out) skips the columns:
:func:`direct_forward` and :func:`direct_weight_grad` (stride 1) run over zero-padded sample
planes (C, Hp, Wp) flattened, where output pixel (y, x) reads plane element
``(y + i * dh) * Wp + x + j * dw``: one contiguous loop of ``(Ho - 1) * Wp + Wo`` values per
tap, whose ``Wp - Wo`` values between output rows are computed and dropped.
"""

from __future__ import annotations

import numpy as np

from chainrule._jit import kernel

# NOTE: numba wraps negative indices: an index LLVM cannot prove non-negative (``o + t``)
# keeps a branch per element that stops vectorisation. Unsigned indices have no wraparound,
# so offsets are made np.uint64 (``_u``) and inner loops count in it (measured on short runs:
# im2col 1.6-2x faster than with a slice per run, 8x faster than signed flat offsets).
_u = np.uint64


@kernel
def im2col_last(x, n0, H, W, C, groups, kh, kw, sh, sw, dh, dw, top, left, n, ho, wo, cols):
    """cols[b, y, x, (g, i, j, c)] = x[n0 + b, y * sh + i * dh - top, x * sw + j * dw - left,
    g * cg + c], 0 where that is outside x."""
    cg = C // groups
    K = kh * kw * C
    zero = cols.dtype.type(0)
    if groups == 1 and dw == 1:
        # NOTE: a window row (j, c) is one run of kw * C values in both arrays: the part inside
        # x copied in one loop, the padding around it zeroed. (A loop nest of its own: with
        # the general one below in the same nest, LLVM vectorised neither; measured 2x slower.)
        for b in range(n):
            for oy in range(ho):
                for ox in range(wo):
                    p = ((b * ho + oy) * wo + ox) * K
                    x0 = ox * sw - left
                    j0 = min(kw, max(0, -x0))  # the taps inside x: j0 <= j < j1
                    j1 = max(j0, min(kw, W - x0))
                    for i in range(kh):
                        iy = oy * sh + i * dh - top
                        o = _u(p + i * kw * C)
                        if iy < 0 or iy >= H:
                            for t in range(_u(kw * C)):
                                cols[o + t] = zero
                            continue
                        for t in range(_u(j0 * C)):
                            cols[o + t] = zero
                        s = _u((((n0 + b) * H + iy) * W + x0 + j0) * C)
                        o2 = o + _u(j0 * C)
                        for t in range(_u((j1 - j0) * C)):
                            cols[o2 + t] = x[s + t]
                        o3 = o + _u(j1 * C)
                        for t in range(_u((kw - j1) * C)):
                            cols[o3 + t] = zero
        return
    for b in range(n):
        for oy in range(ho):
            for ox in range(wo):
                p = ((b * ho + oy) * wo + ox) * K
                for g in range(groups):
                    for i in range(kh):
                        iy = oy * sh + i * dh - top
                        for j in range(kw):
                            ix = ox * sw + j * dw - left
                            o = _u(p + ((g * kh + i) * kw + j) * cg)
                            if 0 <= iy < H and 0 <= ix < W:
                                s = _u((((n0 + b) * H + iy) * W + ix) * C + g * cg)
                                for t in range(_u(cg)):
                                    cols[o + t] = x[s + t]
                            else:
                                for t in range(_u(cg)):
                                    cols[o + t] = zero


@kernel
def im2col_first(x, n0, C, H, W, kh, kw, sh, sw, dh, dw, top, left, n, ho, wo, cols):
    """cols[(c, i, j), b, y, x] = x[n0 + b, c, y * sh + i * dh - top, x * sw + j * dw - left],
    0 where that is outside x."""
    zero = cols.dtype.type(0)
    su = _u(sw)
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                # the output columns whose tap (i, j) falls inside x: x_lo <= x < x_hi
                off = j * dw - left
                x_lo = min(wo, max(0, (sw - 1 - off) // sw))
                x_hi = max(x_lo, min(wo, (W - 1 - off) // sw + 1))
                for b in range(n):
                    for oy in range(ho):
                        iy = oy * sh + i * dh - top
                        o = _u(((r * n + b) * ho + oy) * wo)
                        if iy < 0 or iy >= H:
                            for t in range(_u(wo)):
                                cols[o + t] = zero
                            continue
                        for t in range(_u(x_lo)):
                            cols[o + t] = zero
                        s = _u((((n0 + b) * C + c) * H + iy) * W + x_lo * sw + off)
                        o2 = o + _u(x_lo)
                        if sw == 1:
                            for t in range(_u(x_hi - x_lo)):
                                cols[o2 + t] = x[s + t]
                        else:
                            for t in range(_u(x_hi - x_lo)):
                                cols[o2 + t] = x[s + t * su]
                        o3 = o + _u(x_hi)
                        for t in range(_u(wo - x_hi)):
                            cols[o3 + t] = zero


@kernel
def col2im_last(cols, n0, H, W, C, groups, kh, kw, sh, sw, dh, dw, top, left, n, ho, wo, gx):
    """gx[n0 + b] = the sum of the columns (see :func:`im2col_last`) at the input pixels they
    were copied from; columns over the padding are dropped. gx (N, H, W, C)."""
    cg = C // groups
    K = kh * kw * C
    zero = gx.dtype.type(0)
    g0 = _u(n0 * H * W * C)
    for t in range(_u(n * H * W * C)):
        gx[g0 + t] = zero
    if groups == 1 and dw == 1:  # NOTE: runs of kw * C values, as in im2col_last
        for b in range(n):
            for oy in range(ho):
                for ox in range(wo):
                    p = ((b * ho + oy) * wo + ox) * K
                    x0 = ox * sw - left
                    j0 = min(kw, max(0, -x0))
                    j1 = max(j0, min(kw, W - x0))
                    for i in range(kh):
                        iy = oy * sh + i * dh - top
                        if 0 <= iy < H:
                            o = _u(p + (i * kw + j0) * C)
                            s = _u((((n0 + b) * H + iy) * W + x0 + j0) * C)
                            for t in range(_u((j1 - j0) * C)):
                                gx[s + t] += cols[o + t]
        return
    for b in range(n):
        for oy in range(ho):
            for ox in range(wo):
                p = ((b * ho + oy) * wo + ox) * K
                for g in range(groups):
                    for i in range(kh):
                        iy = oy * sh + i * dh - top
                        for j in range(kw):
                            ix = ox * sw + j * dw - left
                            if 0 <= iy < H and 0 <= ix < W:
                                o = _u(p + ((g * kh + i) * kw + j) * cg)
                                s = _u((((n0 + b) * H + iy) * W + ix) * C + g * cg)
                                for t in range(_u(cg)):
                                    gx[s + t] += cols[o + t]


@kernel
def pad_planes(x, n0, C, H, W, top, left, Hp, Wp, n, xp):
    """xp (n, C, Hp, Wp) = samples n0: n0 + n of x (N, C, H, W) at (top, left), zeros around
    (and below/right, wherever the plane is larger)."""
    zero = xp.dtype.type(0)
    for t in range(_u(n * C * Hp * Wp)):
        xp[t] = zero
    w1 = max(0, min(W, Wp - left))
    for b in range(n):
        for c in range(C):
            for y in range(max(0, min(H, Hp - top))):
                s = _u((((n0 + b) * C + c) * H + y) * W)
                o = _u(((b * C + c) * Hp + y + top) * Wp + left)
                for t in range(_u(w1)):
                    xp[o + t] = x[s + t]


@kernel(fastmath={"contract"})
def direct_forward(xp, w, bias, n, C, O, kh, kw, dh, dw, Hp, Wp, ho, wo, acc, n0, out):
    """out[n0 + b, y, x, o] = bias[o] + sum over (c, i, j) of w[o, c, i, j] *
    xp[b, c, y + i * dh, x + j * dw]: the padded planes xp (see :func:`pad_planes`), w flat,
    out (N, Ho, Wo, O) flat; acc holds a sample's O output planes (O, L)."""
    # NOTE: long loops over slices (one per tap) count from 0, so they need no unsigned
    # offsets; measured 10% faster than flat offsets. ``contract``: fused multiply-adds.
    L = (ho - 1) * Wp + wo
    for b in range(n):
        for o in range(O):
            a = acc[o * L:(o + 1) * L]
            for t in range(L):
                a[t] = bias[o]
            for c in range(C):
                for i in range(kh):
                    for j in range(kw):
                        wv = w[((o * C + c) * kh + i) * kw + j]
                        s0 = ((b * C + c) * Hp + i * dh) * Wp + j * dw
                        s = xp[s0:s0 + L]
                        for t in range(L):
                            a[t] += wv * s[t]
        for y in range(ho):
            for x in range(wo):
                d = out[(((n0 + b) * ho + y) * wo + x) * O:]
                for o in range(O):
                    d[o] = acc[o * L + y * Wp + x]


@kernel(fastmath={"reassoc", "contract"})
def direct_weight_grad(xp, g, n, C, O, kh, kw, dh, dw, Hp, Wp, ho, wo, gplane, n0, gw, gb):
    """gw[o, c, i, j] += sum over (b, y, x) of g[n0 + b, y, x, o] * xp[b, c, y + i * dh,
    x + j * dw] and gb[o] += the sum of g[..., o]: xp as in :func:`direct_forward`, g
    (N, Ho, Wo, O) flat; gplane holds a sample's gradient as O planes (O, L), zeros between
    output rows."""
    # NOTE: reassociated (fastmath) so that the dot products vectorise: float32 sums of
    # L products per sample, in another order than BLAS's (they agree to ~1e-6 relative).
    L = (ho - 1) * Wp + wo
    zero = gw.dtype.type(0)
    for b in range(n):
        gplane[:] = zero
        for y in range(ho):
            for x in range(wo):
                s = g[(((n0 + b) * ho + y) * wo + x) * O:]
                for o in range(O):
                    gplane[o * L + y * Wp + x] = s[o]
        for o in range(O):
            gp = gplane[o * L:(o + 1) * L]
            total = zero
            for t in range(L):
                total += gp[t]
            gb[o] += total
            for c in range(C):
                for i in range(kh):
                    for j in range(kw):
                        s0 = ((b * C + c) * Hp + i * dh) * Wp + j * dw
                        xs = xp[s0:s0 + L]
                        total = zero
                        for t in range(L):
                            total += gp[t] * xs[t]
                        gw[((o * C + c) * kh + i) * kw + j] += total
