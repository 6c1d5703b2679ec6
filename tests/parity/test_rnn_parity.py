"""RNN, LSTM, GRU, their cells and the packing utilities against PyTorch, given the same weights:
outputs, final states, the gradients of the input, of the initial states and of every
parameter, in float32 and float64; state_dict keys, default initialisation, repr and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.utils import rnn as U

torch = pytest.importorskip("torch")
tnn = torch.nn
TU = torch.nn.utils.rnn

T, B, I, H = 5, 3, 4, 6
DTYPES = ["float32", "float64"]
TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-9, atol=1e-11)}
MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]


def _make(lib, mode, *args, **kw):
    if mode.startswith("RNN"):
        return lib.RNN(*args, nonlinearity=mode[4:].lower(), **kw)
    return getattr(lib, mode)(*args, **kw)


def _pair(mode, dtype, *args, **kw):
    """The same layer in both frameworks: torch's initial weights copied into chainrule's."""
    t = _make(tnn, mode, *args, **kw).to(getattr(torch, dtype))
    m = _make(nn, mode, *args, **kw).to(np.dtype(dtype))
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return m, t


def _np(t):
    return t.numpy() if isinstance(t, cr.Tensor) else t.detach().numpy()


def _same(a, b, dtype, what):
    a, b = _np(a), _np(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != torch's {b.shape}"
    assert a.dtype == b.dtype == np.dtype(dtype), f"{what}: dtype {a.dtype} / {b.dtype}"
    np.testing.assert_allclose(a, b, err_msg=what, **TOL[dtype])


def _flat(out):
    """The tensors of an RNN's result, in order: output (or packed data), h_n, (c_n)."""
    o, state = out
    o = o.data if isinstance(o, (U.PackedSequence, TU.PackedSequence)) else o
    return [o, *(state if isinstance(state, tuple) else (state,))]


def _backward(outs, seed=0):
    """Sum of each output times a fixed random tensor, backpropagated."""
    rng = np.random.default_rng(seed)
    loss = 0
    for o in outs:
        w = rng.standard_normal(tuple(o.shape)).astype(_np(o).dtype)
        loss = loss + (o * (cr.tensor(w) if isinstance(o, cr.Tensor) else torch.from_numpy(w))
                       ).sum()
    loss.backward()


def _check_grads(m, t, leaves, dtype):
    for k, (a, b) in enumerate(leaves):
        _same(a.grad, b.grad, dtype, f"gradient of input {k}")
    for (n, p), (_, q) in zip(m.named_parameters(), t.named_parameters(), strict=True):
        _same(p.grad, q.grad, dtype, f"gradient of {n}")


def _leaf(arr):
    return cr.tensor(arr.copy(), requires_grad=True), torch.tensor(arr.copy(), requires_grad=True)


def _states(mode, rng, shape, dtype):
    n = 2 if mode == "LSTM" else 1
    return [_leaf(rng.standard_normal(shape).astype(dtype)) for _ in range(n)]


def _hx(mode, states, side):
    if not states:
        return None
    hs = [s[side] for s in states]
    return tuple(hs) if mode == "LSTM" else hs[0]


# --- layers on padded (or unbatched) input ---

CONFIGS = {
    "2layers_bidir_states": dict(num_layers=2, bidirectional=True, states=True),
    "2layers_batch_first": dict(num_layers=2, batch_first=True, states=False),
    "bidir_batch_first_states": dict(bidirectional=True, batch_first=True, states=True),
    "1layer_nobias_states": dict(bias=False, states=True),
    "unbatched_states": dict(num_layers=2, bidirectional=True, states=True, unbatched=True),
    "unbatched": dict(batch_first=True, unbatched=True, states=False),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("mode", MODES)
def test_layer_matches_torch(mode, config, dtype):
    kw = dict(CONFIGS[config])
    states, unbatched = kw.pop("states"), kw.pop("unbatched", False)
    m, t = _pair(mode, dtype, I, H, **kw)
    rng = np.random.default_rng(0)
    shape = (T, I) if unbatched else ((B, T, I) if kw.get("batch_first") else (T, B, I))
    x = _leaf(rng.standard_normal(shape).astype(dtype))
    dirs = 2 if kw.get("bidirectional") else 1
    lead = (kw.get("num_layers", 1) * dirs,)
    st = _states(mode, rng, lead + ((H,) if unbatched else (B, H)), dtype) if states else []
    outs = _flat(m(x[0], _hx(mode, st, 0)))
    touts = _flat(t(x[1], _hx(mode, st, 1)))
    for k, (a, b) in enumerate(zip(outs, touts, strict=True)):
        _same(a, b, dtype, f"output {k}")
    _backward(outs)
    _backward(touts)
    _check_grads(m, t, [x, *st], dtype)


@pytest.mark.parametrize("path", ["fast", "reference"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_an_empty_batch_matches_torch(mode, batch_first, path):
    from chainrule import _jit

    m, t = _pair(mode, "float32", I, H, num_layers=2, bidirectional=True,
                 batch_first=batch_first)
    shape = (0, T, I) if batch_first else (T, 0, I)
    x = _leaf(np.zeros(shape, np.float32))
    with _jit.reference() if path == "reference" else warnings.catch_warnings():
        outs = _flat(m(x[0]))
        _backward(outs)
    touts = _flat(t(x[1]))
    _backward(touts)
    for k, (a, b) in enumerate(zip(outs, touts, strict=True)):
        _same(a, b, "float32", f"output {k}")
    _check_grads(m, t, [x], "float32")  # the weights' gradients: zeros of their shapes


@pytest.mark.parametrize("mode", MODES)
def test_eval_mode_and_zero_dropout_in_training_match_torch(mode):
    m, t = _pair(mode, "float64", I, H, num_layers=3, dropout=0.4)
    m.eval()
    t.eval()
    x = np.random.default_rng(1).standard_normal((T, B, I))
    for a, b in zip(_flat(m(cr.tensor(x))), _flat(t(torch.tensor(x))), strict=True):
        _same(a, b, "float64", "eval output")
    m0, t0 = _pair(mode, "float64", I, H, num_layers=2, dropout=0.0)
    for a, b in zip(_flat(m0(cr.tensor(x))), _flat(t0(torch.tensor(x))), strict=True):
        _same(a, b, "float64", "train output without dropout")


def test_dropout_between_layers_acts_in_training_only():
    m = nn.LSTM(I, H, num_layers=2, dropout=0.5).double()
    x = cr.tensor(np.random.default_rng(2).standard_normal((T, B, I)))
    m.eval()
    ref, (ref_h, _) = m(x)
    m.train()
    cr.manual_seed(7)
    a, (a_h, _) = m(x)
    cr.manual_seed(7)
    b, _ = m(x)
    assert not np.allclose(a.numpy(), ref.numpy()), "dropout changed nothing in training"
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    # dropout sits between the layers: the first layer's final state is untouched by it
    np.testing.assert_allclose(a_h.numpy()[0], ref_h.numpy()[0], rtol=1e-12)
    assert not np.allclose(a_h.numpy()[1], ref_h.numpy()[1])


# --- packed sequences ---

LENGTHS = {"sorted": [5, 4, 4, 2], "unsorted": [2, 5, 1, 4]}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", list(LENGTHS))
@pytest.mark.parametrize("mode", MODES)
def test_packed_sequence_matches_torch(mode, order, dtype):
    lengths = LENGTHS[order]
    sorted_ = order == "sorted"
    bf = not sorted_  # batch-major padding for one case, time-major for the other
    batch = len(lengths)
    m, t = _pair(mode, dtype, I, H, num_layers=2, bidirectional=True, batch_first=bf)
    rng = np.random.default_rng(3)
    x = _leaf(rng.standard_normal((batch, T, I) if bf else (T, batch, I)).astype(dtype))
    st = _states(mode, rng, (4, batch, H), dtype)
    p = U.pack_padded_sequence(x[0], lengths, batch_first=bf, enforce_sorted=sorted_)
    tp = TU.pack_padded_sequence(x[1], torch.tensor(lengths), batch_first=bf,
                                 enforce_sorted=sorted_)
    assert p.batch_sizes.tolist() == tp.batch_sizes.tolist()
    for a, b in ((p.sorted_indices, tp.sorted_indices), (p.unsorted_indices, tp.unsorted_indices)):
        assert (a is None) == (b is None) and (a is None or a.tolist() == b.tolist())
    _same(p.data, tp.data, dtype, "packed data")
    out, tout = m(p, _hx(mode, st, 0)), t(tp, _hx(mode, st, 1))
    assert isinstance(out[0], U.PackedSequence)
    assert out[0].batch_sizes.tolist() == tout[0].batch_sizes.tolist()
    outs, touts = _flat(out), _flat(tout)
    for k, (a, b) in enumerate(zip(outs, touts, strict=True)):
        _same(a, b, dtype, f"output {k}")
    padded, lens = U.pad_packed_sequence(out[0], batch_first=bf, padding_value=-2.0,
                                         total_length=T + 1)
    tpadded, tlens = TU.pad_packed_sequence(tout[0], batch_first=bf, padding_value=-2.0,
                                            total_length=T + 1)
    _same(padded, tpadded, dtype, "pad_packed_sequence")
    assert lens.tolist() == tlens.tolist() == lengths and lens.dtype == np.int64
    _backward([padded, *outs[1:]])
    _backward([tpadded, *touts[1:]])
    _check_grads(m, t, [x, *st], dtype)


def test_packed_final_state_is_each_sequences_own_last_step():
    m = nn.GRU(I, H).double()
    rng = np.random.default_rng(4)
    seqs = [cr.tensor(rng.standard_normal((n, I))) for n in (4, 1, 3)]
    _, h = m(U.pack_sequence(seqs, enforce_sorted=False))
    for k, s in enumerate(seqs):
        _, h_alone = m(s)
        np.testing.assert_allclose(h.numpy()[0, k], h_alone.numpy()[0], rtol=1e-12)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, side):
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal((n, 2, 3)).astype(np.float32) for n in (3, 5, 1)]
    xs = [_leaf(a) for a in arrays]
    out = U.pad_sequence([x[0] for x in xs], batch_first, 0.5, side)
    tout = TU.pad_sequence([x[1] for x in xs], batch_first, 0.5, side)
    _same(out, tout, "float32", "pad_sequence")
    _backward([out])
    _backward([tout])
    for k, (a, b) in enumerate(xs):
        _same(a.grad, b.grad, "float32", f"gradient of sequence {k}")


def test_pack_sequence_and_unpack_match_torch():
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((n, 2)) for n in (2, 4, 3)]
    p = U.pack_sequence([cr.tensor(a) for a in arrays], enforce_sorted=False)
    tp = TU.pack_sequence([torch.tensor(a) for a in arrays], enforce_sorted=False)
    _same(p.data, tp.data, "float64", "pack_sequence data")
    assert p.sorted_indices.tolist() == tp.sorted_indices.tolist()
    for a, b in zip(U.unpack_sequence(p), TU.unpack_sequence(tp), strict=True):
        _same(a, b, "float64", "unpack_sequence")
    padded = U.pad_sequence([cr.tensor(a) for a in arrays])
    for a, b in zip(U.unpad_sequence(padded, [2, 4, 3]), arrays, strict=True):
        np.testing.assert_array_equal(a.numpy(), b)


def test_packing_errors_name_the_function():
    x = cr.zeros(4, 3, 2)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        U.pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(ValueError, match="greater than 0"):
        U.pack_padded_sequence(x, [4, 2, 0])
    with pytest.raises(ValueError, match="exceeds the 4 time steps"):
        U.pack_padded_sequence(x, [5, 2, 1])
    with pytest.raises(ValueError, match="one length per sequence"):
        U.pack_padded_sequence(x, [4, 2])
    p = U.pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match="total_length"):
        U.pad_packed_sequence(p, total_length=3)


# --- cells ---

CELLS = {"RNNCell_tanh": ("RNNCell", {}), "RNNCell_relu": ("RNNCell", {"nonlinearity": "relu"}),
         "LSTMCell": ("LSTMCell", {}), "GRUCell": ("GRUCell", {}),
         "GRUCell_nobias": ("GRUCell", {"bias": False})}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["batched", "batched_no_state", "unbatched"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_cell_matches_torch(cell, form, dtype):
    name, kw = CELLS[cell]
    t = getattr(tnn, name)(I, H, **kw).to(getattr(torch, dtype))
    m = getattr(nn, name)(I, H, **kw).to(np.dtype(dtype))
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    rng = np.random.default_rng(7)
    lead = () if form == "unbatched" else (B,)
    x = _leaf(rng.standard_normal(lead + (I,)).astype(dtype))
    lstm = name == "LSTMCell"
    st = [] if form == "batched_no_state" else _states("LSTM" if lstm else "", rng, lead + (H,),
                                                       dtype)
    args = [(x[s], _hx("LSTM" if lstm else "", st, s)) for s in (0, 1)]
    outs, touts = m(*args[0]), t(*args[1])
    outs, touts = (list(outs), list(touts)) if lstm else ([outs], [touts])
    for k, (a, b) in enumerate(zip(outs, touts, strict=True)):
        _same(a, b, dtype, f"output {k}")
    _backward(outs)
    _backward(touts)
    _check_grads(m, t, [x, *st], dtype)


# --- structure: keys, initialisation, repr, errors ---


@pytest.mark.parametrize("kw", [dict(num_layers=2, bidirectional=True), dict(bias=False),
                                dict(num_layers=3, bias=False, bidirectional=True)])
@pytest.mark.parametrize("mode", MODES)
def test_state_dict_keys_order_and_shapes_match_torch(mode, kw):
    m, t = _make(nn, mode, 5, 7, **kw), _make(tnn, mode, 5, 7, **kw)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in t.state_dict().items()]
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_state_dict_matches_torch(name, bias):
    m, t = getattr(nn, name)(5, 7, bias=bias), getattr(tnn, name)(5, 7, bias=bias)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in t.state_dict().items()]


@pytest.mark.parametrize("layer", ["LSTM", "GRU", "RNN", "LSTMCell", "RNNCell"])
def test_default_init_is_uniform_within_one_over_sqrt_hidden(layer):
    cr.manual_seed(0)
    m = getattr(nn, layer)(64, 400)
    bound = 1 / np.sqrt(400)
    for name, p in m.named_parameters():
        a = p.numpy()
        assert a.dtype == np.float32
        assert np.abs(a).max() <= bound, name
        assert np.abs(a).max() > (1 - 20 / a.size) * bound, name
        # U(-b, b): mean 0, variance b^2 / 3, each to 5 standard errors (the sample variance
        # of n uniforms has relative standard error sqrt(0.8 / n))
        assert abs(a.mean()) < 5 * bound / np.sqrt(3 * a.size), name
        assert abs(a.var() / (bound**2 / 3) - 1) < 5 * np.sqrt(0.8 / a.size), name


def test_repr_matches_torch():
    cases = [("RNN", (3, 4), {}), ("RNN", (3, 4, 2), dict(nonlinearity="relu", bias=False)),
             ("LSTM", (3, 4), dict(num_layers=2, batch_first=True, dropout=0.5,
                                   bidirectional=True)),
             ("GRU", (3, 4), {}), ("RNNCell", (3, 4), dict(nonlinearity="relu")),
             ("LSTMCell", (3, 4), dict(bias=False)), ("GRUCell", (3, 4), {})]
    for name, args, kw in cases:
        assert repr(getattr(nn, name)(*args, **kw)) == repr(getattr(tnn, name)(*args, **kw))


def test_errors_name_the_layer_and_shapes():
    lstm = nn.LSTM(I, H, num_layers=2)
    with pytest.raises(RuntimeError, match=r"LSTM: input.size\(-1\) must be equal to input_size"):
        lstm(cr.zeros(T, B, I + 1))
    with pytest.raises(RuntimeError, match=r"expected h_0 of size \(2, 3, 6\), got \(1, 3, 6\)"):
        lstm(cr.zeros(T, B, I), (cr.zeros(1, B, H), cr.zeros(2, B, H)))
    with pytest.raises(RuntimeError, match="c_0 should also be 3-D"):
        lstm(cr.zeros(T, B, I), (cr.zeros(2, B, H), cr.zeros(B, H)))
    with pytest.raises(TypeError, match=r"LSTM: hx should be a pair \(h_0, c_0\)"):
        lstm(cr.zeros(T, B, I), cr.zeros(2, B, H))
    with pytest.raises(ValueError, match="batch_sizes should be positive and non-increasing"):
        lstm(U.PackedSequence(cr.zeros(5, I), cr.tensor([2, 3])))
    with pytest.raises(ValueError, match="LSTM: expected input to be 2-D .* or 3-D"):
        lstm(cr.zeros(2, T, B, I))
    with pytest.raises(ValueError, match="input dtype"):
        lstm(cr.zeros(T, B, I, dtype=cr.float64))
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(I, H, proj_size=2)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(I, H, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(I, H, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be an integer greater than zero"):
        nn.GRU(I, 0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        nn.GRU(I, H, dropout=0.2)
    assert any("num_layers greater than 1" in str(x.message) for x in w)
    with pytest.raises(ValueError, match=r"GRUCell: expected input to be 1-D or 2-D"):
        nn.GRUCell(I, H)(cr.zeros(1, B, I))
    with pytest.raises(ValueError, match=r"gru_cell: hx of shape \(2, 6\) does not match"):
        nn.GRUCell(I, H)(cr.zeros(B, I), cr.zeros(2, H))


def test_truncated_bptt_detach_stops_gradients_at_the_chunk():
    lstm = nn.LSTM(I, H).double()
    x = cr.tensor(np.random.default_rng(8).standard_normal((2 * T, B, I)), requires_grad=True)
    _, (h, c) = lstm(x[:T])
    out, _ = lstm(x[T:], (h.detach(), c.detach()))
    out.sum().backward()
    assert np.all(x.grad.numpy()[:T] == 0) and np.any(x.grad.numpy()[T:] != 0)
