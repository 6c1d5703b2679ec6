"""Loss layers against PyTorch: values, gradients of the input and (where PyTorch gives them) of
the target, every reduction, class weights, ignore_index, label smoothing with both target kinds,
K-dimensional inputs, float32 and float64; state_dict keys; extreme logits; clear errors."""

from __future__ import annotations

import itertools
import warnings
import zlib

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from tests.parity.helpers import check_parity

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64]
DT_IDS = ["f32", "f64"]
REDUCTIONS = ["mean", "sum", "none"]
C = 5


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _pair_of_modules(make, make_t, weights: dict, dtype):
    """A chainrule module whose buffers are loaded from the torch module's state_dict."""
    tm = make_t(**{k: torch.from_numpy(v.astype(dtype)) for k, v in weights.items()})
    m = make(**{k: cr.ones(*v.shape, dtype=dtype) for k, v in weights.items()})
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict(tm.state_dict())
    return m, tm


# --- cross-entropy and NLL ---

# (logits shape, target shape): batched, K-dimensional, unbatched.
CLASS_SHAPES = {"2d": ((6, C), (6,)), "kdim": ((3, C, 4, 2), (3, 4, 2)), "unbatched": ((C,), ())}


def _class_target(rng, shape, ignore: bool):
    t = np.array(rng.integers(0, C, shape))
    if ignore and t.size > 1:
        t.reshape(-1)[1::3] = -100
    return t.astype(np.int64)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("kind", list(CLASS_SHAPES))
@pytest.mark.parametrize(
    "reduction, weighted, smoothing",
    list(itertools.product(REDUCTIONS, [False, True], [0.0, 0.25])))
def test_cross_entropy_class_indices(reduction, weighted, smoothing, kind, dtype):
    rng = _rng("ce", reduction, weighted, smoothing, kind)
    xs, ts = CLASS_SHAPES[kind]
    x = (2 * rng.standard_normal(xs)).astype(dtype)
    t = _class_target(rng, ts, ignore=True)
    weights = {"weight": rng.uniform(0.5, 2.0, C)} if weighted else {}
    m, tm = _pair_of_modules(
        lambda **w: nn.CrossEntropyLoss(**w, reduction=reduction, label_smoothing=smoothing),
        lambda **w: torch.nn.CrossEntropyLoss(**w, reduction=reduction,
                                              label_smoothing=smoothing), weights, dtype)
    check_parity(m, tm, [x, t])


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("kind", list(CLASS_SHAPES))
@pytest.mark.parametrize(
    "reduction, weighted, smoothing",
    list(itertools.product(REDUCTIONS, [False, True], [0.0, 0.3])))
def test_cross_entropy_class_probabilities(reduction, weighted, smoothing, kind, dtype):
    rng = _rng("ce-probs", reduction, weighted, smoothing, kind)
    xs, _ = CLASS_SHAPES[kind]
    x = (2 * rng.standard_normal(xs)).astype(dtype)
    p = rng.uniform(0.0, 1.0, xs)
    p = (p / p.sum(axis=1 if len(xs) > 1 else 0, keepdims=True)).astype(dtype)
    weights = {"weight": rng.uniform(0.5, 2.0, C)} if weighted else {}
    m, tm = _pair_of_modules(
        lambda **w: nn.CrossEntropyLoss(**w, reduction=reduction, label_smoothing=smoothing),
        lambda **w: torch.nn.CrossEntropyLoss(**w, reduction=reduction,
                                              label_smoothing=smoothing), weights, dtype)
    check_parity(m, tm, [x, p])  # the target's gradient too


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("kind", list(CLASS_SHAPES))
@pytest.mark.parametrize("reduction, weighted", list(itertools.product(REDUCTIONS, [False, True])))
def test_nll_loss(reduction, weighted, kind, dtype):
    rng = _rng("nll", reduction, weighted, kind)
    xs, ts = CLASS_SHAPES[kind]
    x = rng.standard_normal(xs).astype(dtype)
    t = _class_target(rng, ts, ignore=True)
    weights = {"weight": rng.uniform(0.5, 2.0, C)} if weighted else {}
    m, tm = _pair_of_modules(lambda **w: nn.NLLLoss(**w, reduction=reduction),
                             lambda **w: torch.nn.NLLLoss(**w, reduction=reduction), weights,
                             dtype)
    check_parity(m, tm, [x, t])


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_ignore_index_inside_the_class_range(dtype):
    rng = _rng("ignore-in-range")
    x = rng.standard_normal((8, C)).astype(dtype)
    t = np.array([0, 1, 2, 3, 4, 2, 2, 1])
    w = {"weight": rng.uniform(0.5, 2.0, C)}
    for smoothing in (0.0, 0.1):
        m, tm = _pair_of_modules(
            lambda s=smoothing, **k: nn.CrossEntropyLoss(**k, ignore_index=2, label_smoothing=s),
            lambda s=smoothing, **k: torch.nn.CrossEntropyLoss(**k, ignore_index=2,
                                                               label_smoothing=s), w, dtype)
        check_parity(m, tm, [x, t])
    check_parity(lambda a, b: F.nll_loss(a, b, ignore_index=4),
                 lambda a, b: torch.nn.functional.nll_loss(a, b, ignore_index=4), [x, t])


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_all_targets_ignored_gives_nan_and_zero_gradient_like_torch(loss):
    x = np.random.default_rng(0).standard_normal((3, C))
    t = np.full(3, -100)
    f, tf = getattr(F, loss), getattr(torch.nn.functional, loss)
    outs, touts = check_parity(f, tf, [x, t])  # NaN compares equal to NaN in assert_allclose
    assert np.isnan(outs[0].item()) and np.isnan(touts[0].item())
    xt = cr.tensor(x, requires_grad=True)
    f(xt, cr.tensor(t)).backward()
    np.testing.assert_array_equal(xt.grad.numpy(), np.zeros_like(x))


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_cross_entropy_with_extreme_logits(dtype):
    x = np.array([[1e4, -1e4, 0.0, 5e3, -5e3], [-1e4, -1e4, -1e4, 1e4, -1e4],
                  [1e4, 1e4, -1e4, -1e4, 0.0], [-1e4, 1e4, 1e4, 1e4, 1e4]], dtype)
    t = np.array([1, 3, 0, 0])
    for reduction in REDUCTIONS:
        outs, _ = check_parity(lambda a, b, r=reduction: F.cross_entropy(a, b, reduction=r),
                               lambda a, b, r=reduction: torch.nn.functional.cross_entropy(
                                   a, b, reduction=r), [x, t])
        assert np.all(np.isfinite(outs[0].numpy()))
    check_parity(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1),
                 lambda a, b: torch.nn.functional.cross_entropy(a, b, label_smoothing=0.1),
                 [x, t])
    p = np.full(x.shape, 1.0 / C, dtype)
    check_parity(lambda a, b: F.cross_entropy(a, b), torch.nn.functional.cross_entropy, [x, p])
    xt = cr.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, cr.tensor(t))
    loss.backward()
    # NOTE: per row 2e4, 0, log 2 (two tied maxima) and 2e4 + log 4; their mean.
    assert loss.item() == pytest.approx((4e4 + 3 * np.log(2.0)) / 4, rel=1e-6)
    assert np.all(np.isfinite(xt.grad.numpy()))


# --- binary cross-entropy ---


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction, weighted", list(itertools.product(REDUCTIONS, [False, True])))
def test_bce_loss(reduction, weighted, dtype):
    rng = _rng("bce", reduction, weighted)
    x = rng.uniform(0.02, 0.98, (6, 4)).astype(dtype)
    y = rng.uniform(0.0, 1.0, (6, 4)).astype(dtype)
    weights = {"weight": rng.uniform(0.5, 2.0, 4)} if weighted else {}
    m, tm = _pair_of_modules(lambda **w: nn.BCELoss(**w, reduction=reduction),
                             lambda **w: torch.nn.BCELoss(**w, reduction=reduction), weights,
                             dtype)
    check_parity(m, tm, [x, y])


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_bce_at_zero_and_one_is_clamped_like_torch(dtype):
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3], dtype)
    outs, _ = check_parity(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
                           lambda a, b: torch.nn.functional.binary_cross_entropy(
                               a, b, reduction="none"), [x, y], requires_grad=[True, False])
    np.testing.assert_allclose(outs[0].numpy()[:4], [100.0, 100.0, 0.0, 0.0])
    # NOTE: the target's gradient is that of the clamped forward, log(1-x) - log(x) with both logs
    # at least -100: +-100 here where PyTorch returns +-inf.
    yt = cr.tensor(y, requires_grad=True)
    F.binary_cross_entropy(cr.tensor(x), yt, reduction="sum").backward()
    np.testing.assert_allclose(yt.grad.numpy()[:4], [100.0, -100.0, 100.0, -100.0])


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize(
    "reduction, weighted, pos", list(itertools.product(REDUCTIONS, [False, True], [False, True])))
def test_bce_with_logits_loss(reduction, weighted, pos, dtype):
    rng = _rng("bcel", reduction, weighted, pos)
    x = (3 * rng.standard_normal((5, 3, 4))).astype(dtype)
    y = rng.uniform(0.0, 1.0, (5, 3, 4)).astype(dtype)
    weights = {}
    if weighted:
        weights["weight"] = rng.uniform(0.5, 2.0, (3, 1))
    if pos:
        weights["pos_weight"] = rng.uniform(0.5, 3.0, 4)
    m, tm = _pair_of_modules(lambda **w: nn.BCEWithLogitsLoss(**w, reduction=reduction),
                             lambda **w: torch.nn.BCEWithLogitsLoss(**w, reduction=reduction),
                             weights, dtype)
    check_parity(m, tm, [x, y])


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_bce_with_logits_with_extreme_logits(dtype):
    x = np.array([1e4, -1e4, 1e4, -1e4, 1e4, -1e4, 80.0, -80.0], dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3, 0.7, 0.0, 1.0], dtype)
    pw = np.array(2.5, dtype)
    outs, _ = check_parity(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none"),
        lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(a, b, reduction="none"),
        [x, y])
    np.testing.assert_allclose(outs[0].numpy()[:4], [0.0, 0.0, 1e4, 1e4], rtol=1e-6)
    outs, _ = check_parity(
        lambda a, b, p: F.binary_cross_entropy_with_logits(a, b, pos_weight=p),
        lambda a, b, p: torch.nn.functional.binary_cross_entropy_with_logits(a, b, pos_weight=p),
        [x, y, pw], requires_grad=[True, True, False])
    assert np.isfinite(outs[0].item())


# --- regression losses ---

REGRESSION = {
    "MSELoss": (lambda r: nn.MSELoss(reduction=r), lambda r: torch.nn.MSELoss(reduction=r)),
    "L1Loss": (lambda r: nn.L1Loss(reduction=r), lambda r: torch.nn.L1Loss(reduction=r)),
    "HuberLoss": (lambda r: nn.HuberLoss(reduction=r), lambda r: torch.nn.HuberLoss(reduction=r)),
    "HuberLoss_delta": (lambda r: nn.HuberLoss(r, delta=0.4),
                        lambda r: torch.nn.HuberLoss(r, delta=0.4)),
    "SmoothL1Loss": (lambda r: nn.SmoothL1Loss(reduction=r),
                     lambda r: torch.nn.SmoothL1Loss(reduction=r)),
    "SmoothL1Loss_beta": (lambda r: nn.SmoothL1Loss(reduction=r, beta=0.3),
                          lambda r: torch.nn.SmoothL1Loss(reduction=r, beta=0.3)),
    "SmoothL1Loss_beta0": (lambda r: nn.SmoothL1Loss(reduction=r, beta=0.0),
                           lambda r: torch.nn.SmoothL1Loss(reduction=r, beta=0.0)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(REGRESSION))
def test_regression_losses(name, reduction, dtype):
    rng = _rng("reg", name, reduction)
    # NOTE: |x - y| >= 0.05 keeps every pair off the kinks of L1 (0) and of smooth L1 at beta=0.
    x = (0.1 * rng.integers(-20, 20, (6, 5))).astype(dtype)
    y = (0.1 * rng.integers(-20, 20, (6, 5)) + 0.05).astype(dtype)
    make, make_t = REGRESSION[name]
    m, tm = make(reduction), make_t(reduction)
    assert repr(m) == repr(tm)
    check_parity(m, tm, [x, y])


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", ["mse_loss", "l1_loss", "huber_loss"])
def test_weighted_regression_functionals(loss, reduction, dtype):
    rng = _rng("wreg", loss, reduction)
    x = (0.1 * rng.integers(-20, 20, (4, 5))).astype(dtype)
    y = (0.1 * rng.integers(-20, 20, (4, 5)) + 0.05).astype(dtype)
    w = rng.uniform(0.2, 2.0, (4, 5)).astype(dtype)
    f, tf = getattr(F, loss), getattr(torch.nn.functional, loss)
    check_parity(lambda a, b, c: f(a, b, reduction=reduction, weight=c),
                 lambda a, b, c: tf(a, b, reduction=reduction, weight=c), [x, y, w],
                 requires_grad=[True, True, False])


def test_mse_broadcast_target_warns_like_torch():
    x = np.random.default_rng(0).standard_normal((4, 3))
    y = np.random.default_rng(1).standard_normal((3,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t = torch.nn.functional.mse_loss(torch.from_numpy(x), torch.from_numpy(y))
    with pytest.warns(UserWarning, match=r"mse_loss: using a target of shape \(3,\)"):
        out = F.mse_loss(cr.tensor(x), cr.tensor(y))
    assert out.item() == pytest.approx(t.item(), rel=1e-12)


# --- KL divergence ---


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_loss(reduction, log_target, dtype):
    rng = _rng("kl", reduction, log_target)
    x = np.log(rng.dirichlet(np.ones(C), 4)).astype(dtype)
    t = rng.dirichlet(np.ones(C), 4)
    t = (np.log(t) if log_target else t).astype(dtype)
    m = nn.KLDivLoss(reduction=reduction, log_target=log_target)
    tm = torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 'mean' warns in both frameworks
        check_parity(m, tm, [x, t])


def test_kl_div_zero_targets_add_nothing():
    x = np.log(np.array([[0.2, 0.3, 0.5]]))
    t = np.array([[0.0, 0.4, 0.6]])
    check_parity(lambda a, b: F.kl_div(a, b, reduction="sum"),
                 lambda a, b: torch.nn.functional.kl_div(a, b, reduction="sum"), [x, t],
                 requires_grad=[True, False])
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(cr.tensor(x), cr.tensor(t))


# --- module state, reprs and the legacy arguments ---


def test_weights_are_buffers_with_torchs_state_dict_keys():
    w, pw = np.array([1.0, 2.0, 3.0], np.float32), np.array([0.5, 1.5, 2.5], np.float32)
    cases = [
        (nn.CrossEntropyLoss(weight=cr.tensor(w)), torch.nn.CrossEntropyLoss(torch.tensor(w))),
        (nn.NLLLoss(cr.tensor(w)), torch.nn.NLLLoss(torch.tensor(w))),
        (nn.BCELoss(cr.tensor(w)), torch.nn.BCELoss(torch.tensor(w))),
        (nn.BCEWithLogitsLoss(cr.tensor(w), pos_weight=cr.tensor(pw)),
         torch.nn.BCEWithLogitsLoss(torch.tensor(w), pos_weight=torch.tensor(pw))),
        (nn.BCEWithLogitsLoss(pos_weight=cr.tensor(pw)),
         torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw))),
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
        (nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss()),
    ]
    for m, tm in cases:
        assert list(m.state_dict()) == list(tm.state_dict())
        assert list(m.parameters()) == [] and repr(m) == repr(tm)
        for k, v in m.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), tm.state_dict()[k].numpy())
    m = nn.CrossEntropyLoss(weight=cr.tensor(w)).double()
    assert m.weight.dtype == np.float64 and m.state_dict()["weight"].dtype == np.float64


def test_loss_options_are_kept_like_torch():
    m, tm = nn.CrossEntropyLoss(ignore_index=3, reduction="sum", label_smoothing=0.1), \
        torch.nn.CrossEntropyLoss(ignore_index=3, reduction="sum", label_smoothing=0.1)
    assert (m.ignore_index, m.reduction, m.label_smoothing) == (
        tm.ignore_index, tm.reduction, tm.label_smoothing)
    assert nn.HuberLoss(delta=2.0).delta == torch.nn.HuberLoss(delta=2.0).delta
    assert nn.SmoothL1Loss(beta=0.5).beta == 0.5 and nn.KLDivLoss(log_target=True).log_target


@pytest.mark.parametrize("size_average, reduce", [(False, None), (None, False), (True, True),
                                                  (False, True), (True, False)])
def test_legacy_size_average_and_reduce(size_average, reduce):
    with pytest.warns(UserWarning, match="deprecated"):
        m = nn.MSELoss(size_average=size_average, reduce=reduce)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = torch.nn.MSELoss(size_average=size_average, reduce=reduce)
    assert m.reduction == tm.reduction
    x, t = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    with pytest.warns(UserWarning, match="deprecated"):
        out = F.cross_entropy(cr.tensor(x), cr.tensor([0, 2]), size_average=size_average,
                              reduce=reduce)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tout = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor([0, 2]),
                                                 size_average=size_average, reduce=reduce)
    np.testing.assert_allclose(out.numpy(), tout.numpy())
    check_parity(m, tm, [x, t])


# --- errors ---


def test_class_target_errors_name_the_loss_and_shapes():
    x = cr.randn(4, C)
    with pytest.raises(ValueError, match=r"cross_entropy: expected target of shape \(4,\) for "
                                         r"input of shape \(4, 5\).*got \(3,\)"):
        F.cross_entropy(x, cr.tensor([0, 1, 2]))
    with pytest.raises(IndexError, match=r"cross_entropy: target 5 is out of bounds for 5 "
                                         r"classes"):
        F.cross_entropy(x, cr.tensor([0, 1, 5, 2]))
    with pytest.raises(IndexError, match=r"nll_loss: target -1 is out of bounds"):
        F.nll_loss(x, cr.tensor([0, -1, 1, 2]))
    with pytest.raises(TypeError, match=r"cross_entropy: target of dtype float32 and shape "
                                        r"\(4,\) is not a class-index target"):
        F.cross_entropy(x, cr.tensor([0.0, 1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match="class probabilities and must be floating point"):
        F.cross_entropy(x, cr.zeros(4, C, dtype=cr.int64))
    with pytest.raises(ValueError, match=r"weight of shape \(3,\) does not match the 5 classes"):
        F.cross_entropy(x, cr.tensor([0, 1, 2, 3]), weight=cr.ones(3))
    with pytest.raises(TypeError, match="weight is float64 but input is float32"):
        nn.NLLLoss(weight=cr.ones(C, dtype=cr.float64))(x, cr.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, cr.tensor([0, 1, 2, 3]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"reduction must be one of 'none', 'mean', 'sum', "
                                         r"got 'avg'"):
        nn.CrossEntropyLoss(reduction="avg")(x, cr.tensor([0, 1, 2, 3]))
    with pytest.raises(TypeError, match="cross_entropy: expected a floating-point input"):
        F.cross_entropy(cr.tensor([[1, 2]]), cr.tensor([0]))
    F.cross_entropy(x, cr.tensor([0, -100, 4, 2]))  # ignore_index is not out of bounds


def test_elementwise_loss_errors_name_the_loss_and_shapes():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: target of shape \(3,\) must "
                                         r"have the input's shape \(3, 1\)"):
        F.binary_cross_entropy(cr.rand(3, 1), cr.rand(3))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        F.binary_cross_entropy(cr.tensor([1.5, 0.5]), cr.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits: target of shape"):
        nn.BCEWithLogitsLoss()(cr.randn(2, 3), cr.rand(2, 1))
    with pytest.raises(ValueError, match=r"pos_weight\): weight of shape \(2,\) does not "
                                         r"broadcast"):
        F.binary_cross_entropy_with_logits(cr.randn(2, 3), cr.rand(2, 3),
                                           pos_weight=cr.ones(2))
    with pytest.raises(ValueError, match=r"mse_loss: target of shape \(4,\) does not broadcast "
                                         r"with input of shape \(2, 3\)"):
        F.mse_loss(cr.randn(2, 3), cr.randn(4))
    with pytest.raises(ValueError, match=r"l1_loss: weight of shape \(3,\) must have the "
                                         r"input's shape \(2, 3\)"):
        F.l1_loss(cr.randn(2, 3), cr.randn(2, 3), weight=cr.ones(3))
    with pytest.raises(ValueError, match="huber_loss: delta must be positive"):
        nn.HuberLoss(delta=0.0)(cr.randn(2), cr.randn(2))
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be non-negative"):
        F.smooth_l1_loss(cr.randn(2), cr.randn(2), beta=-1.0)
    with pytest.raises(ValueError, match="'batchmean'"):
        F.mse_loss(cr.randn(2), cr.randn(2), reduction="batchmean")
    with pytest.raises(TypeError, match="mse_loss: target must be a Tensor"):
        F.mse_loss(cr.randn(2), [1.0, 2.0])


def test_mixed_dtypes_promote_like_torch():
    x, y = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float64)
    out = F.mse_loss(cr.tensor(x), cr.tensor(y))
    tout = torch.nn.functional.mse_loss(torch.from_numpy(x), torch.from_numpy(y))
    assert out.dtype == np.float64 and str(tout.dtype) == "torch.float64"
