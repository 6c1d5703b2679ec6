"""Recurrent networks: one primitive runs one layer direction over a whole sequence.

This module holds the public functions (checks, layer stacks, single cells) and the packing
primitives; the fused kernels are in ``chainrule.ops.recurrent_kernels`` (re-exported here) and
their shared row bookkeeping and threading in ``chainrule.ops._recurrent_steps``.

Gate order and formulas are PyTorch's: LSTM (i, f, g, o), GRU (r, z, n) with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.
"""

from __future__ import annotations

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops.dropout import dropout as _dropout
from chainrule.ops.recurrent_kernels import GRUSequence, LSTMSequence, RNNSequence
from chainrule.ops.shape import cat, stack
from chainrule.tensor import Tensor

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
