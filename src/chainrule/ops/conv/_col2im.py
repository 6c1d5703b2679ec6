"""The input gradient of a convolution (and so conv_transpose's forward): col2im, on raw arrays.

Three NumPy routes, chosen by shape (see :func:`_conv_input_grad`): a channels-first col2im
for few input channels, a "full" convolution of the output gradient for stride 1, a
channels-last col2im otherwise. With the compiled kernels (:mod:`._kernels`) one route does
all: a GEMM and a col2im kernel that adds the columns straight into the unpadded gradient
(:func:`_col2im_compiled`).
"""

from __future__ import annotations

import numpy as np

from chainrule import _jit
from chainrule.ops import _threads
from chainrule.ops.conv import _kernels
from chainrule.ops.conv._im2col import (
    Pads,
    _conv_forward,
    _matmul,
    _rows,
    _view,
    _window,
)


def _conv_input_grad(g: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...],
                     stride: tuple[int, int], pads: Pads, dilation: tuple[int, int],
                     groups: int) -> np.ndarray:
    """The gradient of conv(x, w) with respect to x (N, C, H, W), given g (N, O, Ho, Wo)."""
    N, C, H, W = x_shape
    O, cg, kh, kw = w.shape
    og = O // groups
    (dh, dw) = dilation
    ho, wo = g.shape[2:]
    # the padding of g that makes a stride-1 convolution of g come out (H, W)
    full = (dh * (kh - 1) - pads[0], H - ho + pads[0], dw * (kw - 1) - pads[2], W - wo + pads[2])
    if _jit.enabled(g.dtype):
        # NOTE: the compiled col2im adds runs of kw * C values in place, no padded copy:
        # measured 2-3x faster than the NumPy routes below for LeNet's second layer (and
        # 1.3-2x faster than a compiled channels-first col2im); for 3x3 kernels on 32-64
        # channels, 0-10% faster than the full convolution with compiled im2col.
        return _col2im_compiled(g, w, x_shape, stride, pads, dilation, groups)
    # NOTE: with few input channels the GEMMs below would produce only C columns (slow in BLAS),
    # so col2im goes channels-first: one GEMM (kh * kw * C, O) @ (O, pixels), adds in runs of
    # Wo values (measured: 1.5x faster for LeNet's 5x5 kernel from 6 to 16 channels, 1.7x from
    # 3 channels; 2x slower from 16 channels).
    if groups == 1 and C <= 8:
        return _col2im_channels_first(g, w, x_shape, stride, pads, dilation)
    # NOTE: with stride 1 the input gradient is also a "full" convolution of g with the flipped,
    # channel-swapped kernel: im2col copies in runs of kw * O values instead of col2im's adds in
    # runs of C values, which cost about 3x more per value (measured: 1.5-2x faster for 3x3
    # kernels on 32-64 channels).
    if stride == (1, 1) and min(full) >= 0:
        flipped = w.reshape(groups, og, cg, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
        return _conv_forward(g, flipped.reshape(C, og, kh, kw), None, stride, full, dilation,
                             groups)
    t, _, left, _ = pads
    gxp = np.zeros((N, H + pads[0] + pads[1], W + pads[2] + pads[3], C), g.dtype)
    gt = g.transpose(0, 2, 3, 1)
    wm = w.reshape(groups, og, cg, kh, kw).transpose(0, 1, 3, 4, 2).reshape(groups, og, -1)
    (sh, sw) = stride

    def work(lo: int, hi: int, slot: int) -> None:
        n = hi - lo
        cols = np.empty((n, ho, wo, groups, kh, kw, cg), g.dtype)
        _matmul(_rows(gt, lo, hi, groups), wm,
                  out=_view(cols, (-1, groups, kh * kw * cg)).transpose(1, 0, 2))
        dst = gxp[lo:hi].reshape(n, *gxp.shape[1:3], groups, cg)
        for i in range(kh):
            for j in range(kw):  # col2im
                dst[:, _window(i * dh, sh, ho), _window(j * dw, sw, wo)] += cols[:, :, :, :, i, j]

    _threads._chunked(N, ho * wo * C * kh * kw * g.itemsize, work, claim=True)
    return gxp[:, t:t + H, left:left + W].transpose(0, 3, 1, 2)


def _col2im_channels_first(g: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...],
                           stride: tuple[int, int], pads: Pads, dilation: tuple[int, int]
                           ) -> np.ndarray:
    """:func:`_conv_input_grad` for groups=1 with the columns channels-first: (kh * kw * C,
    n * Ho * Wo) per chunk, added into a (C, N, Hp, Wp) padded gradient; returned channels-last
    like every other convolution output."""
    N, C, H, W = x_shape
    O, _, kh, kw = w.shape
    ho, wo = g.shape[2:]
    (sh, sw), (dh, dw), (t, _, left, _) = stride, dilation, pads
    gxp = np.zeros((C, N, H + pads[0] + pads[1], W + pads[2] + pads[3]), g.dtype)
    gt = g.transpose(0, 2, 3, 1)
    wm = w.transpose(2, 3, 1, 0).reshape(kh * kw * C, O)

    def work(lo: int, hi: int, slot: int) -> None:
        cols = _matmul(wm, _rows(gt, lo, hi, 1)[0].T).reshape(kh, kw, C, hi - lo, ho, wo)
        dst = gxp[:, lo:hi]
        for i in range(kh):
            for j in range(kw):  # col2im
                dst[:, :, _window(i * dh, sh, ho), _window(j * dw, sw, wo)] += cols[i, j]

    _threads._chunked(N, ho * wo * C * kh * kw * g.itemsize, work, claim=True)
    gx = np.empty((N, H, W, C), g.dtype)
    np.copyto(gx.transpose(3, 0, 1, 2), gxp[:, :, t:t + H, left:left + W])
    return gx.transpose(0, 3, 1, 2)


def _col2im_compiled(g: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...],
                     stride: tuple[int, int], pads: Pads, dilation: tuple[int, int], groups: int
                     ) -> np.ndarray:
    """:func:`_conv_input_grad` by one GEMM per group and chunk, (n * Ho * Wo, O) @ (O, K),
    and :func:`_kernels.col2im_last`, which adds the columns straight into the unpadded,
    channels-last gradient."""
    N, C, H, W = x_shape
    O, cg, kh, kw = w.shape
    og = O // groups
    ho, wo = g.shape[2:]
    gx = np.empty((N, H, W, C), g.dtype)
    flat = _view(gx, (-1,))
    gt = g.transpose(0, 2, 3, 1)
    wm = w.reshape(groups, og, cg, kh, kw).transpose(0, 1, 3, 4, 2).reshape(groups, og, -1)

    def work(lo: int, hi: int, slot: int) -> None:
        n = hi - lo
        cols = np.empty((n, ho, wo, C * kh * kw), g.dtype)
        _matmul(_rows(gt, lo, hi, groups), wm,
                  out=_view(cols, (-1, groups, kh * kw * cg)).transpose(1, 0, 2))
        _kernels.col2im_last(_view(cols, (-1,)), lo, H, W, C, groups, kh, kw, *stride,
                             *dilation, pads[0], pads[2], n, ho, wo, flat)

    _threads._chunked(N, ho * wo * C * kh * kw * g.itemsize, work, claim=True)
    return gx.transpose(0, 3, 1, 2)
