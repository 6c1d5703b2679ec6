"""A whole recurrence in compiled code: every step's GEMM, tanh and gate math in one call.

Padded and packed batches alike: ``rows`` holds each step's (first row, batch size) in the
order the steps run (see ``_recurrent_steps.Steps``).

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

from typing import Any

import numba
import numpy as np

from chainrule._jit import kernel
from chainrule._native import matmul, table, tanh
from chainrule.ops import _recurrent_jit as steps

__all__ = ["gru_backward", "gru_forward", "lstm_backward", "lstm_forward", "rnn_backward",
           "rnn_forward", "table"]


def _callable(k: kernel) -> Any:
    """A step kernel as a numba function that compiled code can call."""
    return numba.njit(**k.options)(k.fn)


_add_bias_rows = _callable(steps.add_bias_rows)
_lstm_cell_step = _callable(steps.lstm_cell_step)
_lstm_backward_step = _callable(steps.lstm_backward_step)
_gru_candidate_step = _callable(steps.gru_candidate_step)
_gru_output_step = _callable(steps.gru_output_step)
_gru_backward_step = _callable(steps.gru_backward_step)
_rnn_backward_step = _callable(steps.rnn_backward_step)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _rows(rows, k, lo, hi):
    """Step ``k``'s rows ``a:z`` for the batch positions ``[lo, hi)`` (empty: a >= z); ``rows``
    holds (first row, batch size) per step, in processing order (``Steps.rows``)."""
    o = rows[k, 0]
    return o + lo, o + min(rows[k, 1], hi)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _link(rows, k, lo, hi, prev, out, init):
    """Packed batches: the states step ``k`` starts from, into its rows of ``prev`` (as
    ``Steps.link``: the previous step's states, or ``init`` for a sequence joining here)."""
    a, z = _rows(rows, k, lo, hi)
    m = a
    if k:
        pa, pz = _rows(rows, k - 1, lo, hi)
        m = min(z, a + max(0, pz - pa))
        prev[a:m] = out[pa:pa + m - a]
    prev[m:z] = init[m - a + lo:z - a + lo]


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _step_start(fns, rows, k, lo, hi, linked, h0, prev, out, w_t, tmp):
    """Step ``k``'s rows ``a:z`` (none when a >= z), the states it starts from linked in
    (packed batches) and their product with the recurrent weights into ``tmp[:z - a]``."""
    a, z = _rows(rows, k, lo, hi)
    if a < z:
        if linked:
            _link(rows, k, lo, hi, prev, out, h0)
        matmul(fns, prev[a:z], w_t, tmp[:z - a])
    return a, z


@numba.njit(nogil=True, cache=True, error_model="numpy")
def rnn_forward(fns, rows, lo, hi, linked, h0, prev, w_t, g, b, relu, out):
    """The Elman forward over the steps ``rows`` for the batch positions ``[lo, hi)``
    (arguments as for :func:`lstm_forward`)."""
    hidden = out.shape[1]
    tmp = np.empty((hi - lo, hidden), g.dtype)
    zero = g.dtype.type(0)
    for k in range(rows.shape[0]):
        a, z = _step_start(fns, rows, k, lo, hi, linked, h0, prev, out, w_t, tmp)
        if a >= z:
            continue
        gt = g[a:z]
        _add_bias_rows(gt, tmp[:z - a], b)
        if relu:
            for r in range(z - a):
                gr, hr = gt[r], out[a + r]
                for j in range(hidden):
                    v = gr[j]
                    hr[j] = zero if v < zero else v
        else:
            tanh(fns, gt, out[a:z])


@numba.njit(nogil=True, cache=True, error_model="numpy")
def rnn_backward(fns, rows, lo, hi, dh, gout, out, relu, d, w_hh):
    """Backward through time of the Elman recurrence (arguments as for
    :func:`lstm_backward`; ``out`` holds the states)."""
    for k in range(rows.shape[0]):
        a, z = _rows(rows, k, lo, hi)
        if a >= z:
            continue
        h = dh[lo:lo + z - a]
        _rnn_backward_step(h, gout[a:z], out[a:z], relu, d[a:z])
        matmul(fns, d[a:z], w_hh, h)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def lstm_forward(fns, rows, lo, hi, linked, h0, c0, prev, w_t, g, b, scale, shift, cprev,
                 cout, tc, out):
    """The LSTM forward over the steps ``rows`` (first row, batch size; in processing order)
    for the batch positions ``[lo, hi)``: ``g`` holds the input projections (without bias) and
    receives the gates, ``out``/``cout`` the states, ``tc`` tanh of the cells; ``prev`` and
    ``cprev`` the states each step starts from (views of ``out``/``cout``'s buffers for a padded
    batch; filled as the steps run, from ``h0``/``c0`` where a sequence joins, when
    ``linked``)."""
    hidden = out.shape[1]
    tmp = np.empty((hi - lo, 4 * hidden), g.dtype)
    for k in range(rows.shape[0]):
        a, z = _step_start(fns, rows, k, lo, hi, linked, h0, prev, out, w_t, tmp)
        if a >= z:
            continue
        if linked:
            _link(rows, k, lo, hi, cprev, cout, c0)
        gt = g[a:z]
        _add_bias_rows(gt, tmp[:z - a], b)
        tanh(fns, gt, gt)
        _lstm_cell_step(gt, scale, shift, cprev[a:z], cout[a:z])
        tanh(fns, cout[a:z], tc[a:z])
        for r in range(z - a):
            gr, tr, hr = gt[r], tc[a + r], out[a + r]
            for j in range(hidden):
                hr[j] = gr[3 * hidden + j] * tr[j]


@numba.njit(nogil=True, cache=True, error_model="numpy")
def lstm_backward(fns, rows, lo, hi, dh, gout, g, tc, cprev, dc, d, w_hh):
    """Backward through time over the steps ``rows`` (last step first) for the batch
    positions ``[lo, hi)``: the gates' pre-activation gradients into ``d``; ``dh``/``dc`` (the
    batch's rows) carry the state gradients from step to step."""
    for k in range(rows.shape[0]):
        a, z = _rows(rows, k, lo, hi)
        if a >= z:
            continue
        h, c = dh[lo:lo + z - a], dc[lo:lo + z - a]
        _lstm_backward_step(h, gout[a:z], g[a:z], tc[a:z], cprev[a:z], c, d[a:z])
        matmul(fns, d[a:z], w_hh, h)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def gru_forward(fns, rows, lo, hi, linked, h0, prev, w_t, g, b, b_hn, hn, out):
    """The GRU forward over the steps ``rows`` for the batch positions ``[lo, hi)``: ``g``
    holds the input projections (without bias) and receives (r, z, n), ``hn`` receives
    W_hn h + b_hn (``b_hn`` zeros without a bias); the rest as for :func:`lstm_forward`."""
    hidden = out.shape[1]
    h2 = 2 * hidden
    tmp = np.empty((hi - lo, 3 * hidden), g.dtype)
    for k in range(rows.shape[0]):
        a, z = _step_start(fns, rows, k, lo, hi, linked, h0, prev, out, w_t, tmp)
        if a >= z:
            continue
        gt, hp, s = g[a:z], prev[a:z], tmp[:z - a]
        _add_bias_rows(gt, s, b[:h2])
        tanh(fns, gt[:, :h2], gt[:, :h2])
        for r in range(z - a):
            sr, hr = s[r], hn[a + r]
            for j in range(hidden):
                hr[j] = sr[h2 + j] + b_hn[j]
        _gru_candidate_step(gt, b, hn[a:z])
        tanh(fns, gt[:, h2:], gt[:, h2:])
        _gru_output_step(gt, hp, out[a:z])


@numba.njit(nogil=True, cache=True, error_model="numpy")
def gru_backward(fns, rows, lo, hi, dh, gout, g, hn, prev, dg, w_hh):
    """Backward through time of the GRU: ``dg`` (rows, 4H) receives the pre-activations'
    gradients in the columns [n (input side), r, z, n (hidden side)]."""
    hidden = dh.shape[1]
    direct = np.empty((hi - lo, hidden), g.dtype)
    for k in range(rows.shape[0]):
        a, z = _rows(rows, k, lo, hi)
        if a >= z:
            continue
        h, e, dr = dh[lo:lo + z - a], dg[a:z], direct[:z - a]
        _gru_backward_step(h, gout[a:z], g[a:z], hn[a:z], prev[a:z], e, dr)
        matmul(fns, e[:, hidden:], w_hh, h)
        for r in range(z - a):
            hr, drr = h[r], dr[r]
            for j in range(hidden):
                hr[j] += drr[j]
