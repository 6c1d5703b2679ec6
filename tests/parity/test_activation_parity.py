"""Activation layers and functions against PyTorch: values, input gradients, dtypes, reprs,
in-place forms, extreme inputs; and the error function gelu is built on against math.erf."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.ops.activation import erf_array, erfc_array
from tests.parity.helpers import check_parity

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64]
DT_IDS = ["f32", "f64"]

# (chainrule layer, torch layer) factories with the same arguments.
LAYERS = {
    "ReLU": (lambda: nn.ReLU(), lambda: torch.nn.ReLU()),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    "ELU": (lambda: nn.ELU(alpha=0.7), lambda: torch.nn.ELU(alpha=0.7)),
    "GELU": (lambda: nn.GELU(), lambda: torch.nn.GELU()),
    "GELU_tanh": (lambda: nn.GELU("tanh"), lambda: torch.nn.GELU("tanh")),
    "SiLU": (lambda: nn.SiLU(), lambda: torch.nn.SiLU()),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid()),
    "Tanh": (lambda: nn.Tanh(), lambda: torch.nn.Tanh()),
    "Softmax": (lambda: nn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1)),
    "LogSoftmax": (lambda: nn.LogSoftmax(-1), lambda: torch.nn.LogSoftmax(-1)),
    "Softplus": (lambda: nn.Softplus(beta=2, threshold=5), lambda: torch.nn.Softplus(2, 5)),
}
INPLACE = {
    "ReLU": (lambda: nn.ReLU(inplace=True), lambda: torch.nn.ReLU(inplace=True)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.05, True), lambda: torch.nn.LeakyReLU(0.05, True)),
    "ELU": (lambda: nn.ELU(2.0, inplace=True), lambda: torch.nn.ELU(2.0, inplace=True)),
    "SiLU": (lambda: nn.SiLU(inplace=True), lambda: torch.nn.SiLU(inplace=True)),
}


def _x(dtype, shape=(4, 6, 3), scale=3.0, seed=0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_torch(name, dtype):
    make, make_t = LAYERS[name]
    m, tm = make(), make_t()
    assert list(m.state_dict()) == list(tm.state_dict()) == []
    check_parity(m, tm, [_x(dtype)])
    m.eval()
    tm.eval()
    check_parity(m, tm, [_x(dtype, seed=1)])  # no train/eval difference, checked


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_layer_matches_torch_and_overwrites(name, dtype):
    make, make_t = INPLACE[name]
    m, tm = make(), make_t()
    check_parity(lambda x: m(x * 1), lambda x: tm(x * 1), [_x(dtype)])
    h = cr.tensor(_x(dtype))
    before = h.numpy().copy()
    with cr.no_grad():
        out = m(h)
    assert out is h
    with torch.no_grad():
        expected = tm(torch.from_numpy(before.copy())).numpy()
    np.testing.assert_allclose(h.numpy(), expected, rtol=1e-6)


def test_inplace_on_a_leaf_that_requires_grad_raises_like_torch():
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        F.leaky_relu(x, inplace=True)
    with pytest.raises(RuntimeError):
        torch.nn.functional.leaky_relu(torch.tensor([1.0, -2.0], requires_grad=True),
                                       inplace=True)


@pytest.mark.parametrize("name", list(LAYERS) + [f"{n}_inplace" for n in INPLACE])
def test_repr_matches_torch(name):
    table = INPLACE if name.endswith("_inplace") else LAYERS
    make, make_t = table[name.removesuffix("_inplace")]
    assert repr(make()) == repr(make_t())


def test_default_reprs_match_torch():
    pairs = [(nn.LeakyReLU(), torch.nn.LeakyReLU()), (nn.ELU(), torch.nn.ELU()),
             (nn.Softplus(), torch.nn.Softplus()), (nn.Softmax(), torch.nn.Softmax()),
             (nn.GELU(), torch.nn.GELU()), (nn.ReLU(), torch.nn.ReLU())]
    for m, tm in pairs:
        assert repr(m) == repr(tm)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "gelu", "gelu_tanh", "silu",
                                  "softplus", "sigmoid", "tanh"])
def test_functional_with_extreme_inputs(name, dtype):
    fns = {
        "relu": (F.relu, torch.nn.functional.relu),
        "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: torch.nn.functional.leaky_relu(
            x, 0.1)),
        "elu": (F.elu, torch.nn.functional.elu),
        "gelu": (F.gelu, torch.nn.functional.gelu),
        "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                      lambda x: torch.nn.functional.gelu(x, approximate="tanh")),
        "silu": (F.silu, torch.nn.functional.silu),
        "softplus": (F.softplus, torch.nn.functional.softplus),
        "sigmoid": (F.sigmoid, torch.sigmoid),
        "tanh": (F.tanh, torch.tanh),
    }
    f, tf = fns[name]
    x = np.array([-1e4, -1e3, -80.0, -37.0, -20.5, -5.0, -1e-3, 0.5, 19.5, 20.5, 37.0, 1e3,
                  1e4], dtype)
    outs, _ = check_parity(f, tf, [x], rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(outs[0].numpy()))


def test_gelu_keeps_tiny_tail_values_torch_cancels():
    x = cr.tensor(np.array([-10.0, -30.0]), requires_grad=True)
    y = F.gelu(x)
    # NOTE: x * Phi(x) with Phi(-10) = 7.619853e-24 and Phi(-30) = 4.906714e-198 (mpmath).
    np.testing.assert_allclose(y.numpy(), [-10.0 * 7.619853024160527e-24,
                                           -30.0 * 4.906713927148187e-198], rtol=1e-13)
    y.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_softplus_threshold_is_linear_above_like_torch():
    x = np.array([9.9, 10.0, 10.1, 500.0, -500.0], np.float64)
    check_parity(lambda t: F.softplus(t, beta=2.0, threshold=20.0),
                 lambda t: torch.nn.functional.softplus(t, beta=2.0, threshold=20.0), [x])
    # NOTE: PyTorch's log1p(exp(beta x)) overflows above the threshold if it is raised; ours not.
    y = F.softplus(cr.tensor([800.0]), threshold=1e9)
    assert np.isfinite(y.numpy()).all() and y.item() == pytest.approx(800.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_softmax_without_dim_warns_and_picks_torchs_dim(dtype):
    for shape in [(5,), (3, 4), (2, 3, 4), (2, 3, 4, 2)]:
        x = _x(dtype, shape)
        with pytest.warns(UserWarning, match="Implicit dimension"):
            y = nn.Softmax()(cr.tensor(x))
        with pytest.warns(UserWarning):
            ty = torch.nn.Softmax()(torch.from_numpy(x))
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-6)
        with pytest.warns(UserWarning, match="Implicit dimension"):
            z = nn.LogSoftmax()(cr.tensor(x))
        with pytest.warns(UserWarning):
            tz = torch.nn.LogSoftmax()(torch.from_numpy(x))
        np.testing.assert_allclose(z.numpy(), tz.numpy(), rtol=1e-6, atol=1e-6)


def test_bad_arguments_give_clear_errors():
    with pytest.raises(TypeError, match=r"gelu: expected a floating-point tensor, got int64"):
        F.gelu(cr.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"approximate must be 'none' or 'tanh', got 'fast'"):
        F.gelu(cr.tensor([1.0]), approximate="fast")
    with pytest.raises(ValueError, match="GELU"):
        nn.GELU("fast")
    with pytest.raises(TypeError, match="softplus"):
        F.softplus(cr.tensor([1, 2]))


# --- the error function ---


def _grid() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.concatenate([
        np.linspace(-6.0, 6.0, 2001), rng.uniform(-27.0, 27.0, 2000),
        10.0 ** rng.uniform(-300, 0, 300), -(10.0 ** rng.uniform(-300, 0, 300)),
        [0.0, -0.0, 1.0, -1.0, np.nextafter(1.0, 0.0), np.nextafter(1.0, 2.0), 26.5, 40.0, 1e300],
    ])


def test_erf_matches_math_erf_to_float64_rounding():
    x = _grid()
    got = erf_array(x)
    want = np.array([math.erf(v) for v in x])
    rel = np.abs(got - want) / np.maximum(np.abs(want), 1e-300)
    assert rel.max() < 1e-15, x[np.argmax(rel)]
    assert got.dtype == np.float64


def test_erfc_matches_math_erfc_to_float64_rounding():
    x = _grid()
    got = erfc_array(x)
    want = np.array([math.erfc(v) for v in x])
    normal = want > 1e-300  # NOTE: subnormal results carry fewer than 53 bits in either
    rel = np.abs(got[normal] - want[normal]) / want[normal]
    assert rel.max() < 2e-15, x[normal][np.argmax(rel)]
    np.testing.assert_allclose(got[~normal], want[~normal], rtol=0, atol=1e-300)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_erf_and_erfc_match_torch(dtype):
    x = _grid()
    x = x[np.abs(x) < 1e30].astype(dtype)
    tx = torch.from_numpy(x)
    rtol = 2e-6 if dtype == np.float32 else 2e-15
    got, want = erf_array(x), torch.erf(tx).numpy()
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-38)
    got, want = erfc_array(x), torch.erfc(tx).numpy()
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=rtol * 4, atol=1e-37 if dtype == np.float32
                               else 1e-300)


def test_erf_special_values_and_shapes():
    x = np.array([np.inf, -np.inf, np.nan, 0.0])
    np.testing.assert_array_equal(erf_array(x), [1.0, -1.0, np.nan, 0.0])
    np.testing.assert_array_equal(erfc_array(x), [0.0, 2.0, np.nan, 1.0])
    assert erf_array(np.float64(0.5) * np.ones(())).shape == ()
    assert erfc_array(np.zeros((2, 0, 3), np.float32)).shape == (2, 0, 3)
