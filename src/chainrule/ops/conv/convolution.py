"""The convolution primitives Conv (conv1d, conv2d) and ConvTranspose (conv_transpose1d/2d)
and their functional forms; the array work is in ``_im2col.py`` and ``_col2im.py`` (compiled
kernels in ``_kernels.py``), the argument checks in ``_args.py``."""

from __future__ import annotations

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops.conv._args import (
    _batched,
    _check_conv,
    _check_out,
    _conv_pads,
    _ntuple,
)
from chainrule.ops.conv._col2im import _conv_input_grad
from chainrule.ops.conv._im2col import (
    _bias_grad,
    _conv_forward,
    _conv_weight_grad,
    _im2col_of,
    _out_len,
)
from chainrule.ops.elementwise.rectifier import relu_grad_array

# --- primitives ---


def _as_2d(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D convolution's arrays as those of a 2-D one over a height of 1."""
    return x[:, :, None], w[:, :, None]


def _conv_primitive_forward(ctx, x, w, b, stride, pads, dilation, groups, relu):
    """Conv's forward (rectified if ``relu``); saves what its backward needs."""
    ctx.one_d = x.ndim == 3
    if ctx.one_d:
        x, w = _as_2d(x, w)
    ctx.x, ctx.w, ctx.geometry = x, w, (stride, pads, dilation, groups)
    im2col = _im2col_of(x, w.shape, stride, pads, dilation, groups)
    y = _conv_forward(x, w, b, stride, pads, dilation, groups, im2col=im2col, relu=relu)
    if ctx.needs_input_grad[1]:
        # NOTE: the weight gradient reads the same columns: keeping the padded input (one
        # copy of x) saves padding it again.
        im2col.keep_padding()
        ctx.im2col = im2col
    return y[:, :, 0] if ctx.one_d else y


class Conv(Function):
    # NOTE: fused for speed: conv1d and conv2d (with bias) as im2col + one GEMM per group, with
    # hand-written backward; a 1-D input (N, C, L) runs as (N, C, 1, L).
    @staticmethod
    def forward(ctx, x, w, b, stride, pads, dilation, groups):
        return _conv_primitive_forward(ctx, x, w, b, stride, pads, dilation, groups, False)

    @staticmethod
    def backward(ctx, grad):
        nx, nw, nb = ctx.needs_input_grad[:3]
        g = grad[:, :, None] if ctx.one_d else grad
        gx = _conv_input_grad(g, ctx.w, ctx.x.shape, *ctx.geometry) if nx else None
        gw = gb = None
        if nw:
            gw, gb = _conv_weight_grad(ctx.x, g, ctx.w.shape, *ctx.geometry, bias=nb,
                                       im2col=ctx.im2col)
        elif nb:
            gb = _bias_grad(g)
        if ctx.one_d:
            gx = None if gx is None else gx[:, :, 0]
            gw = None if gw is None else gw[:, :, 0]
        return gx, gw, gb, None, None, None, None


class ConvReLU(Function):
    # NOTE: relu(conv(x, w) + b), a convolution layer and the ReLU after it (see
    # nn.Sequential): each chunk of the batch is rectified right after its GEMM, while it is in
    # cache, instead of in a pass of its own over the whole output. Only relu's output is
    # kept, as the two ops would keep it.
    @staticmethod
    def forward(ctx, x, w, b, stride, pads, dilation, groups):
        ctx.y = y = _conv_primitive_forward(ctx, x, w, b, stride, pads, dilation, groups, True)
        return y

    @staticmethod
    def backward(ctx, grad):
        return Conv.backward(ctx, relu_grad_array(grad, ctx.y))


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
        gx = gw = im2col = None
        if nx or nw:  # NOTE: both read the same columns of g: pad g once (as Conv does with x)
            im2col = _im2col_of(g, ctx.w.shape, *ctx.geometry, out_hw=x.shape[2:])
        if nx:
            gx = _conv_forward(g, ctx.w, None, *ctx.geometry, im2col=im2col)
            im2col.keep_padding()
        if nw:
            gw = _conv_weight_grad(g, x, ctx.w.shape, *ctx.geometry, im2col=im2col)[0]
        gb = _bias_grad(g) if nb else None
        if ctx.one_d:
            gx = None if gx is None else gx[:, :, 0]
            gw = None if gw is None else gw[:, :, 0]
        return gx, gw, gb, None, None, None, None, None


# --- functional forms ---


def _conv(input, weight, bias, stride, padding, dilation, groups, n: int, where: str,
          relu: bool = False):
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
    y = (ConvReLU if relu else Conv).apply(x, weight, bias, stride, pads, dilation, int(groups))
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
