"""The compiled step kernels of the recurrent layers (chainrule.ops._recurrent_jit) against the
NumPy reference path: outputs, final states and every gradient, over the layers' options, both
dtypes, packed batches, saturating gates and the batch cut over threads."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import _jit, _mkl, nn
from chainrule.nn.utils import rnn as U
from chainrule.ops import _recurrent_jit as jit

pytestmark = pytest.mark.usefixtures("fast_paths")

T, B, I, H = 6, 5, 3, 7
LENGTHS = [6, 4, 4, 2, 1]  # sorted, so the packed batch sizes shrink
MODES = {"RNN_TANH": ("RNN", dict(nonlinearity="tanh")),
         "RNN_RELU": ("RNN", dict(nonlinearity="relu")),
         "LSTM": ("LSTM", {}), "GRU": ("GRU", {})}
# NOTE: float32 differs by the tanh approximation (3e-7) and fused multiply-adds, compounded
# over the steps; float64 only by the order of a few additions.
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-12)}


def _model(mode, dtype, **kw):
    cls, extra = MODES[mode]
    cr.manual_seed(0)
    m = getattr(nn, cls)(I, H, **extra, **kw)
    return m.double() if dtype == np.float64 else m


def _run(mode, dtype, *, scale=1.0, state=False, packed=False, batch=B, loss="weighted", **kw):
    """Forward and backward through a fresh layer; every array that comes out."""
    m = _model(mode, dtype, **kw)
    rng = np.random.default_rng(1)
    dirs = 2 if kw.get("bidirectional") else 1
    shape = (batch, T, I) if kw.get("batch_first") else (T, batch, I)
    x = cr.tensor((scale * rng.standard_normal(shape)).astype(dtype), requires_grad=True)
    leaves = [x]
    hx = None
    if state:
        n = kw.get("num_layers", 1) * dirs
        hs = [cr.tensor(rng.standard_normal((n, batch, H)).astype(dtype), requires_grad=True)
              for _ in range(2 if mode == "LSTM" else 1)]
        leaves += hs
        hx = tuple(hs) if mode == "LSTM" else hs[0]
    inp = U.pack_padded_sequence(x, LENGTHS, batch_first=kw.get("batch_first", False)) \
        if packed else x
    out, st = m(inp, hx)
    outs = [out.data if packed else out, *(st if mode == "LSTM" else (st,))]
    total = 0
    for o in outs:
        if loss == "sum":  # a broadcast (read-only, strided) output gradient
            total = total + o.sum()
        else:
            w = rng.standard_normal(tuple(o.shape)).astype(dtype)
            total = total + (o * cr.tensor(w)).sum()
    total.backward()
    return ([o.numpy() for o in outs] + [t.grad.numpy() for t in leaves]
            + [p.grad.numpy() for p in m.parameters()])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("options", [
    dict(),
    dict(num_layers=2, bidirectional=True),
    dict(batch_first=True, state=True),
    dict(num_layers=2, state=True, bias=False),
    dict(bidirectional=True, packed=True),
    dict(num_layers=2, bidirectional=True, packed=True, state=True, batch_first=True),
    dict(loss="sum"),
], ids=["plain", "2layers-bidir", "batch_first-state", "2layers-state-nobias", "packed-bidir",
        "packed-everything", "broadcast-grad"])
def test_layers_compiled_match_reference(compiled_vs_reference, mode, dtype, options):
    fast, _ = compiled_vs_reference(lambda: _run(mode, dtype, **options), **TOL[dtype])
    assert all(np.isfinite(a).all() for a in fast)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", list(MODES))
def test_step_kernels_without_mkl_match_reference(compiled_vs_reference, monkeypatch, mode,
                                                  dtype):
    # numba without MKL (not x86-64 Linux): the step kernels between NumPy's GEMMs and tanh
    monkeypatch.setattr(_mkl, "_gemm", None)
    monkeypatch.setattr(_mkl, "_tried", True)
    for options in (dict(num_layers=2, bidirectional=True, state=True),
                    dict(num_layers=2, bidirectional=True, packed=True, state=True)):
        fast, _ = compiled_vs_reference(lambda: _run(mode, dtype, **options),  # noqa: B023
                                        **TOL[dtype])
        assert all(np.isfinite(a).all() for a in fast)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", list(MODES))
def test_saturating_gates_match_reference(compiled_vs_reference, mode, dtype):
    # NOTE: inputs of std 40 drive every gate to 0 or 1 and tanh to +-1: the compiled paths'
    # tanh (MKL's, for the LSTM's whole-sequence loop) must give the same saturated values and
    # (vanishing) gradients as NumPy's. In float32 the two tanh differ by an ulp here and there,
    # which 1 - tanh^2 near saturation turns into relative differences of ~1e-4 between the two
    # paths; what matters is that neither is further from the float64 result than the other.
    kw = dict(scale=40.0, state=True, bidirectional=True)
    tol = TOL[dtype] if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)
    fast, ref = compiled_vs_reference(lambda: _run(mode, dtype, **kw), **tol)
    assert all(np.isfinite(a).all() for a in fast)
    if dtype == np.float32:
        with _jit.reference():
            exact = _run(mode, np.float64, **kw)
        for f, r, e in zip(fast, ref, exact):
            floor = 1e-7 * max(1.0, np.abs(e).max())
            assert np.abs(f - e).max() <= 2 * np.abs(r - e).max() + floor


@pytest.mark.parametrize("mode", list(MODES))
def test_a_single_row(compiled_vs_reference, mode):
    fast, _ = compiled_vs_reference(lambda: _run(mode, np.float32, batch=1, bidirectional=True),
                                    **TOL[np.float32])
    assert fast[0].shape == (T, 1, 2 * H)


def _cell_run(kind, dtype, with_state):
    cr.manual_seed(0)
    cell = getattr(nn, kind)(I, H)
    if dtype == np.float64:
        cell = cell.double()
    rng = np.random.default_rng(2)
    x = cr.tensor(rng.standard_normal((B, I)).astype(dtype), requires_grad=True)
    leaves = [x]
    hx = None
    if with_state:
        hs = [cr.tensor(rng.standard_normal((B, H)).astype(dtype), requires_grad=True)
              for _ in range(2 if kind == "LSTMCell" else 1)]
        leaves += hs
        hx = tuple(hs) if kind == "LSTMCell" else hs[0]
    out = cell(x, hx)
    outs = list(out) if kind == "LSTMCell" else [out]
    total = sum((o * cr.tensor(rng.standard_normal(o.shape).astype(dtype))).sum() for o in outs)
    total.backward()
    return ([o.numpy() for o in outs] + [t.grad.numpy() for t in leaves]
            + [p.grad.numpy() for p in cell.parameters()])


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_compiled_match_reference(compiled_vs_reference, kind, dtype, with_state):
    compiled_vs_reference(lambda: _cell_run(kind, dtype, with_state), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", list(MODES))
def test_batch_cut_over_threads_compiled_match_reference(compiled_vs_reference, split, mode,
                                                          dtype):
    compiled_vs_reference(lambda: _run(mode, dtype, bidirectional=True, packed=True, state=True),
                          **TOL[dtype])
    assert [(0, 2), (2, 5)] in split


def test_the_compiled_kernels_are_the_path_taken(monkeypatch):
    from chainrule.ops import _recurrent_loops as loops

    names = {"add_bias_rows", "lstm_cell_step", "lstm_backward_step", "gru_candidate_step",
             "gru_output_step", "gru_backward_step", "rnn_backward_step"}
    calls = []
    for name in names:
        k = getattr(jit, name)
        monkeypatch.setattr(jit, name, lambda *a, _k=k, _n=name: (calls.append(_n), _k(*a)))
    whole = {f"{kind}_{way}" for kind in ("rnn", "lstm", "gru") for way in ("forward",
                                                                            "backward")}
    for name in whole:  # with MKL: whole sequences in one compiled call, padded or packed
        k = getattr(loops, name)
        monkeypatch.setattr(loops, name, lambda *a, _k=k, _n=name: (calls.append(_n), _k(*a)))
    for packed in (False, True):
        for mode in MODES:
            _run(mode, np.float32, packed=packed)
        assert set(calls) == whole
        calls.clear()
    monkeypatch.setattr(_mkl, "_gemm", None)  # numba without MKL: step by step
    monkeypatch.setattr(_mkl, "_tried", True)
    for mode in MODES:
        _run(mode, np.float32)
    assert set(calls) == names
    calls.clear()
    with _jit.reference():
        _run("LSTM", np.float32)
    assert calls == []


def test_nan_and_inf_propagate_like_the_reference(compiled_vs_reference):
    def run():
        out = []
        for mode in MODES:
            m = _model(mode, np.float32)
            x = np.zeros((T, B, I), np.float32)
            x[1, 0, 0], x[2, 1, 1], x[3, 2, 2] = np.nan, np.inf, -np.inf
            xt = cr.tensor(x, requires_grad=True)
            with np.errstate(all="ignore"):  # inf - inf in the GEMMs: NaN, on both paths
                o, _ = m(xt)
                o.sum().backward()
            out += [o.numpy(), xt.grad.numpy()]
        return out

    fast, _ = compiled_vs_reference(run, **TOL[np.float32])
    assert any(np.isnan(a).any() for a in fast)
