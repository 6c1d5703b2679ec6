"""The Transformer's position-wise feed-forward block, ``linear2(relu(linear1(x)))``, fused
(optionally with the residual connection around it, ``x + linear2(relu(linear1(x)))``)."""

# NOTE: fused for speed. Unfused, the (rows, dim_feedforward) hidden activations pass through
# memory five times on one thread (bias, relu, and in the backward the relu mask, the bias
# gradient and the product); here the rows are split over a few threads, each running its own
# GEMMs (weight gradients as one partial sum per part, added at the end) and the elementwise
# passes between them. No GEMM is left to OpenBLAS's own threads, which spin on a busy machine.
# The GEMMs go to MKL (single-threaded on each of our threads) when the fast extra installed
# it: the whole step of the Transformer benchmark took ~10% less CPU (125.7 -> 113.1 ms with
# the in-projection's GEMMs also moved, same process, load ~8).
# The arithmetic is Linear's and relu's, in the same order. With ``residual`` the sum with x
# is made by the same threads, and its gradient is added to x's there too instead of by the
# engine in another pass over memory.

from __future__ import annotations

import numpy as np

from chainrule import _jit, _mkl
from chainrule.autograd.function import Function
from chainrule.ops import _threads
from chainrule.ops.attention import _kernels
from chainrule.ops.attention.scaled_dot_product import _per_thread
from chainrule.tensor import Tensor


class FeedForward(Function):
    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, residual):
        x2 = x.reshape(-1, x.shape[-1])
        h = np.empty((x2.shape[0], w1.shape[0]), x.dtype)
        y = np.empty((x2.shape[0], w2.shape[0]), x.dtype)
        fast = _jit.enabled(x.dtype)
        bk = _jit.dense(b1, x.dtype) if fast else None

        def work(lo, hi, part):
            hc, yc = h[lo:hi], y[lo:hi]
            _mkl.matmul(x2[lo:hi], w1.T, out=hc)
            # NOTE: compiled, bias and relu are one pass (NumPy: two, its max with a scalar not
            # vectorised): (1024, 512) float32, 560 -> 115 us.
            if fast:
                _kernels.bias_relu_(hc, bk)
            else:
                if b1 is not None:
                    hc += b1
                np.maximum(hc, 0, out=hc)
            _mkl.matmul(hc, w2.T, out=yc)
            if b2 is not None:
                yc += b2
            if residual:
                yc += x2[lo:hi]

        _per_thread(x2.shape[0], (x2.shape[1] + h.shape[1] + y.shape[1]) * x.itemsize, work)
        ctx.x2, ctx.h, ctx.w1, ctx.w2, ctx.xshape = x2, h, w1, w2, x.shape
        ctx.residual = residual
        return y.reshape(x.shape[:-1] + (w2.shape[0],))

    @staticmethod
    def backward(ctx, grad):
        nx, nw1, nb1, nw2, nb2 = ctx.needs_input_grad[:5]
        x2, h, w1, w2 = ctx.x2, ctx.h, ctx.w1, ctx.w2
        g2 = grad.reshape(-1, w2.shape[0])
        dz = np.empty(h.shape, h.dtype)
        gx = np.empty(x2.shape, x2.dtype) if nx else None
        parts = _threads._THREADS
        gw1 = np.zeros((parts,) + w1.shape, h.dtype)
        gw2 = np.zeros((parts,) + w2.shape, h.dtype)
        gb = np.zeros((parts, h.shape[1] + g2.shape[1]), h.dtype)
        fast = _jit.enabled(h.dtype)
        # NOTE: with the kernel, b1's gradient is summed (in float64) by the pass that applies
        # relu's mask, instead of another pass over dz: (1024, 512) float32, 630 -> 250 us.
        gb1 = np.zeros((parts, h.shape[1] if nb1 else 0), np.float64) if fast else None

        def work(lo, hi, part):
            dzc, gc, hc, xc = dz[lo:hi], g2[lo:hi], h[lo:hi], x2[lo:hi]
            _mkl.matmul(gc, w2, out=dzc)
            # NOTE: relu'(0) = 0, as relu's own rule: 0 where h <= 0 (NaN passes).
            if fast:
                _kernels.relu_backward_colsum_(dzc, hc, gb1[part])
            else:
                dzc[hc <= 0] = 0
            if nx:
                _mkl.matmul(dzc, w1, out=gx[lo:hi])
                if ctx.residual:
                    gx[lo:hi] += gc
            if nw1:
                _mkl.matmul(dzc.T, xc, out=gw1[part])
            if nw2:
                _mkl.matmul(gc.T, hc, out=gw2[part])
            # NOTE: bias gradients as vector-matrix products: BLAS reads the rows once, faster
            # than NumPy's sum over axis 0.
            ones = np.ones(hi - lo, h.dtype)
            if nb1 and not fast:
                np.matmul(ones, dzc, out=gb[part, :h.shape[1]])
            if nb2:
                np.matmul(ones, gc, out=gb[part, h.shape[1]:])

        _per_thread(h.shape[0], (x2.shape[1] + 2 * h.shape[1] + g2.shape[1]) * h.itemsize, work)
        gb = gb.sum(axis=0)
        if fast and nb1:
            gb[:h.shape[1]] = gb1.sum(axis=0)
        return (gx.reshape(ctx.xshape) if nx else None, gw1.sum(axis=0) if nw1 else None,
                gb[:h.shape[1]] if nb1 else None, gw2.sum(axis=0) if nw2 else None,
                gb[h.shape[1]:] if nb2 else None, None)


def feed_forward(x: Tensor, w1: Tensor, b1: Tensor | None, w2: Tensor, b2: Tensor | None,
                 residual: bool = False) -> Tensor:
    """``linear(relu(linear(x, w1, b1)), w2, b2)``, plus ``x`` with ``residual``, as one
    primitive (the caller checks shapes and dtypes, as
    :class:`chainrule.nn.TransformerEncoderLayer` does)."""
    return FeedForward.apply(x, w1, b1, w2, b2, bool(residual))
