"""The fused recurrent kernels: one primitive runs one layer direction over a whole sequence.

Forward: the input projection of every step is one GEMM, each step adds one GEMM of the previous
state with all gates at once, and the gate math is done in place. Backward through time walks
the steps in reverse with one GEMM per step for the state gradient; the weight gradients and the
input gradient are then one GEMM each over all steps (the states each step started from are kept
stacked for that). Row layout and threading: see ``chainrule.ops._recurrent_steps``.

With numba (the ``fast`` extra, see :mod:`chainrule._jit`) each step's gate math between the
GEMMs runs in the compiled kernels of ``chainrule.ops._recurrent_jit`` (``if fast:`` below);
the NumPy code next to them is the reference they are tested against. With MKL as well, a
padded batch (every step as large as the first) runs each thread's whole sequence in one
compiled call, GEMMs and tanh included (``loops``: ``chainrule.ops._recurrent_loops``).

NOTE: measured on the LSTM benchmark step (batch 32, 64 steps, hidden 256) in one process:
step by step (the reference), 74 ms with the batch cut over two threads; with the compiled
step kernels, 49-60 ms (the gate math went from ~17 to ~7 ms of CPU time, the rest being
GEMMs); with whole sequences compiled, 32-38 ms (PyTorch: 30-54 ms in the same runs). Step by
step, every NumPy call takes the GIL, so the two threads kept waiting for each other, and
waking a waiting thread on the other core costs ~60 us in this VM. GRU: 73 -> 47 ms.

Gate order and formulas are PyTorch's: LSTM (i, f, g, o), GRU (r, z, n) with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.
"""

from __future__ import annotations

import numpy as np

from chainrule import _jit
from chainrule.autograd.function import Function
from chainrule.ops import _recurrent_jit as jit
from chainrule.ops._recurrent_steps import (
    Steps,
    compiled_loops,
    derivative,
    gate_bias,
    param_grads,
    per_gate,
    plan,
    project,
    run_parts,
)

# --- Elman RNN ---


class RNNSequence(Function):
    # NOTE: fused for speed: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) for all steps.
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, batch_sizes, reverse, relu):
        st = Steps(x, batch_sizes, reverse)
        threads, ranges = plan(w_hh, st.B)
        with threads:
            hidden = w_hh.shape[1]
            x2 = x.reshape(st.N, x.shape[-1])  # not -1: ambiguous for an empty batch
            bias = None if b_ih is None else b_ih + b_hh
            fast = _jit.enabled(x.dtype)
            g = project(x2, w_ih, None if fast else bias, None, ranges)
            b = gate_bias(bias, None, hidden, x.dtype)
            out, prev = st.states(h0, hidden, x.dtype)
            w_t = np.ascontiguousarray(w_hh.T)
            loops = compiled_loops(x.dtype)
            if loops is not None:
                args = (not st.uniform, st.init(h0, hidden, x.dtype), prev, w_t, g, b, relu, out)

            def run(lo, hi):
                if loops is not None:
                    loops.rnn_forward(loops.table(), st.table(), lo, hi, *args)
                    return
                tmp = np.empty((hi - lo, hidden), x.dtype)
                for k, a, z in st.spans(lo, hi):
                    if not st.uniform:
                        st.link(k, prev, out, h0, lo, hi)
                    gt = g[a:z]
                    if fast:
                        s = np.matmul(prev[a:z], w_t, out=tmp[:z - a])
                        jit.add_bias_rows(gt, s, b)
                    else:
                        gt += np.matmul(prev[a:z], w_t, out=tmp[:z - a])
                    if relu:
                        np.maximum(gt, 0, out=out[a:z])
                    else:
                        np.tanh(gt, out=out[a:z])

            run_parts(ranges, run)
            ctx.st, ctx.ranges, ctx.x, ctx.x2, ctx.out, ctx.prev = st, ranges, x, x2, out, prev
            ctx.w_ih, ctx.w_hh, ctx.relu = w_ih, w_hh, relu
            return out.reshape(x.shape[:-1] + (hidden,)), st.final(out)

    @staticmethod
    def backward(ctx, gout, ghn):
        st, out, w_hh = ctx.st, ctx.out, ctx.w_hh
        with plan(w_hh, st.B)[0]:
            gout = gout.reshape(out.shape)
            d = np.empty_like(out)  # gradients of the pre-activations
            dh = np.array(ghn, copy=True)
            fast = _jit.enabled(out.dtype)
            if fast:
                gout = np.ascontiguousarray(gout)
            loops = compiled_loops(out.dtype)
            if loops is not None:
                args = (dh, gout, out, ctx.relu, d, np.ascontiguousarray(w_hh))

            def run(lo, hi):
                if loops is not None:
                    loops.rnn_backward(loops.table(), st.table(backward=True), lo, hi, *args)
                    return
                for _, a, z in st.spans(lo, hi, backward=True):
                    h, dt, y = dh[lo:lo + z - a], d[a:z], out[a:z]
                    if fast:
                        jit.rnn_backward_step(h, gout[a:z], y, ctx.relu, dt)
                        np.matmul(dt, w_hh, out=h)
                        continue
                    h += gout[a:z]
                    if ctx.relu:
                        np.greater(y, 0, out=dt)  # NOTE: relu'(0) = 0, as in PyTorch.
                    else:
                        np.multiply(y, y, out=dt)
                        np.subtract(1, dt, out=dt)
                    dt *= h
                    np.matmul(dt, w_hh, out=h)

            run_parts(ctx.ranges, run)
            dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(ctx, 2, d, ctx.x2, ctx.prev, ctx.w_ih,
                                                         ctx.ranges)
            return dx, dh, dw_ih, dw_hh, db_ih, db_hh, None, None, None


# --- LSTM ---


class LSTMSequence(Function):
    # NOTE: fused for speed. Gates i, f, g, o in one (steps, 4H) buffer, activated in place;
    # c_t = f c_{t-1} + i g, h_t = o tanh(c_t).
    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, batch_sizes, reverse):
        st = Steps(x, batch_sizes, reverse)
        threads, ranges = plan(w_hh, st.B)
        with threads:
            hidden = w_hh.shape[1]
            h1, h2, h3 = hidden, 2 * hidden, 3 * hidden
            x2 = x.reshape(st.N, x.shape[-1])  # not -1: ambiguous for an empty batch
            scale = per_gate((0.5, 0.5, 1.0, 0.5), hidden, x.dtype)
            shift = 1 - scale
            bias = None if b_ih is None else b_ih + b_hh
            fast = _jit.enabled(x.dtype)
            g = project(x2, w_ih, None if fast else bias, scale, ranges)
            b = gate_bias(bias, scale, 4 * hidden, x.dtype)
            w_t = np.multiply(w_hh.T, scale, order="C")  # NOTE: ~1.5x faster GEMMs
            out, prev = st.states(h0, hidden, x.dtype)
            cout, cprev = st.states(c0, hidden, x.dtype)
            tc = np.empty((st.N, hidden), x.dtype)

            loops = compiled_loops(x.dtype)
            if loops is not None:
                args = (not st.uniform, st.init(h0, hidden, x.dtype), st.init(c0, hidden, x.dtype),
                        prev, w_t, g, b, scale, shift, cprev, cout, tc, out)

            def run(lo, hi):
                if loops is not None:
                    loops.lstm_forward(loops.table(), st.table(), lo, hi, *args)
                    return
                tmp4 = np.empty((hi - lo, 4 * hidden), x.dtype)
                tmp = np.empty((hi - lo, hidden), x.dtype)
                # NOTE: full-size copies of the vectors: ~1.7x faster products than broadcasting.
                sc, sh = (np.repeat(v[None], hi - lo, axis=0) for v in (scale, shift))
                for k, a, z in st.spans(lo, hi):
                    if not st.uniform:
                        st.link(k, prev, out, h0, lo, hi)
                        st.link(k, cprev, cout, c0, lo, hi)
                    gt = g[a:z]
                    if fast:
                        s = np.matmul(prev[a:z], w_t, out=tmp4[:z - a])
                        jit.add_bias_rows(gt, s, b)
                        np.tanh(gt, out=gt)
                        jit.lstm_cell_step(gt, scale, shift, cprev[a:z], cout[a:z])
                        np.tanh(cout[a:z], out=tc[a:z])
                        np.multiply(gt[:, h3:], tc[a:z], out=out[a:z])
                        continue
                    gt += np.matmul(prev[a:z], w_t, out=tmp4[:z - a])
                    np.tanh(gt, out=gt)
                    gt *= sc[:z - a]
                    gt += sh[:z - a]
                    c = cout[a:z]
                    np.multiply(gt[:, h1:h2], cprev[a:z], out=c)
                    c += np.multiply(gt[:, :h1], gt[:, h2:h3], out=tmp[:z - a])
                    np.tanh(c, out=tc[a:z])
                    np.multiply(gt[:, h3:], tc[a:z], out=out[a:z])

            run_parts(ranges, run)
            ctx.st, ctx.ranges, ctx.x, ctx.x2 = st, ranges, x, x2
            ctx.g, ctx.tc, ctx.out = g, tc, out
            ctx.prev, ctx.cprev, ctx.w_ih, ctx.w_hh = prev, cprev, w_ih, w_hh
            return out.reshape(x.shape[:-1] + (hidden,)), st.final(out), st.final(cout)

    @staticmethod
    def backward(ctx, gout, ghn, gcn):
        st, g, tc, cprev, out, w_hh = ctx.st, ctx.g, ctx.tc, ctx.cprev, ctx.out, ctx.w_hh
        with plan(w_hh, st.B)[0]:
            hidden = w_hh.shape[1]
            h1, h2, h3 = hidden, 2 * hidden, 3 * hidden
            gout = gout.reshape(tc.shape)
            sigmoid_gate = per_gate((1.0, 1.0, 0.0, 1.0), hidden, g.dtype)
            d = np.empty_like(g)  # gradients of the gates' pre-activations
            dh, dc = np.array(ghn, copy=True), np.array(gcn, copy=True)
            fast = _jit.enabled(g.dtype)
            if fast:
                gout = np.ascontiguousarray(gout)
            loops = compiled_loops(g.dtype)
            if loops is not None:
                args = (dh, gout, g, tc, cprev, dc, d, np.ascontiguousarray(w_hh))

            def run(lo, hi):
                if loops is not None:
                    loops.lstm_backward(loops.table(), st.table(backward=True), lo, hi, *args)
                    return
                if fast:
                    for _, a, z in st.spans(lo, hi, backward=True):
                        h, e = dh[lo:lo + z - a], d[a:z]
                        jit.lstm_backward_step(h, gout[a:z], g[a:z], tc[a:z], cprev[a:z],
                                               dc[lo:lo + z - a], e)
                        np.matmul(e, w_hh, out=h)
                    return
                # NOTE: the derivatives are made step by step in small scratch buffers, not as
                # one (steps * batch, 4H) array: a pass over data in cache is ~3x cheaper.
                s4 = np.empty((hi - lo, 4 * hidden), g.dtype)
                s1 = np.empty((hi - lo, hidden), g.dtype)
                sg = np.repeat(sigmoid_gate[None], hi - lo, axis=0)
                for _, a, z in st.spans(lo, hi, backward=True):
                    m = z - a
                    h, c, gt, e, s = dh[lo:lo + m], dc[lo:lo + m], g[a:z], d[a:z], s1[:m]
                    i, f, gg, og = gt[:, :h1], gt[:, h1:h2], gt[:, h2:h3], gt[:, h3:]
                    h += gout[a:z]
                    np.multiply(h, tc[a:z], out=e[:, h3:])
                    # NOTE: dc += dh o (1 - tanh(c)^2), with o tanh(c)^2 = h_t tanh(c).
                    np.multiply(out[a:z], tc[a:z], out=s)
                    np.subtract(og, s, out=s)
                    s *= h
                    c += s
                    np.multiply(c, gg, out=e[:, :h1])
                    np.multiply(c, cprev[a:z], out=e[:, h1:h2])
                    np.multiply(c, i, out=e[:, h2:h3])
                    c *= f
                    e *= derivative(gt, sg[:m], slice(h2, h3), s4[:m])
                    np.matmul(e, w_hh, out=h)

            run_parts(ctx.ranges, run)
            dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(ctx, 3, d, ctx.x2, ctx.prev, ctx.w_ih,
                                                         ctx.ranges)
            return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, None, None


# --- GRU ---


class GRUSequence(Function):
    # NOTE: fused for speed. r, z = sigmoid(...), n = tanh(x W_in^T + b_in + r (h W_hn^T +
    # b_hn)), h_t = (1 - z) n + z h_{t-1}, computed as n + z (h_{t-1} - n).
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, batch_sizes, reverse):
        st = Steps(x, batch_sizes, reverse)
        threads, ranges = plan(w_hh, st.B)
        with threads:
            hidden = w_hh.shape[1]
            h1, h2 = hidden, 2 * hidden
            x2 = x.reshape(st.N, x.shape[-1])  # not -1: ambiguous for an empty batch
            scale = per_gate((0.5, 0.5, 1.0), hidden, x.dtype)
            bias = None
            if b_ih is not None:
                bias = b_ih.copy()
                bias[:h2] += b_hh[:h2]
            fast = _jit.enabled(x.dtype)
            g = project(x2, w_ih, None if fast else bias, scale, ranges)
            b = gate_bias(bias, scale, 3 * hidden, x.dtype)
            w_t = np.multiply(w_hh.T, scale, order="C")
            out, prev = st.states(h0, hidden, x.dtype)
            hn = np.empty((st.N, hidden), x.dtype)  # W_hn h + b_hn of every step
            loops = compiled_loops(x.dtype)
            if loops is not None:
                b_hn = np.zeros(hidden, x.dtype) if b_hh is None else b_hh[h2:]
                args = (not st.uniform, st.init(h0, hidden, x.dtype), prev, w_t, g, b,
                        np.ascontiguousarray(b_hn), hn, out)

            def run(lo, hi):
                if loops is not None:
                    loops.gru_forward(loops.table(), st.table(), lo, hi, *args)
                    return
                tmp3 = np.empty((hi - lo, 3 * hidden), x.dtype)
                tmp = np.empty((hi - lo, hidden), x.dtype)
                for k, a, z in st.spans(lo, hi):
                    if not st.uniform:
                        st.link(k, prev, out, h0, lo, hi)
                    gt, hp, s = g[a:z], prev[a:z], tmp3[:z - a]
                    np.matmul(hp, w_t, out=s)
                    rz = gt[:, :h2]
                    if fast:
                        jit.add_bias_rows(gt, s, b[:h2])
                    else:
                        rz += s[:, :h2]
                    np.tanh(rz, out=rz)
                    if b_hh is None:
                        hn[a:z] = s[:, h2:]
                    else:
                        np.add(s[:, h2:], b_hh[h2:], out=hn[a:z])
                    if fast:
                        jit.gru_candidate_step(gt, b, hn[a:z])
                        np.tanh(gt[:, h2:], out=gt[:, h2:])
                        jit.gru_output_step(gt, hp, out[a:z])
                        continue
                    rz *= 0.5
                    rz += 0.5
                    nt = gt[:, h2:]
                    nt += np.multiply(gt[:, :h1], hn[a:z], out=tmp[:z - a])
                    np.tanh(nt, out=nt)
                    ht = np.subtract(hp, nt, out=out[a:z])
                    ht *= gt[:, h1:h2]
                    ht += nt

            run_parts(ranges, run)
            ctx.st, ctx.ranges, ctx.x, ctx.x2, ctx.g, ctx.hn = st, ranges, x, x2, g, hn
            ctx.prev, ctx.w_ih, ctx.w_hh = prev, w_ih, w_hh
            return out.reshape(x.shape[:-1] + (hidden,)), st.final(out)

    @staticmethod
    def backward(ctx, gout, ghn):
        st, g, hn, prev, w_hh = ctx.st, ctx.g, ctx.hn, ctx.prev, ctx.w_hh
        with plan(w_hh, st.B)[0]:
            hidden = w_hh.shape[1]
            h1, h2, h3 = hidden, 2 * hidden, 3 * hidden
            gout = gout.reshape(hn.shape)
            # dg columns: [n (input side), r, z, n (hidden side)], so that [:, :3H] is the input
            # side (in the order n, r, z) and [:, H:] the hidden side (r, z, n, W_hh's order).
            dg = np.empty((st.N, 4 * hidden), g.dtype)
            dh = np.array(ghn, copy=True)
            fast = _jit.enabled(g.dtype)
            if fast:
                gout = np.ascontiguousarray(gout)
            loops = compiled_loops(g.dtype)
            if loops is not None:
                args = (dh, gout, g, hn, prev, dg, np.ascontiguousarray(w_hh))

            def run(lo, hi):
                if loops is not None:
                    loops.gru_backward(loops.table(), st.table(backward=True), lo, hi, *args)
                    return
                s1 = np.empty((hi - lo, hidden), g.dtype)
                s2 = np.empty((hi - lo, 2 * hidden), g.dtype)
                s3 = np.empty((hi - lo, hidden), g.dtype)
                for _, a, z in st.spans(lo, hi, backward=True):
                    m = z - a
                    h, gt, e, direct, s = dh[lo:lo + m], g[a:z], dg[a:z], s1[:m], s3[:m]
                    if fast:
                        jit.gru_backward_step(h, gout[a:z], gt, hn[a:z], prev[a:z], e, direct)
                        np.matmul(e[:, h1:], w_hh, out=h)
                        h += direct
                        continue
                    r, rz, nt = gt[:, :h1], gt[:, :h2], gt[:, h2:]
                    h += gout[a:z]
                    np.multiply(h, gt[:, h1:h2], out=direct)
                    dn = np.subtract(h, direct, out=e[:, :h1])
                    np.multiply(nt, nt, out=s)  # NOTE: tanh' = 1 - n^2, sigmoid' = s (1 - s)
                    np.subtract(1, s, out=s)
                    dn *= s
                    dz = np.subtract(prev[a:z], nt, out=e[:, h2:h3])
                    dz *= h
                    np.multiply(dn, hn[a:z], out=e[:, h1:h2])
                    drz = np.subtract(1, rz, out=s2[:m])
                    drz *= rz
                    e[:, h1:h3] *= drz
                    np.multiply(dn, r, out=e[:, h3:])
                    np.matmul(e[:, h1:], w_hh, out=h)
                    h += direct

            run_parts(ctx.ranges, run)
            w_ih = ctx.w_ih
            w_nrz = np.concatenate((w_ih[h2:], w_ih[:h2]))
            dx, dw, dw_hh, db, db_hh = param_grads(ctx, 2, dg[:, :h3], ctx.x2, prev, w_nrz,
                                                    ctx.ranges, dg[:, h1:])
            dw_ih = None if dw is None else np.concatenate((dw[h1:], dw[:h1]))
            db_ih = None if db is None else np.concatenate((db[h1:], db[:h1]))
            return dx, dh, dw_ih, dw_hh, db_ih, db_hh, None, None
