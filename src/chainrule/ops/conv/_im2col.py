"""The array routines behind every convolution: im2col, the GEMMs and col2im, on raw arrays.

Three routines do all the work, for 2-D inputs (a 1-D convolution is a 2-D one over a height
of 1):

- ``_conv_forward``: im2col (one copy from a strided window view) + ONE GEMM per group;
- ``_conv_weight_grad``: im2col again + one GEMM per group (and the bias gradient, summed from
  the same rows while they are in cache);
- ``_conv_input_grad``: for stride 1 a "full" convolution of the output gradient with the
  flipped kernel (``_conv_forward`` again); otherwise one GEMM per group + col2im (one strided
  add per kernel offset, no ``np.add.at``).

conv_transpose2d is the adjoint of conv2d, so its forward is ``_conv_input_grad`` and its
backward uses the other two.

Layout: the column matrix has one row per output pixel, (N * Ho * Wo, kh * kw * C), and the GEMM
``cols @ W`` writes the output channels-last, (N, Ho, Wo, O) in memory, returned as an
(N, O, Ho, Wo) view; OpenBLAS runs this orientation 1.3-1.5x faster than ``W @ cols`` for these
shapes. Channels-last activations also make the next im2col copy long runs (see
:class:`_Im2col`), and pooling keeps the layout of its input.

The batch is cut into chunks whose column matrix fits in a core's cache, and the chunks run on a
few threads (NumPy's copies and BLAS release the GIL); see :func:`_chunked`.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from chainrule.ops import _threads

# --- geometry and layout ---

Pads = tuple[int, int, int, int]  # (top, bottom, left, right)


def _out_len(size: int, k: int, s: int, lo: int, hi: int, d: int) -> int:
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def _window(offset: int, stride: int, count: int) -> slice:
    """Rows ``offset, offset + stride, ...`` (``count`` of them)."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


class _Im2col:
    """The column matrices of x (N, C, H, W) for one convolution, chunk by chunk of the batch.

    ``cols(lo, hi)`` is (groups, n * Ho * Wo, K) with K = kh * kw * C / groups: one row per output
    pixel (n, y, x), one column per kernel tap, copied from a strided window view of the padded
    input (no ``np.add.at``, no Python loop over pixels). Two memory layouts, whichever copies in
    longer contiguous runs:

    - channels-last, padded input (N, Hp, Wp, C): columns in (i, j, c) order; a window row (j, c)
      is one run of kw * C values. For many channels.
    - channels-first, padded input (C, N, Hp, Wp): columns in (c, i, j) order, PyTorch's weight
      order; the copy runs along output rows (Wo values). For few channels (an RGB image).

    Padding is written chunk by chunk too, so that threads share it.
    """

    force_channels_last: bool | None = None  # None: choose by run length (tests force both)

    def __init__(self, x: np.ndarray, k: tuple[int, int], stride: tuple[int, int], pads: Pads,
                 dilation: tuple[int, int], out_hw: tuple[int, int], groups: int) -> None:
        N, C, H, W = x.shape
        (kh, kw), (sh, sw), (dh, dw), (ho, wo) = k, stride, dilation, out_hw
        t, b, left, r = pads
        assert (ho - 1) * sh + (kh - 1) * dh < H + t + b
        assert (wo - 1) * sw + (kw - 1) * dw < W + left + r
        self.x, self.pads, self.groups, self.out_hw = x, pads, groups, out_hw
        self.shape = (k, C // groups)
        cg = C // groups
        # NOTE: NumPy copies strided data one contiguous run at a time, at a fixed cost per run:
        # pick the layout with the longer runs. Channels-last merges a window row (j, c) into one
        # run of kw * C values only with groups=1 and no dilation; otherwise runs are C / groups.
        run = kw * C if groups == 1 and dw == 1 else cg
        self.channels_last = (run >= wo if self.force_channels_last is None
                              else self.force_channels_last)
        self.fill = bool(t or b or left or r)
        if self.channels_last:
            xp = (np.empty((N, H + t + b, W + left + r, C), x.dtype) if self.fill
                  else x.transpose(0, 2, 3, 1))
            s_n, s_h, s_w, s_c = xp.strides
            self.win = as_strided(xp, (N, ho, wo, groups, kh, kw, cg),
                                  (s_n, sh * s_h, sw * s_w, cg * s_c, dh * s_h, dw * s_w, s_c),
                                  writeable=False)
        else:
            xp = (np.empty((C, N, H + t + b, W + left + r), x.dtype) if self.fill
                  else x.transpose(1, 0, 2, 3))
            s_c, s_n, s_h, s_w = xp.strides
            self.win = as_strided(xp, (groups, cg, kh, kw, N, ho, wo),
                                  (cg * s_c, s_c, dh * s_h, dw * s_w, s_n, sh * s_h, sw * s_w),
                                  writeable=False)
        self.xp = xp

    def keep_padding(self) -> None:
        """Every chunk was padded once: later ``cols`` calls reuse the padded copy."""
        self.fill = False

    def cols(self, lo: int, hi: int) -> np.ndarray:
        """The column matrices of samples lo:hi, (groups, n * Ho * Wo, K)."""
        (kh, kw), cg = self.shape
        if self.fill:
            self._fill(lo, hi)
        if self.channels_last:
            return self.win[lo:hi].reshape(-1, self.groups, kh * kw * cg).transpose(1, 0, 2)
        return self.win[:, :, :, :, lo:hi].reshape(self.groups, kh * kw * cg, -1).transpose(0, 2, 1)

    def _fill(self, lo: int, hi: int) -> None:
        """Samples lo:hi of the padded input: x inside, zeros around."""
        t, _, left, _ = self.pads
        H, W = self.x.shape[2:]
        if self.channels_last:
            dst, src = self.xp[lo:hi], self.x[lo:hi].transpose(0, 2, 3, 1)
            dst[:, :t] = 0
            dst[:, t + H:] = 0
            dst[:, t:t + H, :left] = 0
            dst[:, t:t + H, left + W:] = 0
            dst[:, t:t + H, left:left + W] = src
        else:
            dst, src = self.xp[:, lo:hi], self.x[lo:hi].transpose(1, 0, 2, 3)
            dst[:, :, :t] = 0
            dst[:, :, t + H:] = 0
            dst[:, :, t:t + H, :left] = 0
            dst[:, :, t:t + H, left + W:] = 0
            dst[:, :, t:t + H, left:left + W] = src

    def weight_matrix(self, w: np.ndarray) -> np.ndarray:
        """w (O, C / groups, kh, kw) as (groups, K, O / groups), rows in the columns' order."""
        O, cg, kh, kw = w.shape
        wg = w.reshape(self.groups, O // self.groups, cg, kh, kw)
        if self.channels_last:
            wg = wg.transpose(0, 3, 4, 2, 1)
        else:
            wg = wg.transpose(0, 2, 3, 4, 1)
        return wg.reshape(self.groups, kh * kw * cg, O // self.groups)

    def weight_grad(self, gm: np.ndarray) -> np.ndarray:
        """(groups, O / groups, K) in the columns' order as (O, C / groups, kh, kw)."""
        (kh, kw), cg = self.shape
        groups, og = gm.shape[:2]
        if self.channels_last:
            gm = gm.reshape(groups, og, kh, kw, cg).transpose(0, 1, 4, 2, 3)
        return gm.reshape(groups * og, cg, kh, kw)


def _rows(a: np.ndarray, lo: int, hi: int, groups: int) -> np.ndarray:
    """Samples lo:hi of a channels-last (N, H, W, C) array as (groups, n * H * W, C / groups)
    (a copy only when a is not contiguous)."""
    return a[lo:hi].reshape(-1, groups, a.shape[3] // groups).transpose(1, 0, 2)


def _bias_grad(g: np.ndarray) -> np.ndarray:
    """g (N, C, H, W) summed over all but C."""
    gt = g.transpose(0, 2, 3, 1)
    if gt.flags.c_contiguous:
        # NOTE: a GEMV with a ones vector: about 10x faster than ndarray.sum over the (N, H, W)
        # axes of a channels-last array (float32 accumulation, as PyTorch's).
        rows = gt.reshape(-1, g.shape[1])
        with _threads._OpenBLAS.single_threaded():
            return np.ones(rows.shape[0], g.dtype) @ rows
    return g.sum(axis=(0, 2, 3))


def _view(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a.reshape(shape)`` that must not copy (the result is written into)."""
    return np.reshape(a, shape, copy=False)


# --- the three routines ---


def _im2col_of(x: np.ndarray, w_shape: tuple[int, ...], stride: tuple[int, int], pads: Pads,
               dilation: tuple[int, int], groups: int, out_hw: tuple[int, int] | None = None
               ) -> _Im2col:
    """The column source of conv(x, w); ``out_hw`` defaults to the full output."""
    H, W = x.shape[2:]
    kh, kw = w_shape[2:]
    if out_hw is None:
        out_hw = (_out_len(H, kh, stride[0], pads[0], pads[1], dilation[0]),
                  _out_len(W, kw, stride[1], pads[2], pads[3], dilation[1]))
    return _Im2col(x, (kh, kw), stride, pads, dilation, out_hw, groups)


def _conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, int],
                  pads: Pads, dilation: tuple[int, int], groups: int,
                  out_hw: tuple[int, int] | None = None, im2col: _Im2col | None = None
                  ) -> np.ndarray:
    """y = conv(x, w) + b for x (N, C, H, W), w (O, C / groups, kh, kw).

    Returns (N, O, Ho, Wo) as a view of a channels-last (N, Ho, Wo, O) array, which the GEMMs
    ``cols @ W`` write directly. ``out_hw`` computes only the first rows/columns of the output
    (for conv_transpose's backward). ``im2col``: the column source to use (see
    :func:`_im2col_of`), so that the weight gradient can reuse its padded input.
    """
    N, C, H, W = x.shape
    O, cg, kh, kw = w.shape
    if im2col is None:
        im2col = _im2col_of(x, w.shape, stride, pads, dilation, groups, out_hw)
    ho, wo = im2col.out_hw
    wm = im2col.weight_matrix(w)
    out = np.empty((N, ho, wo, O), x.dtype)
    # NOTE: the bias repeated along an output row, added to rows of wo * O values: 2-3x faster
    # than broadcasting over runs of O values.
    bias_row = None if b is None else np.tile(b, wo)

    def work(lo: int, hi: int, slot: int) -> None:
        dst = out[lo:hi]
        np.matmul(im2col.cols(lo, hi), wm, out=_rows(dst, 0, hi - lo, groups))
        if bias_row is not None:
            rows = _view(dst, (-1, wo * O))
            rows += bias_row

    _threads._chunked(N, ho * wo * C * kh * kw * x.itemsize, work)
    return out.transpose(0, 3, 1, 2)


def _conv_weight_grad(x: np.ndarray, g: np.ndarray, w_shape: tuple[int, ...],
                      stride: tuple[int, int], pads: Pads, dilation: tuple[int, int],
                      groups: int, bias: bool = False, im2col: _Im2col | None = None
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """The gradients of conv(x, w) + b with respect to w (O, C / groups, kh, kw) and, if
    ``bias``, b (O,), given g; ``im2col`` as in :func:`_conv_forward`."""
    N, C = x.shape[:2]
    O, cg, kh, kw = w_shape
    ho, wo = g.shape[2:]
    if im2col is None:
        im2col = _im2col_of(x, w_shape, stride, pads, dilation, groups, (ho, wo))
    gt = g.transpose(0, 2, 3, 1)
    # per thread slot: the weight gradient (groups, O / groups, K) and the bias gradient
    partial: list[list[np.ndarray] | None] = [None] * _threads._THREADS
    ones = np.ones(N * ho * wo if bias else 0, g.dtype)

    def work(lo: int, hi: int, slot: int) -> None:
        rows = _rows(gt, lo, hi, groups)
        sums = [np.matmul(rows.transpose(0, 2, 1), im2col.cols(lo, hi))]
        if bias:
            # NOTE: the bias gradient as a GEMV with a ones vector over rows still in cache
            # (float32 accumulation, as PyTorch's).
            sums.append(np.matmul(ones[:rows.shape[1]], rows).reshape(O))
        acc = partial[slot]
        if acc is None:
            partial[slot] = sums
        else:
            for a, s in zip(acc, sums):
                a += s

    _threads._chunked(N, ho * wo * C * kh * kw * x.itemsize, work)
    if partial[0] is None:  # an empty batch
        return np.zeros(w_shape, x.dtype), (np.zeros(O, g.dtype) if bias else None)
    total = partial[0]
    for p in partial[1:]:
        if p is not None:
            for a, s in zip(total, p):
                a += s
    return im2col.weight_grad(total[0]), (total[1] if bias else None)


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
        np.matmul(_rows(gt, lo, hi, groups), wm,
                  out=_view(cols, (-1, groups, kh * kw * cg)).transpose(1, 0, 2))
        dst = gxp[lo:hi].reshape(n, *gxp.shape[1:3], groups, cg)
        for i in range(kh):
            for j in range(kw):  # col2im
                dst[:, _window(i * dh, sh, ho), _window(j * dw, sw, wo)] += cols[:, :, :, :, i, j]

    _threads._chunked(N, ho * wo * C * kh * kw * g.itemsize, work)
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
        cols = np.matmul(wm, _rows(gt, lo, hi, 1)[0].T).reshape(kh, kw, C, hi - lo, ho, wo)
        dst = gxp[:, lo:hi]
        for i in range(kh):
            for j in range(kw):  # col2im
                dst[:, :, _window(i * dh, sh, ho), _window(j * dw, sw, wo)] += cols[i, j]

    _threads._chunked(N, ho * wo * C * kh * kw * g.itemsize, work)
    gx = np.empty((N, H, W, C), g.dtype)
    np.copyto(gx.transpose(3, 0, 1, 2), gxp[:, :, t:t + H, left:left + W])
    return gx.transpose(0, 3, 1, 2)
