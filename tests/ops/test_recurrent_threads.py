"""The recurrent kernels with the batch cut over threads (the path large recurrences take),
forced on small sizes, against PyTorch: outputs, final states and every gradient, padded and
packed, both directions."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.utils import rnn as U
from chainrule.ops import _recurrent_steps as steps
from chainrule.ops import _threads

torch = pytest.importorskip("torch")

T, B, I, H = 5, 7, 3, 4
LENGTHS = [5, 5, 4, 2, 2, 1, 1]  # sorted, so the packed batch sizes shrink to 1
MODES = {"RNN": dict(nonlinearity="tanh"), "LSTM": {}, "GRU": {}}


def _pair(mode):
    kw = dict(MODES[mode], num_layers=2, bidirectional=True)
    t = getattr(torch.nn, mode)(I, H, **kw).double()
    m = getattr(nn, mode)(I, H, **kw).double()
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return m, t


def _check(m, t, outs_m, outs_t, leaves):
    rng = np.random.default_rng(1)
    loss_m, loss_t = 0, 0
    for a, b in zip(outs_m, outs_t, strict=True):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-11)
        w = rng.standard_normal(tuple(a.shape))
        loss_m = loss_m + (a * cr.tensor(w)).sum()
        loss_t = loss_t + (b * torch.from_numpy(w)).sum()
    loss_m.backward()
    loss_t.backward()
    for a, b in leaves:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-11)
    for (name, p), (_, q) in zip(m.named_parameters(), t.named_parameters(), strict=True):
        assert p.grad.dtype == np.float64
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-11,
                                   err_msg=name)


def _leaf(arr):
    return cr.tensor(arr.copy(), requires_grad=True), torch.tensor(arr.copy(), requires_grad=True)


def _state(mode, rng):
    hs = [_leaf(rng.standard_normal((4, B, H))) for _ in range(2 if mode == "LSTM" else 1)]
    return hs, [tuple(h[k] for h in hs) if mode == "LSTM" else hs[0][k] for k in (0, 1)]


@pytest.mark.parametrize("mode", list(MODES))
def test_padded_batch_cut_over_threads_matches_torch(split, mode):
    m, t = _pair(mode)
    rng = np.random.default_rng(0)
    x = _leaf(rng.standard_normal((T, B, I)))
    hs, (hm, ht) = _state(mode, rng)
    om, sm = m(x[0], hm)
    ot, s_t = t(x[1], ht)
    flat = (lambda o, s: [o, *s]) if mode == "LSTM" else (lambda o, s: [o, s])
    _check(m, t, flat(om, sm), flat(ot, s_t), [x, *hs])
    assert [(0, 2), (2, 4), (4, 7)] in split


@pytest.mark.parametrize("mode", list(MODES))
def test_packed_batch_cut_over_threads_matches_torch(split, mode):
    m, t = _pair(mode)
    rng = np.random.default_rng(0)
    x = _leaf(rng.standard_normal((T, B, I)))
    hs, (hm, ht) = _state(mode, rng)
    om, sm = m(U.pack_padded_sequence(x[0], LENGTHS), hm)
    ot, s_t = t(torch.nn.utils.rnn.pack_padded_sequence(x[1], LENGTHS), ht)
    flat = (lambda o, s: [o.data, *s]) if mode == "LSTM" else (lambda o, s: [o.data, s])
    _check(m, t, flat(om, sm), flat(ot, s_t), [x, *hs])
    assert [(0, 2), (2, 4), (4, 7)] in split


def test_small_recurrences_run_on_one_thread_and_large_batches_are_cut():
    w_small, w_large = np.empty((16, 4), np.float32), np.empty((1024, 256), np.float32)
    assert steps.plan(w_small, 3)[1] == [(0, 3)]
    ranges = steps.plan(w_large, 32)[1]
    assert ranges[0][0] == 0 and ranges[-1][1] == 32
    if _threads._THREADS >= 2 and _threads._OpenBLAS.found():
        assert len(ranges) == 2
    assert steps.plan(w_large, 8)[1] == [(0, 8)]  # too few rows per thread: no cut
