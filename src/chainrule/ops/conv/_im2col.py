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
backward uses the other two. ``_conv_input_grad`` and col2im are in ``_col2im.py``.

With the compiled kernels (:mod:`chainrule._jit`, :mod:`._kernels`) im2col and col2im are
kernels that handle padding inline (no padded copy), and a convolution with very few input
channels (LeNet's first layer) runs directly, without columns; the NumPy code here stays the
reference that tests compare them with.

Layout: the column matrix has one row per output pixel, (N * Ho * Wo, kh * kw * C), and the GEMM
``cols @ W`` writes the output channels-last, (N, Ho, Wo, O) in memory, returned as an
(N, O, Ho, Wo) view; OpenBLAS ran this orientation 1.3-1.5x faster than ``W @ cols`` for these
shapes (the GEMMs now go to MKL when it is there, see :func:`_matmul`). Channels-last
activations also make the next im2col copy long runs (see :class:`_Im2col`), and pooling keeps
the layout of its input.

The batch is cut into chunks whose column matrix fits in a core's cache, and the chunks run on a
few threads (NumPy's copies and BLAS release the GIL); see :func:`_chunked`.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from chainrule import _jit, _mkl
from chainrule.ops import _threads
from chainrule.ops.conv import _kernels
from chainrule.ops.elementwise.rectifier import relu_in_place


def _matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.matmul(a, b, out=out)`` for the GEMMs here: 2-D, or (groups, m, k) @ (groups, k, n)
    stacks; one matrix each (groups=1) through MKL when it takes the product (``_mkl.matmul``;
    in a chunk of our threads, one sequential call on this thread).

    NOTE: these GEMMs ran in NumPy's OpenBLAS until MKL came for the Linear layers. Through
    MKL, in one process against PyTorch (random order, 8-15 rounds): the CIFAR CNN's step
    1.279x -> 1.179x PyTorch's time, LeNet-5's step 1.328x -> 1.248x, its no_grad forward
    1.072x -> 1.057x (its first conv, one input channel, runs directly without a GEMM).
    """
    if a.ndim == 3 and b.ndim == 3 and a.shape[0] == b.shape[0] == 1:
        if out is None:
            return _mkl.matmul(a[0], b[0])[None]
        if out.shape[0] == 1:
            _mkl.matmul(a[0], b[0], out=out[0])
            return out
    if a.ndim == 2 and b.ndim == 2:
        return _mkl.matmul(a, b, out=out)
    return np.matmul(a, b, out=out)


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
        self.compiled = _jit.enabled(x.dtype)
        if self.compiled:
            self.geometry = (kh, kw, sh, sw, dh, dw, t, left)
            self._compiled_source()
            return
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

    def _compiled_source(self) -> None:
        """The kernels' input (see :mod:`._kernels`), flat, in the layout that needs no copy."""
        x = self.x
        N, C, H, W = x.shape
        nhwc = x.transpose(0, 2, 3, 1)
        kh, kw, sh, sw, dh, dw = self.geometry[:6]
        self.direct = False
        if self.force_channels_last is None:
            # NOTE: the kernels copy runs of x's contiguous axis, so the layout follows x's
            # memory: channels-last columns from a channels-last x with 2+ channels per group,
            # channels-first ones (runs along rows) otherwise. Neither layout copies x then.
            # One input channel and stride 1: no columns at all (see _conv_forward).
            if nhwc.flags.c_contiguous or not x.flags.c_contiguous:
                self.channels_last = C // self.groups > 1
            else:
                self.channels_last = False
            self.direct = C == 1 and self.groups == 1 and (sh, sw) == (1, 1)
        layout = nhwc if self.channels_last else x
        self.src = np.ascontiguousarray(layout).reshape(-1)
        if self.direct:
            (ho, wo) = self.out_hw
            self.planes_hw = (ho + (kh - 1) * dh, wo + (kw - 1) * dw)

    def cols(self, lo: int, hi: int) -> np.ndarray:
        """The column matrices of samples lo:hi, (groups, n * Ho * Wo, K)."""
        (kh, kw), cg = self.shape
        if self.compiled:
            return self._compiled_cols(lo, hi)
        if self.fill:
            self._fill(lo, hi)
        if self.channels_last:
            return self.win[lo:hi].reshape(-1, self.groups, kh * kw * cg).transpose(1, 0, 2)
        return self.win[:, :, :, :, lo:hi].reshape(self.groups, kh * kw * cg, -1).transpose(0, 2, 1)

    def _compiled_cols(self, lo: int, hi: int) -> np.ndarray:
        """:meth:`cols` by :func:`_kernels.im2col_last` or :func:`_kernels.im2col_first`."""
        (kh, kw), cg = self.shape
        N, C, H, W = self.x.shape
        groups, (ho, wo), n = self.groups, self.out_hw, hi - lo
        if self.channels_last:
            out = np.empty((n, ho, wo, C * kh * kw), self.x.dtype)
            _kernels.im2col_last(self.src, lo, H, W, C, groups, *self.geometry, n, ho, wo,
                                 _view(out, (-1,)))
            return out.reshape(-1, groups, kh * kw * cg).transpose(1, 0, 2)
        out = np.empty((C * kh * kw, n, ho, wo), self.x.dtype)
        _kernels.im2col_first(self.src, lo, C, H, W, *self.geometry, n, ho, wo,
                              _view(out, (-1,)))
        return out.reshape(groups, kh * kw * cg, -1).transpose(0, 2, 1)

    def planes(self, lo: int, hi: int) -> np.ndarray:
        """Samples lo:hi zero-padded for the direct kernels: (n, C, Hp, Wp), flat."""
        N, C, H, W = self.x.shape
        hp, wp = self.planes_hw
        xp = np.empty((hi - lo) * C * hp * wp, self.x.dtype)
        _kernels.pad_planes(self.src, lo, C, H, W, self.pads[0], self.pads[2], hp, wp, hi - lo,
                            xp)
        return xp

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
                  out_hw: tuple[int, int] | None = None, im2col: _Im2col | None = None,
                  relu: bool = False) -> np.ndarray:
    """y = conv(x, w) + b for x (N, C, H, W), w (O, C / groups, kh, kw); with ``relu``,
    max(y, 0) (NaN kept), each chunk rectified right after its GEMM, in cache.

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
    out = np.empty((N, ho, wo, O), x.dtype)
    if im2col.compiled and im2col.direct:
        _direct_forward(im2col, w, b, out, relu)
        return out.transpose(0, 3, 1, 2)
    wm = im2col.weight_matrix(w)
    # NOTE: the bias repeated along an output row, added to rows of wo * O values: 2-3x faster
    # than broadcasting over runs of O values.
    bias_row = None if b is None else np.tile(b, wo)

    def work(lo: int, hi: int, slot: int) -> None:
        dst = out[lo:hi]
        _matmul(im2col.cols(lo, hi), wm, out=_rows(dst, 0, hi - lo, groups))
        if bias_row is not None:
            rows = _view(dst, (-1, wo * O))
            rows += bias_row
        if relu:
            relu_in_place(dst)

    _threads._chunked(N, ho * wo * C * kh * kw * x.itemsize, work, claim=True)
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
    if im2col.compiled and im2col.direct:
        return _direct_weight_grad(im2col, g, w_shape, bias)
    gt = g.transpose(0, 2, 3, 1)
    # per thread slot: the weight gradient (groups, O / groups, K) and the bias gradient
    partial: list[list[np.ndarray] | None] = [None] * _threads._THREADS
    ones = np.ones(N * ho * wo if bias else 0, g.dtype)

    def work(lo: int, hi: int, slot: int) -> None:
        rows = _rows(gt, lo, hi, groups)
        sums = [_matmul(rows.transpose(0, 2, 1), im2col.cols(lo, hi))]
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


# --- direct convolution (compiled only) ---


def _direct_forward(im2col: _Im2col, w: np.ndarray, b: np.ndarray | None,
                    out: np.ndarray, relu: bool) -> None:
    """out (N, Ho, Wo, O) = conv(x, w) + b by :func:`_kernels.direct_forward`, rectified if
    ``relu``."""
    N, C = im2col.x.shape[:2]
    O, _, kh, kw = w.shape
    (ho, wo), (hp, wp), (dh, dw) = im2col.out_hw, im2col.planes_hw, im2col.geometry[4:6]
    bias = np.zeros(O, w.dtype) if b is None else b
    wf = np.ascontiguousarray(w).reshape(-1)
    flat = _view(out, (-1,))

    def work(lo: int, hi: int, slot: int) -> None:
        acc = np.empty(O * ((ho - 1) * wp + wo), w.dtype)
        _kernels.direct_forward(im2col.planes(lo, hi), wf, bias, hi - lo, C, O, kh, kw, dh, dw,
                                hp, wp, ho, wo, acc, lo, flat)
        if relu:
            relu_in_place(out[lo:hi])

    _threads._chunked(N, ho * wo * C * kh * kw * w.itemsize, work, claim=True)


def _direct_weight_grad(im2col: _Im2col, g: np.ndarray, w_shape: tuple[int, ...], bias: bool
                        ) -> tuple[np.ndarray, np.ndarray | None]:
    """The weight and bias gradients of :func:`_direct_forward` by
    :func:`_kernels.direct_weight_grad`, summed over the thread slots."""
    N, C = im2col.x.shape[:2]
    O, _, kh, kw = w_shape
    (ho, wo), (hp, wp), (dh, dw) = im2col.out_hw, im2col.planes_hw, im2col.geometry[4:6]
    gt = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).reshape(-1)
    partial = np.zeros((_threads._THREADS, O * C * kh * kw + O), g.dtype)

    def work(lo: int, hi: int, slot: int) -> None:
        gplane = np.empty(O * ((ho - 1) * wp + wo), g.dtype)
        acc = partial[slot]
        _kernels.direct_weight_grad(im2col.planes(lo, hi), gt, hi - lo, C, O, kh, kw, dh, dw,
                                    hp, wp, ho, wo, gplane, lo, acc[:-O], acc[-O:])

    _threads._chunked(N, ho * wo * C * kh * kw * g.itemsize, work)
    total = partial.sum(axis=0)
    return total[:-O].reshape(w_shape), (total[-O:] if bias else None)

