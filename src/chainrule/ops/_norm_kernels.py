"""Compiled twins of LayerNorm's row rules in :mod:`chainrule.ops.norm` (see
:mod:`chainrule._jit`): each row of an (R, K) C-contiguous array is read once into cache and
normalised there, instead of NumPy's eight or so passes over the whole array.

An absent operand (no residual, no weight, no bias) is passed as an empty array of the same
dtype, so each kernel compiles once per dtype.
"""

from __future__ import annotations

import math

import numpy as np

from chainrule import _jit
from chainrule._jit import kernel

# NOTE: reassociation lets LLVM vectorise the row sums (16 partial sums instead of one chain:
# no less accurate than NumPy's pairwise sums on rows this short); no "nnan"/"ninf", so NaN
# and inf propagate as in the NumPy reference.
_FAST = {"reassoc", "contract", "nsz", "arcp"}


@kernel(fastmath=_FAST)
def layer_norm_rows(x, r, w, b, eps, inv_k, xc, invstd, y):
    """Rows of ``x`` (of ``x + r`` when ``r`` is not empty) normalised into ``y`` (times ``w``,
    plus ``b``, when not empty); the centred rows into ``xc`` and 1 / std into ``invstd``."""
    rows, k = x.shape
    has_r, has_w, has_b = r.shape[0] > 0, w.shape[0] > 0, b.shape[0] > 0
    zero = eps - eps
    one = zero + 1
    for i in range(rows):
        s = zero
        if has_r:
            for j in range(k):
                v = x[i, j] + r[i, j]
                xc[i, j] = v
                s += v
        else:
            for j in range(k):
                v = x[i, j]
                xc[i, j] = v
                s += v
        mean = s * inv_k
        ss = zero
        for j in range(k):
            d = xc[i, j] - mean
            xc[i, j] = d
            ss += d * d
        inv = one / math.sqrt(ss * inv_k + eps)
        invstd[i] = inv
        if has_w and has_b:
            for j in range(k):
                y[i, j] = xc[i, j] * inv * w[j] + b[j]
        elif has_w:
            for j in range(k):
                y[i, j] = xc[i, j] * inv * w[j]
        elif has_b:
            for j in range(k):
                y[i, j] = xc[i, j] * inv + b[j]
        else:
            for j in range(k):
                y[i, j] = xc[i, j] * inv


@kernel(fastmath=_FAST)
def layer_norm_rows_backward(g, xc, invstd, w, inv_k, gx, gw, gb):
    """dx of :func:`layer_norm_rows` into ``gx`` for the output gradient ``g``; adds the column
    sums of ``g * xhat`` and of ``g`` to ``gw`` and ``gb`` (float64 accumulators)."""
    rows, k = g.shape
    has_w = w.shape[0] > 0
    zero = inv_k - inv_k
    for i in range(rows):
        inv = invstd[i]
        a = zero  # rowsum(dxhat * xc), dxhat = g * w
        s = zero  # rowsum(dxhat)
        if has_w:
            for j in range(k):
                gj, cj = g[i, j], xc[i, j]
                d = gj * w[j]
                a += d * cj
                s += d
                gw[j] += gj * cj * inv
                gb[j] += gj
        else:
            for j in range(k):
                gj, cj = g[i, j], xc[i, j]
                a += gj * cj
                s += gj
                gw[j] += gj * cj * inv
                gb[j] += gj
        # dx = invstd * (dxhat - rowmean(dxhat)) - xc * invstd^3 * rowmean(dxhat * xc)
        c1 = a * inv * inv * inv * inv_k
        c2 = s * inv * inv_k
        if has_w:
            for j in range(k):
                gx[i, j] = g[i, j] * w[j] * inv - xc[i, j] * c1 - c2
        else:
            for j in range(k):
                gx[i, j] = g[i, j] * inv - xc[i, j] * c1 - c2


# --- callers: chunk work for ops/_threads.py ---


def usable(x2: np.ndarray) -> bool:
    """The kernels apply to the (R, K) rows ``x2``: numba is on, float32/64, K > 0."""
    return _jit.enabled(x2.dtype) and x2.shape[1] > 0


def forward_work(x2, r2, w, b, eps, xc, invstd, y):
    """``work(lo, hi, slot)`` running :func:`layer_norm_rows` on rows ``[lo, hi)``."""
    xk, rk, wk, bk = (_jit.dense(a, x2.dtype, nd) for a, nd in ((x2, 2), (r2, 2), (w, 1), (b, 1)))
    eps_, inv_k = x2.dtype.type(eps), x2.dtype.type(1.0 / x2.shape[1])

    def work(lo, hi, slot):
        layer_norm_rows(xk[lo:hi], rk if r2 is None else rk[lo:hi], wk, bk, eps_, inv_k,
                        xc[lo:hi], invstd[lo:hi], y[lo:hi])

    return work


def backward_work(g2, xc, invstd, w, gx, slots: int):
    """(sums, work): ``work(lo, hi, slot)`` runs :func:`layer_norm_rows_backward` on rows
    ``[lo, hi)``, adding the weight's and bias's gradients to ``sums[slot]`` (2, K)."""
    # NOTE: the kernel sums the weight's and bias's gradients row after row, in float64 (a
    # float32 running sum over thousands of rows would lose digits).
    sums = np.zeros((slots, 2, xc.shape[1]), np.float64)
    gk, wk = np.ascontiguousarray(g2), _jit.dense(w, xc.dtype, 1)
    inv_k = xc.dtype.type(1.0 / xc.shape[1])

    def work(lo, hi, slot):
        layer_norm_rows_backward(gk[lo:hi], xc[lo:hi], invstd[lo:hi], wk, inv_k, gx[lo:hi],
                                 sums[slot, 0], sums[slot, 1])

    return sums, work
