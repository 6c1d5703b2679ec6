"""Convolution: conv1d, conv2d and conv_transpose2d as fused primitives.

Three array routines do all the work, for 2-D inputs (a 1-D convolution is a 2-D one over a
height of 1):

- ``_conv_forward``: im2col (one copy from a strided window view) + ONE GEMM per group;
- ``_conv_weight_grad``: im2col again + one GEMM per group;
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

from chainrule.autograd.function import Function
from chainrule.ops import _threads
from chainrule.tensor import Tensor

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
        self.x, self.pads, self.groups = x, pads, groups
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


def _conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, int],
                  pads: Pads, dilation: tuple[int, int], groups: int,
                  out_hw: tuple[int, int] | None = None) -> np.ndarray:
    """y = conv(x, w) + b for x (N, C, H, W), w (O, C / groups, kh, kw).

    Returns (N, O, Ho, Wo) as a view of a channels-last (N, Ho, Wo, O) array, which the GEMMs
    ``cols @ W`` write directly. ``out_hw`` computes only the first rows/columns of the output
    (for conv_transpose's backward).
    """
    N, C, H, W = x.shape
    O, cg, kh, kw = w.shape
    if out_hw is None:
        out_hw = (_out_len(H, kh, stride[0], pads[0], pads[1], dilation[0]),
                  _out_len(W, kw, stride[1], pads[2], pads[3], dilation[1]))
    ho, wo = out_hw
    im2col = _Im2col(x, (kh, kw), stride, pads, dilation, out_hw, groups)
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
                      groups: int) -> np.ndarray:
    """The gradient of conv(x, w) with respect to w (O, C / groups, kh, kw), given g."""
    N, C = x.shape[:2]
    O, cg, kh, kw = w_shape
    ho, wo = g.shape[2:]
    im2col = _Im2col(x, (kh, kw), stride, pads, dilation, (ho, wo), groups)
    gt = g.transpose(0, 2, 3, 1)
    partial: list[np.ndarray | None] = [None] * _threads._THREADS

    def work(lo: int, hi: int, slot: int) -> None:
        p = np.matmul(_rows(gt, lo, hi, groups).transpose(0, 2, 1), im2col.cols(lo, hi))
        acc = partial[slot]
        partial[slot] = p if acc is None else np.add(acc, p, out=acc)

    _threads._chunked(N, ho * wo * C * kh * kw * x.itemsize, work)
    if partial[0] is None:  # an empty batch
        return np.zeros(w_shape, x.dtype)
    gw = partial[0]
    for p in partial[1:]:
        if p is not None:
            gw += p
    return im2col.weight_grad(gw)


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
    # NOTE: with stride 1 the input gradient is also a "full" convolution of g with the flipped,
    # channel-swapped kernel: im2col copies in runs of kw * O values instead of col2im's adds in
    # runs of C values, which cost about 3x more per value (measured: 1.5-2x faster for 3x3
    # kernels on 32-64 channels, 1.1x for LeNet's 5x5 kernel from 6 to 16 channels).
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


# --- primitives ---


def _as_2d(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D convolution's arrays as those of a 2-D one over a height of 1."""
    return x[:, :, None], w[:, :, None]


class Conv(Function):
    # NOTE: fused for speed: conv1d and conv2d (with bias) as im2col + one GEMM per group, with
    # hand-written backward; a 1-D input (N, C, L) runs as (N, C, 1, L).
    @staticmethod
    def forward(ctx, x, w, b, stride, pads, dilation, groups):
        ctx.one_d = x.ndim == 3
        if ctx.one_d:
            x, w = _as_2d(x, w)
        ctx.x, ctx.w, ctx.geometry = x, w, (stride, pads, dilation, groups)
        y = _conv_forward(x, w, b, stride, pads, dilation, groups)
        return y[:, :, 0] if ctx.one_d else y

    @staticmethod
    def backward(ctx, grad):
        nx, nw, nb = ctx.needs_input_grad[:3]
        g = grad[:, :, None] if ctx.one_d else grad
        gx = _conv_input_grad(g, ctx.w, ctx.x.shape, *ctx.geometry) if nx else None
        gw = _conv_weight_grad(ctx.x, g, ctx.w.shape, *ctx.geometry) if nw else None
        gb = _bias_grad(g) if nb else None
        if ctx.one_d:
            gx = None if gx is None else gx[:, :, 0]
            gw = None if gw is None else gw[:, :, 0]
        return gx, gw, gb, None, None, None, None


class ConvTranspose(Function):
    # NOTE: fused for speed: the adjoint of Conv (its forward is Conv's input gradient, its
    # backward Conv's forward and weight gradient), so it shares Conv's im2col/col2im and GEMMs.
    # ``out_hw`` is the output's spatial size (output_padding already added).
    @staticmethod
    def forward(ctx, x, w, b, stride, pads, dilation, groups, out_hw):
        ctx.one_d = x.ndim == 3
        if ctx.one_d:
            x, w = _as_2d(x, w)
        ctx.x, ctx.w, ctx.geometry = x, w, (stride, pads, dilation, groups)
        out_shape = (x.shape[0], w.shape[1] * groups, *out_hw)
        y = _conv_input_grad(x, w, out_shape, stride, pads, dilation, groups)
        if b is not None:
            y += b.reshape(-1, 1, 1)
        return y[:, :, 0] if ctx.one_d else y

    @staticmethod
    def backward(ctx, grad):
        nx, nw, nb = ctx.needs_input_grad[:3]
        g = grad[:, :, None] if ctx.one_d else grad
        x = ctx.x
        gx = gw = None
        if nx:
            gx = _conv_forward(g, ctx.w, None, *ctx.geometry, out_hw=x.shape[2:])
        if nw:
            gw = _conv_weight_grad(g, x, ctx.w.shape, *ctx.geometry)
        gb = _bias_grad(g) if nb else None
        if ctx.one_d:
            gx = None if gx is None else gx[:, :, 0]
            gw = None if gw is None else gw[:, :, 0]
        return gx, gw, gb, None, None, None, None, None


# --- argument checking ---


def _ntuple(value, n: int, name: str, where: str, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints (each at least ``minimum``) as an n-tuple."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        t = (int(value),) * n
    else:
        try:
            t = tuple(int(v) for v in value)
        except TypeError:
            raise TypeError(f"{where}: {name} must be an int or a tuple of {n} ints, "
                            f"got {value!r}") from None
        if len(t) == 1:
            t = t * n
        if len(t) != n:
            raise ValueError(f"{where}: {name} must be an int or a tuple of {n} ints, "
                             f"got {value!r}")
    if any(v < minimum for v in t):
        raise ValueError(f"{where}: {name} must be at least {minimum}, got {value!r}")
    return t


def _conv_pads(padding, k: tuple[int, ...], stride: tuple[int, ...],
               dilation: tuple[int, ...], where: str) -> Pads:
    """(top, bottom, left, right) for ``padding`` given as 'valid', 'same', an int or a tuple."""
    n = len(k)
    if isinstance(padding, str):
        if padding == "valid":
            pairs = [(0, 0)] * n
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{where}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride})")
            # NOTE: an odd total padding puts the extra row/column at the bottom/right, as
            # PyTorch does.
            totals = [d * (kk - 1) for d, kk in zip(dilation, k)]
            pairs = [(tot // 2, tot - tot // 2) for tot in totals]
        else:
            raise ValueError(f"{where}: padding must be 'valid', 'same', an int or a tuple of "
                             f"{n} ints, got {padding!r}")
    else:
        pairs = [(p, p) for p in _ntuple(padding, n, "padding", where, 0)]
    if n == 1:
        pairs = [(0, 0), *pairs]
    return (*pairs[0], *pairs[1])


def _check_conv(input: Tensor, weight: Tensor, bias: Tensor | None, groups: int, n: int,
                where: str, transposed: bool = False) -> None:
    dims = "(N, C, L)" if n == 1 else "(N, C, H, W)"
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{where}: input and weight must be Tensors, got "
                        f"{type(input).__name__} and {type(weight).__name__}")
    if weight.ndim != n + 2:
        raise ValueError(f"{where}: weight must have {n + 2} dims, got shape {weight.shape}")
    if input.ndim not in (n + 1, n + 2):
        raise ValueError(f"{where}: expected a {n + 2}-D input {dims} or a {n + 1}-D unbatched "
                         f"one, got shape {input.shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{where}: groups must be a positive integer, got {groups!r}")
    channels = input.shape[-n - 1]
    if transposed:
        expected, out_channels = weight.shape[0], weight.shape[1] * groups
        if weight.shape[0] % groups:
            raise ValueError(f"{where}: groups={groups} does not divide the weight's "
                             f"in_channels {weight.shape[0]} (weight shape {weight.shape})")
    else:
        expected, out_channels = weight.shape[1] * groups, weight.shape[0]
        if weight.shape[0] % groups:
            raise ValueError(f"{where}: groups={groups} does not divide out_channels "
                             f"{weight.shape[0]} (weight shape {weight.shape})")
    if channels != expected:
        raise ValueError(f"{where}: input of shape {input.shape} has {channels} channels, but "
                         f"weight of shape {weight.shape} with groups={groups} expects "
                         f"{expected}")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{where}: bias of shape {bias.shape} does not match "
                         f"out_channels={out_channels} (expected ({out_channels},))")
    if input.dtype.kind != "f" or input.dtype != weight.dtype or (
            bias is not None and bias.dtype != weight.dtype):
        raise TypeError(
            f"{where}: input ({input.dtype}), weight ({weight.dtype})"
            f"{'' if bias is None else f' and bias ({bias.dtype})'} must share one "
            "floating-point dtype (convert the input, or call model.double())")


def _check_out(out: tuple[int, ...], input: Tensor, kernel: tuple[int, ...], where: str) -> None:
    if any(o <= 0 for o in out):
        raise ValueError(f"{where}: output size {out} is not positive: input of shape "
                         f"{input.shape} is too small for kernel {kernel} with this padding, "
                         "stride and dilation")


def _batched(input: Tensor, n: int) -> tuple[Tensor, bool]:
    """The input with a batch dim (an unbatched (C, *spatial) input gets one)."""
    if input.ndim == n + 1:
        return input.unsqueeze(0), True
    return input, False


# --- functional forms ---


def _conv(input, weight, bias, stride, padding, dilation, groups, n: int, where: str):
    _check_conv(input, weight, bias, groups, n, where)
    k = tuple(weight.shape[2:])
    stride = _ntuple(stride, n, "stride", where, 1)
    dilation = _ntuple(dilation, n, "dilation", where, 1)
    pads = _conv_pads(padding, k, stride, dilation, where)
    x, unbatched = _batched(input, n)
    size = x.shape[2:]
    out = tuple(_out_len(sz, kk, s, lo, hi, d) for sz, kk, s, lo, hi, d in
                zip(size, k, stride, pads[2 * (2 - n)::2], pads[2 * (2 - n) + 1::2], dilation))
    _check_out(out, input, k, where)
    if n == 1:
        stride, dilation = (1, *stride), (1, *dilation)
    y = Conv.apply(x, weight, bias, stride, pads, dilation, int(groups))
    return y.squeeze(0) if unbatched else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) over (N, C_in, L) or unbatched (C_in, L).

    ``weight`` is (C_out, C_in / groups, kL); ``padding`` an int, a 1-tuple, 'valid' or 'same'.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> F.conv1d(chainrule.ones(2, 4, 10), chainrule.ones(8, 4, 3), padding="same").shape
    (2, 8, 10)
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over (N, C_in, H, W) or unbatched (C_in, H, W).

    ``weight`` is (C_out, C_in / groups, kH, kW); ``stride``, ``padding`` and ``dilation`` are
    ints or pairs; ``padding`` may also be 'valid' or 'same' (stride 1 only).

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> F.conv2d(chainrule.ones(2, 3, 8, 8), chainrule.ones(6, 3, 3, 3), stride=2).shape
    (2, 6, 3, 3)
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv_transpose_out_size(size: int, k: int, s: int, p: int, op: int, d: int) -> int:
    """The output length of a transposed convolution along one dim."""
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation,
                    n: int, where: str):
    _check_conv(input, weight, bias, groups, n, where, transposed=True)
    k = tuple(weight.shape[2:])
    stride = _ntuple(stride, n, "stride", where, 1)
    dilation = _ntuple(dilation, n, "dilation", where, 1)
    if isinstance(padding, str):
        raise ValueError(f"{where}: padding must be an int or a tuple of {n} ints, got "
                         f"{padding!r} (strings are for convolutions only)")
    padding = _ntuple(padding, n, "padding", where, 0)
    output_padding = _ntuple(output_padding, n, "output_padding", where, 0)
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise ValueError(f"{where}: output_padding {output_padding} must be smaller than "
                             f"either stride {stride} or dilation {dilation}")
    x, unbatched = _batched(input, n)
    out = tuple(conv_transpose_out_size(*a) for a in
                zip(x.shape[2:], k, stride, padding, output_padding, dilation))
    _check_out(out, input, k, where)
    pads = _conv_pads(padding, k, stride, dilation, where)
    if n == 1:
        stride, dilation, out = (1, *stride), (1, *dilation), (1, *out)
    y = ConvTranspose.apply(x, weight, bias, stride, pads, dilation, int(groups), out)
    return y.squeeze(0) if unbatched else y


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """1-D transposed convolution (the gradient of conv1d with respect to its input).

    ``weight`` is (C_in, C_out / groups, kL); the output is (N, C_out, L_out) with
    ``L_out = (L - 1) * stride - 2 * padding + dilation * (kL - 1) + output_padding + 1``.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> F.conv_transpose1d(chainrule.ones(2, 4, 5), chainrule.ones(4, 3, 3), stride=2).shape
    (2, 3, 11)
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 1, "conv_transpose1d")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution (the gradient of conv2d with respect to its input).

    ``weight`` is (C_in, C_out / groups, kH, kW); the output is (N, C_out, H_out, W_out) with
    ``H_out = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1``.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> F.conv_transpose2d(chainrule.ones(2, 4, 5, 5), chainrule.ones(4, 3, 3, 3), stride=2).shape
    (2, 3, 11, 11)
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2, "conv_transpose2d")
