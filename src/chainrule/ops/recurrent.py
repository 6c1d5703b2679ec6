"""Recurrent networks: one primitive runs one layer direction over a whole sequence.

A sequence is held time-major as rows: step ``t`` owns rows ``offs[t]:offs[t] + sizes[t]`` of a
2-D array, where ``sizes`` are the per-step batch sizes (all equal for a padded batch, the
non-increasing ``batch_sizes`` of a ``PackedSequence`` otherwise; the sequences are sorted by
length, so the ones still running at a step are its first rows). Forward: the input projection
of every step is one GEMM, each step adds one GEMM of the previous state with all gates at once,
and the gate math is done in place. Backward through time walks the steps in reverse with one
GEMM per step for the state gradient; the weight gradients and the input gradient are then one
GEMM each over all steps (the states each step started from are kept stacked for that).

Gate order and formulas are PyTorch's: LSTM (i, f, g, o), GRU (r, z, n) with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops._threads import _OpenBLAS
from chainrule.ops.dropout import dropout as _dropout
from chainrule.ops.shape import cat, stack
from chainrule.tensor import Tensor

# NOTE: sigmoid(z) = 0.5 * tanh(z / 2) + 0.5 is stable for every z (no exp overflow) and lets
# one tanh call cover all the gates of a step: the sigmoid gates' rows of the weights and biases
# are pre-scaled by 0.5 (exact in binary floating point), then tanh, then * scale + (1 - scale).


def _per_gate(values: tuple[float, ...], hidden: int, dtype) -> np.ndarray:
    """A vector over the gate rows: ``values[k]`` for every row of gate ``k``."""
    return np.repeat(np.array(values, dtype), hidden)


def _derivative(g: np.ndarray, sigmoid_gate: np.ndarray, tanh_cols: slice,
                out: np.ndarray) -> np.ndarray:
    """The activations' derivatives from their values: s (1 - s) for a sigmoid gate, 1 - t^2
    for the tanh gate, both as (a - y) * y + b with (a, b) = (1, 0) and (0, 1).

    ``sigmoid_gate`` is 1 on the sigmoid gates' columns and 0 on ``tanh_cols``.
    """
    np.subtract(sigmoid_gate, g, out=out)
    out *= g
    out[:, tanh_cols] += 1
    return out


def _blas_threads(w_hh: np.ndarray, batch: int) -> AbstractContextManager:
    """Small recurrences run their GEMMs on one BLAS thread; large ones let BLAS thread.

    NOTE: a step's GEMM is (batch, hidden) @ (hidden, gates * hidden). When it is small,
    OpenBLAS's threads cost more than they gain: they spin between GEMMs and wait to be
    scheduled (on a busy 2-core machine the adding-problem example took 4x the CPU time with two
    threads). When it is large they pay: on a quiet 2-core machine the LSTM benchmark step
    (batch 32, hidden 256, 64 steps; 8.4 MFLOP per step GEMM) went from 77 ms on one thread to
    59 ms on two, the GRU from 67 to 48 ms. The threshold sits between the two cases.
    """
    if batch * w_hh.shape[0] * w_hh.shape[1] >= _THREADED_GEMM_MACS:
        return nullcontext()
    return _OpenBLAS.single_threaded()


_THREADED_GEMM_MACS = 4_000_000


class _Steps:
    """Which rows each time step owns, in the order the direction processes them."""

    def __init__(self, x: np.ndarray, batch_sizes, reverse: bool) -> None:
        if batch_sizes is None:
            sizes = [x.shape[1]] * x.shape[0]
        else:
            sizes = list(batch_sizes)
        offs = np.cumsum([0] + sizes[:-1]).tolist()
        order = range(len(sizes) - 1, -1, -1) if reverse else range(len(sizes))
        self.rows = [(offs[t], sizes[t]) for t in order]  # (offset, active batch) per step
        self.B, self.N = sizes[0], sum(sizes)
        self.uniform = sizes.count(sizes[0]) == len(sizes)
        self.reverse = reverse

    def states(self, init: np.ndarray | None, hidden: int, dtype) -> tuple[np.ndarray, ...]:
        """(out, prev): every step's new state and, row for row, the state it started from.

        Equal batch sizes: both are views of one buffer holding ``init`` and all the states, so
        ``prev`` (stacked for the weight gradient) costs nothing. Packed: ``prev`` is filled as
        the steps run (see ``link``).
        """
        n, b = self.N, self.B
        if not self.uniform:
            prev = np.empty((n, hidden), dtype)
            return np.empty((n, hidden), dtype), prev
        buf = np.empty((n + b, hidden), dtype)
        if self.reverse:
            out, prev, first = buf[:n], buf[b:], buf[n:]
        else:
            out, prev, first = buf[b:], buf[:n], buf[:b]
        first[...] = 0 if init is None else init
        return out, prev

    def link(self, k: int, prev: np.ndarray, out: np.ndarray, init: np.ndarray | None) -> None:
        """Packed only: copy the state step ``k`` starts from into its rows of ``prev``."""
        o, n = self.rows[k]
        m = 0
        if k:
            po, pn = self.rows[k - 1]
            m = min(n, pn)
            prev[o:o + m] = out[po:po + m]
        if m < n:
            # NOTE: a sequence joining at this step (only in the reverse direction) starts from
            # its initial state.
            prev[o + m:o + n] = 0 if init is None else init[m:n]

    def final(self, out: np.ndarray) -> np.ndarray:
        """Each sequence's state after its own last step (finished sequences stay frozen)."""
        res = np.empty((self.B, out.shape[1]), out.dtype)
        for k, (o, n) in enumerate(self.rows):
            nxt = self.rows[k + 1][1] if k + 1 < len(self.rows) else 0
            if nxt < n:
                res[nxt:n] = out[o + nxt:o + n]
        return res


def _project(x2: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
             scale: np.ndarray | None = None) -> np.ndarray:
    """All steps' input projection in one GEMM, with the sigmoid gates' rows pre-scaled."""
    # NOTE: a C-contiguous copy of W^T makes the GEMM ~15% faster than a transposed view.
    w_t = np.ascontiguousarray(w.T) if scale is None else np.multiply(w.T, scale, order="C")
    g = np.matmul(x2, w_t)
    if bias is not None:
        g += bias if scale is None else bias * scale
    return g


def _param_grads(ctx, k: int, d: np.ndarray, x2: np.ndarray, prev: np.ndarray,
                 w_ih: np.ndarray, dh_rows: np.ndarray | None = None) -> tuple:
    """dx, dW_ih, dW_hh, db_ih, db_hh: one GEMM each over all steps.

    ``k`` is the position of w_ih among the primitive's inputs, ``d`` the gradient of the gates'
    pre-activations, ``dh_rows`` (GRU) that of the hidden-side pre-activations where it differs.
    """
    dh_rows = d if dh_rows is None else dh_rows
    need = ctx.needs_input_grad
    xshape = ctx.x.shape
    dx = np.matmul(d, w_ih).reshape(xshape) if need[0] else None
    dw_ih = np.matmul(d.T, x2) if need[k] else None
    dw_hh = np.matmul(dh_rows.T, prev) if need[k + 1] else None
    db_ih = db_hh = None
    if need[k + 2] or need[k + 3]:
        db_ih = d.sum(axis=0)
        db_hh = db_ih.copy() if dh_rows is d else dh_rows.sum(axis=0)
    return dx, dw_ih, dw_hh, db_ih, db_hh


# --- Elman RNN ---


class RNNSequence(Function):
    # NOTE: fused for speed: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) for all steps.
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, batch_sizes, reverse, relu):
        st = _Steps(x, batch_sizes, reverse)
        with _blas_threads(w_hh, st.B):
            hidden = w_hh.shape[1]
            x2 = x.reshape(st.N, -1)
            bias = None if b_ih is None else b_ih + b_hh
            g = _project(x2, w_ih, bias)
            out, prev = st.states(h0, hidden, x.dtype)
            tmp = np.empty((st.B, hidden), x.dtype)
            w_t = np.ascontiguousarray(w_hh.T)
            for k, (o, n) in enumerate(st.rows):
                if not st.uniform:
                    st.link(k, prev, out, h0)
                gt = g[o:o + n]
                gt += np.matmul(prev[o:o + n], w_t, out=tmp[:n])
                if relu:
                    np.maximum(gt, 0, out=out[o:o + n])
                else:
                    np.tanh(gt, out=out[o:o + n])
            ctx.st, ctx.x, ctx.x2, ctx.out, ctx.prev = st, x, x2, out, prev
            ctx.w_ih, ctx.w_hh, ctx.relu = w_ih, w_hh, relu
            return out.reshape(x.shape[:-1] + (hidden,)), st.final(out)

    @staticmethod
    def backward(ctx, gout, ghn):
        st, out, w_hh = ctx.st, ctx.out, ctx.w_hh
        with _blas_threads(w_hh, st.B):
            gout = gout.reshape(out.shape)
            d = np.empty_like(out)  # gradients of the pre-activations
            dh = np.array(ghn, copy=True)
            for o, n in reversed(st.rows):
                h, dt, y = dh[:n], d[o:o + n], out[o:o + n]
                h += gout[o:o + n]
                if ctx.relu:
                    np.greater(y, 0, out=dt)  # NOTE: relu'(0) = 0, as in PyTorch.
                else:
                    np.multiply(y, y, out=dt)
                    np.subtract(1, dt, out=dt)
                dt *= h
                np.matmul(dt, w_hh, out=h)
            dx, dw_ih, dw_hh, db_ih, db_hh = _param_grads(ctx, 2, d, ctx.x2, ctx.prev, ctx.w_ih)
            return dx, dh, dw_ih, dw_hh, db_ih, db_hh, None, None, None


# --- LSTM ---


class LSTMSequence(Function):
    # NOTE: fused for speed. Gates i, f, g, o in one (steps, 4H) buffer, activated in place;
    # c_t = f c_{t-1} + i g, h_t = o tanh(c_t).
    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, batch_sizes, reverse):
        st = _Steps(x, batch_sizes, reverse)
        with _blas_threads(w_hh, st.B):
            hidden = w_hh.shape[1]
            h1, h2, h3 = hidden, 2 * hidden, 3 * hidden
            x2 = x.reshape(st.N, -1)
            scale = _per_gate((0.5, 0.5, 1.0, 0.5), hidden, x.dtype)
            shift = 1 - scale
            g = _project(x2, w_ih, None if b_ih is None else b_ih + b_hh, scale)
            w_t = np.ascontiguousarray((w_hh * scale[:, None]).T)  # NOTE: ~1.5x faster GEMMs
            out, prev = st.states(h0, hidden, x.dtype)
            cout, cprev = st.states(c0, hidden, x.dtype)
            tc = np.empty((st.N, hidden), x.dtype)
            tmp4 = np.empty((st.B, 4 * hidden), x.dtype)
            tmp = np.empty((st.B, hidden), x.dtype)
            for k, (o, n) in enumerate(st.rows):
                if not st.uniform:
                    st.link(k, prev, out, h0)
                    st.link(k, cprev, cout, c0)
                gt = g[o:o + n]
                gt += np.matmul(prev[o:o + n], w_t, out=tmp4[:n])
                np.tanh(gt, out=gt)
                gt *= scale
                gt += shift
                c = cout[o:o + n]
                np.multiply(gt[:, h1:h2], cprev[o:o + n], out=c)
                c += np.multiply(gt[:, :h1], gt[:, h2:h3], out=tmp[:n])
                np.tanh(c, out=tc[o:o + n])
                np.multiply(gt[:, h3:], tc[o:o + n], out=out[o:o + n])
            ctx.st, ctx.x, ctx.x2, ctx.g, ctx.tc, ctx.out = st, x, x2, g, tc, out
            ctx.prev, ctx.cprev, ctx.w_ih, ctx.w_hh = prev, cprev, w_ih, w_hh
            return out.reshape(x.shape[:-1] + (hidden,)), st.final(out), st.final(cout)

    @staticmethod
    def backward(ctx, gout, ghn, gcn):
        st, g, tc, cprev, out, w_hh = ctx.st, ctx.g, ctx.tc, ctx.cprev, ctx.out, ctx.w_hh
        with _blas_threads(w_hh, st.B):
            hidden = w_hh.shape[1]
            h1, h2, h3 = hidden, 2 * hidden, 3 * hidden
            gout = gout.reshape(tc.shape)
            sigmoid_gate = _per_gate((1.0, 1.0, 0.0, 1.0), hidden, g.dtype)
            d = np.empty_like(g)  # gradients of the gates' pre-activations
            # NOTE: the derivatives are made step by step in small scratch buffers, not as one
            # (steps * batch, 4H) array: a pass over data in cache is ~3x cheaper per element.
            dh, dc = np.array(ghn, copy=True), np.array(gcn, copy=True)
            s4 = np.empty((st.B, 4 * hidden), g.dtype)
            s1 = np.empty((st.B, hidden), g.dtype)
            for o, n in reversed(st.rows):
                h, c, gt, e, s = dh[:n], dc[:n], g[o:o + n], d[o:o + n], s1[:n]
                i, f, gg, og = gt[:, :h1], gt[:, h1:h2], gt[:, h2:h3], gt[:, h3:]
                h += gout[o:o + n]
                np.multiply(h, tc[o:o + n], out=e[:, h3:])
                # NOTE: dc += dh o (1 - tanh(c)^2), with o tanh(c)^2 = h_t tanh(c).
                np.multiply(out[o:o + n], tc[o:o + n], out=s)
                np.subtract(og, s, out=s)
                s *= h
                c += s
                np.multiply(c, gg, out=e[:, :h1])
                np.multiply(c, cprev[o:o + n], out=e[:, h1:h2])
                np.multiply(c, i, out=e[:, h2:h3])
                c *= f
                e *= _derivative(gt, sigmoid_gate, slice(h2, h3), s4[:n])
                np.matmul(e, w_hh, out=h)
            dx, dw_ih, dw_hh, db_ih, db_hh = _param_grads(ctx, 3, d, ctx.x2, ctx.prev, ctx.w_ih)
            return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, None, None


# --- GRU ---


class GRUSequence(Function):
    # NOTE: fused for speed. r, z = sigmoid(...), n = tanh(x W_in^T + b_in + r (h W_hn^T +
    # b_hn)), h_t = (1 - z) n + z h_{t-1}, computed as n + z (h_{t-1} - n).
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, batch_sizes, reverse):
        st = _Steps(x, batch_sizes, reverse)
        with _blas_threads(w_hh, st.B):
            hidden = w_hh.shape[1]
            h1, h2 = hidden, 2 * hidden
            x2 = x.reshape(st.N, -1)
            scale = _per_gate((0.5, 0.5, 1.0), hidden, x.dtype)
            bias = None
            if b_ih is not None:
                bias = b_ih.copy()
                bias[:h2] += b_hh[:h2]
            g = _project(x2, w_ih, bias, scale)
            w_t = np.ascontiguousarray((w_hh * scale[:, None]).T)
            out, prev = st.states(h0, hidden, x.dtype)
            hn = np.empty((st.N, hidden), x.dtype)  # W_hn h + b_hn of every step
            tmp3 = np.empty((st.B, 3 * hidden), x.dtype)
            tmp = np.empty((st.B, hidden), x.dtype)
            for k, (o, n) in enumerate(st.rows):
                if not st.uniform:
                    st.link(k, prev, out, h0)
                gt, hp, s = g[o:o + n], prev[o:o + n], tmp3[:n]
                np.matmul(hp, w_t, out=s)
                rz = gt[:, :h2]
                rz += s[:, :h2]
                np.tanh(rz, out=rz)
                rz *= 0.5
                rz += 0.5
                if b_hh is None:
                    hn[o:o + n] = s[:, h2:]
                else:
                    np.add(s[:, h2:], b_hh[h2:], out=hn[o:o + n])
                nt = gt[:, h2:]
                nt += np.multiply(gt[:, :h1], hn[o:o + n], out=tmp[:n])
                np.tanh(nt, out=nt)
                ht = np.subtract(hp, nt, out=out[o:o + n])
                ht *= gt[:, h1:h2]
                ht += nt
            ctx.st, ctx.x, ctx.x2, ctx.g, ctx.hn = st, x, x2, g, hn
            ctx.prev, ctx.w_ih, ctx.w_hh = prev, w_ih, w_hh
            return out.reshape(x.shape[:-1] + (hidden,)), st.final(out)

    @staticmethod
    def backward(ctx, gout, ghn):
        st, g, hn, prev, w_hh = ctx.st, ctx.g, ctx.hn, ctx.prev, ctx.w_hh
        with _blas_threads(w_hh, st.B):
            hidden = w_hh.shape[1]
            h1, h2, h3 = hidden, 2 * hidden, 3 * hidden
            gout = gout.reshape(hn.shape)
            # dg columns: [n (input side), r, z, n (hidden side)], so that [:, :3H] is the input
            # side (in the order n, r, z) and [:, H:] the hidden side (r, z, n, W_hh's order).
            dg = np.empty((st.N, 4 * hidden), g.dtype)
            dh = np.array(ghn, copy=True)
            s1 = np.empty((st.B, hidden), g.dtype)
            s2 = np.empty((st.B, 2 * hidden), g.dtype)
            s3 = np.empty((st.B, hidden), g.dtype)
            for o, n in reversed(st.rows):
                h, gt, e, direct, s = dh[:n], g[o:o + n], dg[o:o + n], s1[:n], s3[:n]
                r, rz, nt = gt[:, :h1], gt[:, :h2], gt[:, h2:]
                h += gout[o:o + n]
                np.multiply(h, gt[:, h1:h2], out=direct)
                dn = np.subtract(h, direct, out=e[:, :h1])
                np.multiply(nt, nt, out=s)  # NOTE: tanh' = 1 - n^2, sigmoid' = s (1 - s)
                np.subtract(1, s, out=s)
                dn *= s
                dz = np.subtract(prev[o:o + n], nt, out=e[:, h2:h3])
                dz *= h
                np.multiply(dn, hn[o:o + n], out=e[:, h1:h2])
                drz = np.subtract(1, rz, out=s2[:n])
                drz *= rz
                e[:, h1:h3] *= drz
                np.multiply(dn, r, out=e[:, h3:])
                np.matmul(e[:, h1:], w_hh, out=h)
                h += direct
            w_ih = ctx.w_ih
            w_nrz = np.concatenate((w_ih[h2:], w_ih[:h2]))
            dx, dw, dw_hh, db, db_hh = _param_grads(ctx, 2, dg[:, :h3], ctx.x2, prev, w_nrz,
                                                    dg[:, h1:])
            dw_ih = None if dw is None else np.concatenate((dw[h1:], dw[:h1]))
            db_ih = None if db is None else np.concatenate((db[h1:], db[:h1]))
            return dx, dh, dw_ih, dw_hh, db_ih, db_hh, None, None


# --- packing: rows of a padded batch to and from a packed sequence ---


class GatherRows(Function):
    """``x[rows]`` along the first dim, for indices without repeats."""

    @staticmethod
    def forward(ctx, x, rows):
        ctx.shape, ctx.rows = x.shape, rows
        return x[rows]

    @staticmethod
    def backward(ctx, grad):
        # NOTE: the rows never repeat, so a scatter replaces np.add.at.
        g = np.zeros(ctx.shape, grad.dtype)
        g[ctx.rows] = grad
        return g, None


class ScatterRows(Function):
    """A (size, *) array of ``fill`` with ``src``'s rows placed at ``rows`` (no repeats)."""

    @staticmethod
    def forward(ctx, src, rows, size, fill):
        ctx.rows = rows
        out = np.full((size,) + src.shape[1:], fill, src.dtype)
        out[rows] = src
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.rows], None, None, None


# --- public functions ---


def _check_weights(op: str, x: Tensor, h, w_ih: Tensor, w_hh: Tensor, b_ih, b_hh,
                   gates: int) -> None:
    hidden = w_hh.shape[-1]
    if w_ih.ndim != 2 or w_hh.shape != (gates * hidden, hidden) or w_ih.shape[0] != w_hh.shape[0]:
        raise ValueError(f"{op}: weight_ih {w_ih.shape} and weight_hh {w_hh.shape} should be "
                         f"({gates} * hidden_size, input_size) and ({gates} * hidden_size, "
                         "hidden_size)")
    if x.shape[-1] != w_ih.shape[1]:
        raise ValueError(f"{op}: input of shape {x.shape} has {x.shape[-1]} features, expected "
                         f"input_size={w_ih.shape[1]}")
    if (b_ih is None) != (b_hh is None) or (
            b_ih is not None and (b_ih.shape != (gates * hidden,) or b_hh.shape != b_ih.shape)):
        raise ValueError(f"{op}: biases should both be ({gates * hidden},) or both None, got "
                         f"{getattr(b_ih, 'shape', None)} and {getattr(b_hh, 'shape', None)}")
    for t in (w_hh, h):
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"{op}: input dtype {x.dtype} does not match {t.dtype} of the "
                            "weights or state (convert the input or call model.double())")


def _check_state(op: str, h, batch: int, hidden: int, what: str = "hx") -> None:
    if h is not None and h.shape != (batch, hidden):
        raise ValueError(f"{op}: {what} of shape {h.shape} does not match the input's batch; "
                         f"expected {(batch, hidden)}")


def _steps_of(x: Tensor, batch_sizes) -> int:
    """The batch size, after checking the input's layout."""
    if batch_sizes is None:
        if x.ndim != 3 or x.shape[0] == 0:
            raise ValueError(f"recurrent layer: expected a (seq_len, batch, features) input with "
                             f"seq_len > 0, got shape {x.shape}")
        return x.shape[1]
    if not batch_sizes or batch_sizes[-1] <= 0 or any(
            b > a for a, b in zip(batch_sizes, batch_sizes[1:])):
        raise ValueError(f"recurrent layer: batch_sizes should be positive and non-increasing, "
                         f"got {list(batch_sizes)}")
    if x.ndim != 2 or x.shape[0] != sum(batch_sizes):
        raise ValueError(f"recurrent layer: packed data of shape {x.shape} does not match "
                         f"batch_sizes summing to {sum(batch_sizes)}")
    return batch_sizes[0]


def rnn_sequence(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, batch_sizes=None,
                 reverse=False, nonlinearity="tanh"):
    """One Elman RNN layer direction over a whole sequence: ``(output, h_n)``.

    ``input`` is (seq_len, batch, input_size), or the (sum(batch_sizes), input_size) data of a
    packed sequence with ``batch_sizes`` a tuple of ints; ``hx`` is (batch, hidden) or None
    (zeros).

    >>> import chainrule
    >>> from chainrule.ops.recurrent import rnn_sequence
    >>> out, h = rnn_sequence(chainrule.ones(5, 2, 3), None, chainrule.ones(4, 3) * 0.1,
    ...                       chainrule.ones(4, 4) * 0.1)
    >>> out.shape, h.shape
    ((5, 2, 4), (2, 4))
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_sequence: unknown nonlinearity {nonlinearity!r} (tanh or relu)")
    batch = _steps_of(input, batch_sizes)
    _check_weights("RNN", input, hx, w_ih, w_hh, b_ih, b_hh, 1)
    _check_state("RNN", hx, batch, w_hh.shape[1])
    return RNNSequence.apply(input, hx, w_ih, w_hh, b_ih, b_hh, batch_sizes, bool(reverse),
                             nonlinearity == "relu")


def lstm_sequence(input, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None, batch_sizes=None,
                  reverse=False):
    """One LSTM layer direction over a whole sequence: ``(output, h_n, c_n)``.

    Shapes as in :func:`rnn_sequence`; ``cx`` is the initial cell state (or None: zeros).
    """
    batch = _steps_of(input, batch_sizes)
    _check_weights("LSTM", input, hx, w_ih, w_hh, b_ih, b_hh, 4)
    _check_state("LSTM", hx, batch, w_hh.shape[1])
    _check_state("LSTM", cx, batch, w_hh.shape[1], "cx")
    return LSTMSequence.apply(input, hx, cx, w_ih, w_hh, b_ih, b_hh, batch_sizes, bool(reverse))


def gru_sequence(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, batch_sizes=None, reverse=False):
    """One GRU layer direction over a whole sequence: ``(output, h_n)`` (shapes as
    :func:`rnn_sequence`)."""
    batch = _steps_of(input, batch_sizes)
    _check_weights("GRU", input, hx, w_ih, w_hh, b_ih, b_hh, 3)
    _check_state("GRU", hx, batch, w_hh.shape[1])
    return GRUSequence.apply(input, hx, w_ih, w_hh, b_ih, b_hh, batch_sizes, bool(reverse))


def recurrent(mode: str, input, hx, weights, num_layers: int = 1, dropout: float = 0.0,
              training: bool = False, bidirectional: bool = False, batch_sizes=None):
    """A stack of recurrent layers over a time-major input (or packed data).

    Args:
        mode: ``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"`` or ``"GRU"``.
        input: (seq_len, batch, input_size), or packed data (see :func:`rnn_sequence`).
        hx: None (zeros), the initial (layers * directions, batch, hidden) state, or for LSTM
            a pair ``(h_0, c_0)``.
        weights: per layer and direction (layer-major), ``(w_ih, w_hh, b_ih, b_hh)``.
        dropout: applied to every layer's output but the last's, in training only.

    Returns:
        ``(output, h_n)``, for LSTM ``(output, (h_n, c_n))``; output is
        (seq_len, batch, directions * hidden) or packed data.
    """
    dirs = 2 if bidirectional else 1
    lstm = mode == "LSTM"
    h0, c0 = (hx if hx is not None else (None, None)) if lstm else (hx, None)
    layer_input, hs, cs = input, [], []
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            h = None if h0 is None else h0[k]
            w_ih, w_hh, b_ih, b_hh = weights[k]
            if lstm:
                out, hn, cn = lstm_sequence(layer_input, h, None if c0 is None else c0[k], w_ih,
                                            w_hh, b_ih, b_hh, batch_sizes, d)
                cs.append(cn)
            elif mode == "GRU":
                out, hn = gru_sequence(layer_input, h, w_ih, w_hh, b_ih, b_hh, batch_sizes, d)
            else:
                out, hn = rnn_sequence(layer_input, h, w_ih, w_hh, b_ih, b_hh, batch_sizes, d,
                                       mode[4:].lower())
            outs.append(out)
            hs.append(hn)
        layer_input = outs[0] if dirs == 1 else cat(outs, -1)
        if dropout and training and layer < num_layers - 1:
            layer_input = _dropout(layer_input, dropout, True)
    h_n = stack(hs, 0)
    return (layer_input, (h_n, stack(cs, 0))) if lstm else (layer_input, h_n)


def _cell_input(op: str, input, hx, w_ih, w_hh, b_ih, b_hh, gates: int):
    if input.ndim != 2:
        raise ValueError(f"{op}: expected a (batch, input_size) input, got shape {input.shape}")
    _check_weights(op, input, hx, w_ih, w_hh, b_ih, b_hh, gates)
    _check_state(op, hx, input.shape[0], w_hh.shape[1])
    return (input.shape[0],)


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of an Elman RNN with tanh: the new (batch, hidden) state (``hx`` may be None)."""
    bs = _cell_input("rnn_tanh_cell", input, hx, w_ih, w_hh, b_ih, b_hh, 1)
    return RNNSequence.apply(input, hx, w_ih, w_hh, b_ih, b_hh, bs, False, False)[0]


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of an Elman RNN with relu: the new (batch, hidden) state."""
    bs = _cell_input("rnn_relu_cell", input, hx, w_ih, w_hh, b_ih, b_hh, 1)
    return RNNSequence.apply(input, hx, w_ih, w_hh, b_ih, b_hh, bs, False, True)[0]


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step: ``(h, c)`` from ``hx = (h_0, c_0)`` (or None: zeros).

    >>> import chainrule
    >>> from chainrule.ops.recurrent import lstm_cell
    >>> h, c = lstm_cell(chainrule.ones(2, 3), None, chainrule.ones(16, 3), chainrule.ones(16, 4))
    >>> h.shape, c.shape
    ((2, 4), (2, 4))
    """
    h0, c0 = (None, None) if hx is None else hx
    bs = _cell_input("lstm_cell", input, h0, w_ih, w_hh, b_ih, b_hh, 4)
    _check_state("lstm_cell", c0, input.shape[0], w_hh.shape[1], "cx")
    out, _, c = LSTMSequence.apply(input, h0, c0, w_ih, w_hh, b_ih, b_hh, bs, False)
    return out, c


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step: the new (batch, hidden) state (``hx`` may be None)."""
    bs = _cell_input("gru_cell", input, hx, w_ih, w_hh, b_ih, b_hh, 3)
    return GRUSequence.apply(input, hx, w_ih, w_hh, b_ih, b_hh, bs, False)[0]
