"""A whole recurrence in compiled code: every step's GEMM, tanh and gate math in one call.

With numba and MKL (the ``fast`` extra), each thread's part of the batch (see
``_recurrent_steps.plan``) runs its whole sequence in one call that never takes the GIL: the
GEMMs and tanh are MKL's, called from the compiled loop (:mod:`chainrule._native`), the gate
math is the step kernels of :mod:`chainrule.ops._recurrent_jit`. Otherwise each step is a few
Python calls (``recurrent_kernels``), each of which takes the GIL: with two threads running
their parts, every step made each wait for the other, and waking a waiting thread on the other
core costs ~60 us in this VM.

Imported only on the fast path (it imports numba).
"""

from __future__ import annotations

import numba
import numpy as np

from chainrule._native import gemm, table, tanh
from chainrule.ops import _recurrent_jit as steps

__all__ = ["lstm_backward", "lstm_forward", "table"]
_add_bias_rows = numba.njit(**steps.add_bias_rows.options)(steps.add_bias_rows.fn)
_lstm_cell_step = numba.njit(**steps.lstm_cell_step.options)(steps.lstm_cell_step.fn)
_lstm_backward_step = numba.njit(**steps.lstm_backward_step.options)(
    steps.lstm_backward_step.fn)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def lstm_forward(fns, offsets, lo, hi, prev, w_t, g, b, scale, shift, cprev, cout, tc, out):
    """The LSTM forward over the steps starting at rows ``offsets`` (in processing order), for
    the batch positions ``[lo, hi)``: ``g`` holds the input projections (without bias) and
    receives the gates, ``out``/``cout`` the states, ``tc`` tanh of the cells; ``prev`` and
    ``cprev`` are the states each step starts from (views of the same buffers)."""
    hidden = out.shape[1]
    tmp = np.empty((hi - lo, 4 * hidden), g.dtype)
    for o in offsets:
        a, z = o + lo, o + hi
        gt = g[a:z]
        gemm(fns, prev[a:z], w_t, tmp)
        _add_bias_rows(gt, tmp, b)
        tanh(fns, gt, gt)
        _lstm_cell_step(gt, scale, shift, cprev[a:z], cout[a:z])
        tanh(fns, cout[a:z], tc[a:z])
        for r in range(z - a):
            gr, tr, hr = gt[r], tc[a + r], out[a + r]
            for j in range(hidden):
                hr[j] = gr[3 * hidden + j] * tr[j]


@numba.njit(nogil=True, cache=True, error_model="numpy")
def lstm_backward(fns, offsets, lo, hi, dh, gout, g, tc, cprev, dc, d, w_hh):
    """Backward through time over the steps at ``offsets`` (last step first) for the batch
    positions ``[lo, hi)``: the gates' pre-activation gradients into ``d``; ``dh``/``dc`` (the
    batch's rows) carry the state gradients from step to step."""
    h, c = dh[lo:hi], dc[lo:hi]
    for o in offsets:
        a, z = o + lo, o + hi
        _lstm_backward_step(h, gout[a:z], g[a:z], tc[a:z], cprev[a:z], c, d[a:z])
        gemm(fns, d[a:z], w_hh, h)
