"""Spec rows for the recurrent primitives (see ``specs.py``).

Each fused sequence primitive is compared with PyTorch's own one-step kernels
(``torch.lstm_cell`` and friends) run in a Python loop over the steps, with the rows of finished
sequences held back exactly as a packed batch needs.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops import recurrent as rec
from tests.ops.specs import Spec, normal

TOL = (1e-4, 1e-5)  # NOTE: float32 rounding compounds over the time steps.

PACKED = (3, 3, 2, 1)  # batch sizes of a packed batch of lengths 4, 3, 2
N_PACKED = sum(PACKED)


def small(rng, shape):
    """Weights (and states) with std 1 / sqrt(fan-in): gates not saturated, gradients neither
    vanishing nor exploding over the steps."""
    return rng.standard_normal(shape) / np.sqrt(shape[-1])


def _torch_loop(cell, x, h0, c0, weights, sizes, reverse):
    """The sequence through PyTorch's cell kernel, rows [n:] of the state left untouched."""
    import torch

    offs = np.cumsum([0] + list(sizes[:-1]))
    batch, hidden = sizes[0], weights[1].shape[1]
    zeros = torch.zeros(batch, hidden, dtype=x.dtype)
    h = zeros if h0 is None else h0
    c = zeros if c0 is None else c0
    outs = [None] * len(sizes)
    for t in (reversed(range(len(sizes))) if reverse else range(len(sizes))):
        n, xt = sizes[t], x[offs[t]:offs[t] + sizes[t]]
        if c0 is not None or cell is torch.lstm_cell:
            hn, cn = cell(xt, (h[:n], c[:n]), *weights)
            c = torch.cat([cn, c[n:]])
        else:
            hn = cell(xt, h[:n], *weights)
        h = torch.cat([hn, h[n:]])
        outs[t] = hn
    return torch.cat(outs), h, c


def _fn(kind, sizes=None, reverse=False, state=True, bias=True, relu=False):
    """The chainrule call and the torch reference for one configuration."""
    lstm = kind == "lstm"

    def split(args):
        args = list(args)
        x = args.pop(0)
        h0 = args.pop(0) if state else None
        c0 = args.pop(0) if state and lstm else None
        w = args + [None, None] if not bias else args
        return x, h0, c0, w

    def fn(*args):
        x, h0, c0, w = split(args)
        if lstm:
            return rec.lstm_sequence(x, h0, c0, *w, batch_sizes=sizes, reverse=reverse)
        if kind == "gru":
            return rec.gru_sequence(x, h0, *w, batch_sizes=sizes, reverse=reverse)
        return rec.rnn_sequence(x, h0, *w, batch_sizes=sizes, reverse=reverse,
                                nonlinearity="relu" if relu else "tanh")

    def torch_fn(*args):
        import torch

        x, h0, c0, w = split(args)
        shape = x.shape
        steps = sizes or (shape[1],) * shape[0]
        cell = {"lstm": torch.lstm_cell, "gru": torch.gru_cell}.get(
            kind, torch.rnn_relu_cell if relu else torch.rnn_tanh_cell)
        out, h, c = _torch_loop(cell, x.reshape(-1, shape[-1]), h0, c0, w, steps, reverse)
        out = out.reshape(shape[:-1] + (out.shape[-1],))
        return (out, h, c) if lstm else (out, h)

    return fn, torch_fn


def _shapes(gates, x, batch, inp, hidden, state, lstm, bias):
    s = [x]
    if state:
        s += [(batch, hidden)] * (2 if lstm else 1)
    s += [(gates * hidden, inp), (gates * hidden, hidden)]
    if bias:
        s += [(gates * hidden,)] * 2
    return tuple(s)


def _row(name, prim, kind, gates, packed=False, reverse=False, state=True, bias=True,
         relu=False):
    lstm = kind == "lstm"
    sizes = PACKED if packed else None

    def shapes(steps, batch, inp, hidden):
        if packed:
            x = (N_PACKED, inp)
            batch = PACKED[0]
        else:
            x = (steps, batch, inp)
        return _shapes(gates, x, batch, inp, hidden, state, lstm, bias)

    fn, torch_fn = _fn(kind, sizes, reverse, state, bias, relu)
    cases = (shapes(3, 2, 3, 4),) if packed else (shapes(3, 2, 3, 4), shapes(1, 1, 2, 3))
    n = len(cases[0])
    return Spec(name=name, prims=(prim,), fn=fn, torch_fn=torch_fn, cases=cases,
                big=shapes(12, 8, 16, 24), gens=(normal,) + (small,) * (n - 1), tol32=TOL)


def _gather(x):
    rows = np.array([4, 0, 2, 5])
    return rec.GatherRows.apply(x.reshape(-1, x.shape[-1]), rows)


def _gather_t(x):
    import torch

    return x.reshape(-1, x.shape[-1])[torch.tensor([4, 0, 2, 5])]


def _scatter(x):
    rows = np.array([6, 1, 3, 0])
    return rec.ScatterRows.apply(x, rows, 8, -1.5)


def _scatter_t(x):
    import torch

    out = torch.full((8,) + tuple(x.shape[1:]), -1.5, dtype=x.dtype)
    return out.index_put((torch.tensor([6, 1, 3, 0]),), x)


SPECS: list[Spec] = [
    _row("rnn_tanh_sequence", rec.RNNSequence, "rnn", 1),
    _row("rnn_relu_sequence_reverse", rec.RNNSequence, "rnn", 1, reverse=True, relu=True),
    _row("rnn_tanh_sequence_packed", rec.RNNSequence, "rnn", 1, packed=True),
    _row("rnn_tanh_sequence_packed_reverse_nobias", rec.RNNSequence, "rnn", 1, packed=True,
         reverse=True, bias=False),
    _row("lstm_sequence", rec.LSTMSequence, "lstm", 4),
    _row("lstm_sequence_reverse", rec.LSTMSequence, "lstm", 4, reverse=True),
    _row("lstm_sequence_zero_state_nobias", rec.LSTMSequence, "lstm", 4, state=False,
         bias=False),
    _row("lstm_sequence_packed", rec.LSTMSequence, "lstm", 4, packed=True),
    _row("lstm_sequence_packed_reverse", rec.LSTMSequence, "lstm", 4, packed=True, reverse=True),
    _row("gru_sequence", rec.GRUSequence, "gru", 3),
    _row("gru_sequence_reverse_zero_state", rec.GRUSequence, "gru", 3, reverse=True,
         state=False),
    _row("gru_sequence_nobias", rec.GRUSequence, "gru", 3, bias=False),
    _row("gru_sequence_packed", rec.GRUSequence, "gru", 3, packed=True),
    _row("gru_sequence_packed_reverse", rec.GRUSequence, "gru", 3, packed=True, reverse=True),
    Spec(name="gather_rows", prims=(rec.GatherRows,), fn=_gather, torch_fn=_gather_t,
         cases=(((2, 3, 4),), ((6, 1),)), big=((64, 3, 128),)),
    Spec(name="scatter_rows", prims=(rec.ScatterRows,), fn=_scatter, torch_fn=_scatter_t,
         cases=(((4, 3),), ((4, 2, 1),)), big=((4, 256),)),
]
