"""Runs of Linear (and ReLU) layers under no_grad: each core takes half the batch through
every layer (``_mkl.linear_chain``, ``ops.linalg.linear_chain``, nn.Sequential)."""

import time

import numpy as np
import pytest

import chainrule as cr
from chainrule import _mkl, nn
from chainrule.ops.linalg import linear_chain

pytestmark = pytest.mark.usefixtures("fast_paths", "mkl_loaded")


@pytest.fixture
def mkl_loaded():
    assert _mkl.available()  # (loads MKL, whose functions the partner calls)


def _layers(rng, sizes, dtype, bias=(True,), relu=(True,), layouts=("t",)):
    """(wt, bias, relu) per layer: wt (in, out) as a Linear layer's weight transposed ("t"),
    or a C-contiguous (in, out) array ("c")."""
    out = []
    for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(dtype)
        wt = w.T if layouts[i % len(layouts)] == "t" else np.ascontiguousarray(w.T)
        b = rng.standard_normal(n).astype(dtype) if bias[i % len(bias)] else None
        out.append((wt, b, bool(relu[i % len(relu)])))
    return out


def _one_by_one(x, layers):
    for wt, b, relu in layers:
        x = x @ wt if b is None else x @ wt + b
        if relu:
            x = np.maximum(x, 0)
    return x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [64, 128, 129, 300])
def test_the_chain_equals_the_layers_one_by_one(dtype, rows):
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 784)).astype(dtype)
    layers = _layers(rng, (784, 512, 256, 10), dtype, bias=(True, False), relu=(True, False, True),
                     layouts=("t", "c"))
    layers[2][1][5] = np.nan  # a NaN bias: that output column stays NaN through relu
    before = [(wt.copy(), None if b is None else b.copy()) for wt, b, _ in layers]
    done = _mkl._partner_thread().ctl[0]  # (_partner._POSTED: the partner got one job)
    got = _mkl.linear_chain(x, layers)
    assert got is not None and got.shape == (rows, 10) and got.dtype == np.dtype(dtype)
    assert _mkl._partner_thread().ctl[0] == done + 1
    tol = 1e-4 if dtype == "float32" else 1e-12
    expected = _one_by_one(x, layers)
    assert np.isnan(got[:, 5]).all() and np.isfinite(np.delete(got, 5, axis=1)).all()
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    assert (np.delete(got, 5, axis=1) > 0).any() and (got == 0).any()  # relu did cut some
    for (wt, b, _), (wt0, b0) in zip(layers, before):  # the weights are never written
        np.testing.assert_array_equal(wt, wt0)
        if b is not None:
            np.testing.assert_array_equal(b, b0)


def test_the_chain_declines_what_it_cannot_take():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((128, 784)).astype(np.float32)
    layers = _layers(rng, (784, 512, 10), np.float32)
    assert _mkl.linear_chain(x, layers) is not None
    declined = {
        "too few rows": (x[:63], layers),
        "not C-contiguous": (np.asfortranarray(x), layers),
        "a float64 input": (x.astype(np.float64), layers),
        "a float64 bias": (x, [(layers[0][0], layers[0][1].astype(np.float64), True),
                               layers[1]]),
        "shapes that do not chain": (x, [layers[0], layers[0]]),
        "an empty layer": (x, [layers[0], (np.zeros((512, 0), np.float32), None, False)]),
        "too little work": (x[:, :8], _layers(rng, (8, 8, 8), np.float32)),
        "no layers": (x, []),
    }
    for why, (xx, ll) in declined.items():
        assert _mkl.linear_chain(xx, ll) is None, why
    partner = _mkl._partner_thread()
    with partner.lock:  # another thread's product holds the partner
        assert _mkl.linear_chain(x, layers) is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_callers_thread_runs_the_half_of_a_partner_that_stays_asleep(monkeypatch, dtype):
    from chainrule import _partner

    rng = np.random.default_rng(2)
    x = rng.standard_normal((128, 784)).astype(dtype)
    layers = _layers(rng, (784, 512, 256, 10), dtype)
    expected = _one_by_one(x, layers)
    partner = _mkl._partner_thread()
    monkeypatch.setattr(_partner, "SPIN_NS", 1000)
    _mkl.linear_chain(x, layers)
    _partner.quiet()
    deadline = time.monotonic() + 10
    while not partner.ctl[_partner._ASLEEP]:
        assert time.monotonic() < deadline, "the partner never went to sleep"
        time.sleep(0.001)
    monkeypatch.setattr(_partner._Partner, "_wake", lambda self: None)
    done = partner.ctl[_partner._DONE]
    got = _mkl.linear_chain(x, layers)
    assert partner.ctl[_partner._CLAIMED] == done + 1 and partner.ctl[_partner._ASLEEP]
    tol = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def _mlp():
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def _spy(monkeypatch):
    calls = []
    real = _mkl.linear_chain

    def spy(x, layers):
        y = real(x, layers)
        calls.append(y is not None)
        return y

    monkeypatch.setattr(_mkl, "linear_chain", spy)
    return calls


def test_sequential_runs_its_linear_layers_as_one_chain_under_no_grad(monkeypatch):
    calls = _spy(monkeypatch)
    net = _mlp()
    x = cr.randn(3, 128, 784)  # leading dims: rows of one chain
    with cr.no_grad():
        y = net(x)
        one_by_one = x
        for m in net:
            one_by_one = m(one_by_one)
    assert calls == [True] and y.shape == (3, 128, 10) and not y.requires_grad
    np.testing.assert_allclose(y.numpy(), one_by_one.numpy(), rtol=1e-5, atol=1e-5)
    y = net(x)  # grad mode on: layer by layer, with a graph
    assert calls == [True] and y.requires_grad
    with cr.inference_mode():
        assert not net(x).requires_grad
    assert calls == [True, True]


def test_sequential_does_not_chain_across_a_hooked_layer(monkeypatch):
    calls = _spy(monkeypatch)
    net = _mlp()
    seen = []
    net[2].register_forward_hook(lambda mod, args, out: seen.append(out.shape))
    with cr.no_grad():
        y = net(cr.randn(128, 784))
    # Linear(784, 512) + ReLU alone is no chain; the hooked layer runs itself, and what
    # follows it (ReLU, Linear(256, 10)) is no chain either
    assert calls == [] and seen == [(128, 256)] and y.shape == (128, 10)


def test_a_chain_that_does_not_apply_runs_layer_by_layer_and_raises_their_errors():
    net = _mlp()
    with cr.no_grad():
        assert net(cr.randn(2, 784)).shape == (2, 10)  # too few rows: one by one
        assert linear_chain(cr.randn(2, 784), [(net[0].weight, net[0].bias, True)]) is None
        with pytest.raises(RuntimeError, match="linear"):
            net(cr.randn(128, 783))
