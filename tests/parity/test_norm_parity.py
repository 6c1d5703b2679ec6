"""BatchNorm1d/2d/3d, LayerNorm and GroupNorm against PyTorch with copied weights: outputs, input
and parameter gradients, running statistics, state_dict layout, reprs and errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from tests.parity.helpers import assert_same

torch = pytest.importorskip("torch")


DTYPES = [np.float32, np.float64]
TOL = {np.float32: (2e-5, 2e-5), np.float64: (1e-10, 1e-10)}


def _pair(cls_name: str, *args, dtype=np.float32, **kwargs):
    """The same layer in both frameworks, with torch's random affine weights copied over."""
    tm = getattr(torch.nn, cls_name)(*args, **kwargs)
    cm = getattr(nn, cls_name)(*args, **kwargs)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) + 0.5 if p.ndim else p)
    if dtype == np.float64:
        tm.double()
        cm.double()
    cm.load_state_dict(tm.state_dict())
    return cm, tm


def _step(cm, tm, x: np.ndarray, seed: int = 0):
    """One forward and backward in both; compare output, input grad and parameter grads."""
    rtol, atol = TOL[x.dtype.type]
    g = np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)
    cx = cr.tensor(x, requires_grad=True)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    cm.zero_grad()
    tm.zero_grad()
    cy, ty = cm(cx), tm(tx)
    assert_same(cy, ty, rtol=rtol, atol=atol, what="output")
    cy.backward(cr.tensor(g))
    ty.backward(torch.from_numpy(g))
    assert_same(cx.grad, tx.grad, rtol=rtol, atol=atol, what="input grad")
    cparams = dict(cm.named_parameters())
    for name, tp in tm.named_parameters():
        assert_same(cparams[name].grad, tp.grad, rtol=rtol, atol=atol, what=f"{name}.grad")
    assert list(cparams) == [n for n, _ in tm.named_parameters()]


def _same_state(cm, tm, dtype) -> None:
    rtol, atol = TOL[dtype]
    cs, ts = cm.state_dict(), tm.state_dict()
    assert list(cs) == list(ts)
    for k in ts:
        assert_same(cs[k], ts[k], rtol=rtol, atol=atol, what=k)


def _x(shape, dtype, seed=1, loc=0.0):
    return (np.random.default_rng(seed).standard_normal(shape) * 2 + loc).astype(dtype)


# --- batch norm ---

BN_CASES = [("BatchNorm1d", (16, 5)), ("BatchNorm1d", (8, 5, 7)), ("BatchNorm2d", (6, 5, 4, 3)),
            ("BatchNorm3d", (3, 5, 2, 3, 2))]
BN_KWARGS = [{}, {"affine": False}, {"bias": False}, {"momentum": None}, {"eps": 1e-3},
             {"track_running_stats": False}, {"momentum": 0.5, "affine": False}]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kwargs", BN_KWARGS, ids=lambda k: ",".join(k) or "default")
@pytest.mark.parametrize("cls_name, shape", BN_CASES, ids=[c[0] + str(len(c[1])) for c in BN_CASES])
def test_batchnorm_train_then_eval(cls_name, shape, kwargs, dtype):
    cm, tm = _pair(cls_name, shape[1], dtype=dtype, **kwargs)
    for step in range(3):  # several steps: running statistics and num_batches_tracked move
        _step(cm, tm, _x(shape, dtype, seed=step, loc=step - 1.0), seed=step)
        _same_state(cm, tm, dtype)
    cm.eval()
    tm.eval()
    _step(cm, tm, _x(shape, dtype, seed=9, loc=0.5), seed=9)
    _same_state(cm, tm, dtype)


def test_batchnorm_state_dict_buffers_and_init():
    m = nn.BatchNorm2d(4)
    assert list(m.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                    "num_batches_tracked"]
    assert [n for n, _ in m.named_buffers()] == ["running_mean", "running_var",
                                                 "num_batches_tracked"]
    assert m.num_batches_tracked.dtype == np.int64 and m.num_batches_tracked.shape == ()
    assert m.weight.tolist() == [1.0] * 4 and m.bias.tolist() == [0.0] * 4
    assert m.running_mean.tolist() == [0.0] * 4 and m.running_var.tolist() == [1.0] * 4
    assert m.weight.dtype == np.float32 and m.running_var.dtype == np.float32
    assert list(nn.BatchNorm1d(3, affine=False, track_running_stats=False).state_dict()) == []
    m.double()
    assert m.running_mean.dtype == np.float64 and m.num_batches_tracked.dtype == np.int64


def test_batchnorm_eval_does_not_touch_running_stats():
    m = nn.BatchNorm1d(3).eval()
    m(cr.randn(10, 3) * 5 + 2)
    assert m.running_mean.tolist() == [0.0] * 3 and int(m.num_batches_tracked) == 0


def test_batchnorm_cumulative_average_is_the_plain_mean_of_batch_stats():
    m = nn.BatchNorm1d(2, momentum=None)
    xs = [_x((8, 2), np.float64, seed=s, loc=s) for s in range(4)]
    m.double()
    for x in xs:
        m(cr.tensor(x))
    np.testing.assert_allclose(m.running_mean.numpy(), np.mean([x.mean(0) for x in xs], 0))
    np.testing.assert_allclose(m.running_var.numpy(), np.mean([x.var(0, ddof=1) for x in xs], 0))
    assert int(m.num_batches_tracked) == 4


def test_batchnorm_reset_and_extra_repr():
    for kwargs in BN_KWARGS:
        for name in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"):
            ours, theirs = getattr(nn, name)(7, **kwargs), getattr(torch.nn, name)(7, **kwargs)
            assert repr(ours) == repr(theirs)
    m = nn.BatchNorm1d(2)
    m(cr.randn(4, 2) + 3)
    m.reset_running_stats()
    assert m.running_mean.tolist() == [0, 0] and m.running_var.tolist() == [1, 1]
    assert int(m.num_batches_tracked) == 0


@pytest.mark.parametrize("cls_name, shape, expected", [
    ("BatchNorm1d", (2, 3, 4, 5), "2D or 3D"), ("BatchNorm1d", (3,), "2D or 3D"),
    ("BatchNorm2d", (2, 3, 4), "4D"), ("BatchNorm3d", (2, 3, 4, 4), "5D")])
def test_batchnorm_rejects_wrong_ndim(cls_name, shape, expected):
    with pytest.raises(ValueError, match=f"{cls_name}: expected {expected} input, got "
                                         f"{len(shape)}D input of shape"):
        getattr(nn, cls_name)(3)(cr.zeros(*shape))


def test_batch_norm_errors():
    x = cr.randn(4, 3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(cr.randn(1, 3), None, None, training=True)
    with pytest.raises(RuntimeError, match="running_mean and running_var must be given"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(RuntimeError, match=r"weight of shape \(4,\) does not match the input's "
                                           r"3 channels"):
        F.batch_norm(x, None, None, cr.ones(4), training=True)
    with pytest.raises(RuntimeError, match="dtype float64 does not match input dtype float32"):
        F.batch_norm(x, None, None, cr.ones(3, dtype=cr.float64), training=True)
    with pytest.raises(RuntimeError, match="dtype float64 does not match"):
        nn.BatchNorm1d(3).double()(x)


def test_batch_norm_functional_updates_given_buffers_in_place():
    x = _x((10, 3, 4), np.float32, loc=1.0)
    rm, rv = cr.zeros(3), cr.ones(3)
    trm, trv = torch.zeros(3), torch.ones(3)
    F.batch_norm(cr.tensor(x), rm, rv, training=True, momentum=0.25)
    torch.nn.functional.batch_norm(torch.from_numpy(x), trm, trv, training=True, momentum=0.25)
    assert_same(rm, trm, rtol=1e-6, atol=1e-6, what="running_mean")
    assert_same(rv, trv, rtol=1e-6, atol=1e-6, what="running_var")


def test_batchnorm_float32_stays_float32_without_grad():
    m = nn.BatchNorm2d(3)
    with cr.no_grad():
        y = m(cr.randn(4, 3, 5, 5))
    assert y.dtype == np.float32 and m.running_var.dtype == np.float32
    np.testing.assert_allclose(y.numpy().mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.numpy().var(axis=(0, 2, 3)), 1, rtol=1e-3)


def test_batchnorm_large_mean_is_normalised_accurately():
    # NOTE: two-pass variance: a mean 1e4 times the spread still normalises well in float32.
    x = _x((64, 4, 8, 8), np.float32) * 1e-3 + 10.0
    cm, tm = _pair("BatchNorm2d", 4)
    cy, ty = cm(cr.tensor(x)), tm(torch.from_numpy(x))
    np.testing.assert_allclose(cy.numpy(), ty.detach().numpy(), rtol=1e-2, atol=1e-2)


# --- layer norm ---

LN_CASES = [(10, (4, 10), {}), ((3, 4), (2, 5, 3, 4), {}), ([6], (7, 6), {"eps": 1e-3}),
            (8, (3, 8), {"elementwise_affine": False}), ((2, 5), (3, 2, 5), {"bias": False})]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("ns, shape, kwargs", LN_CASES, ids=[str(c[1]) + ",".join(c[2])
                                                             for c in LN_CASES])
def test_layernorm(ns, shape, kwargs, dtype):
    cm, tm = _pair("LayerNorm", ns, dtype=dtype, **kwargs)
    assert list(cm.state_dict()) == list(tm.state_dict())
    assert repr(cm) == repr(tm)
    _step(cm, tm, _x(shape, dtype, loc=3.0))


def test_layernorm_init_and_errors():
    m = nn.LayerNorm((2, 3))
    assert m.normalized_shape == (2, 3) and m.weight.shape == (2, 3)
    assert m.weight.numpy().tolist() == [[1.0] * 3] * 2 and not m.bias.numpy().any()
    with pytest.raises(RuntimeError, match=r"normalized_shape=\(2, 3\) expects input of shape "
                                           r"\(\*, 2, 3\), got input of shape \(4, 3, 2\)"):
        m(cr.zeros(4, 3, 2))
    with pytest.raises(RuntimeError, match="layer_norm: weight of shape"):
        F.layer_norm(cr.zeros(2, 3), (3,), cr.ones(4))


# --- group norm ---

GN_CASES = [(2, 4, (3, 4, 5), {}), (3, 6, (2, 6, 3, 3), {}), (1, 3, (4, 3), {"eps": 1e-3}),
            (4, 4, (2, 4, 7), {"affine": False}), (2, 6, (2, 6, 5), {"bias": False})]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("groups, channels, shape, kwargs", GN_CASES,
                         ids=[str(c[2]) + ",".join(c[3]) for c in GN_CASES])
def test_groupnorm(groups, channels, shape, kwargs, dtype):
    cm, tm = _pair("GroupNorm", groups, channels, dtype=dtype, **kwargs)
    assert list(cm.state_dict()) == list(tm.state_dict())
    assert repr(cm) == repr(tm)
    _step(cm, tm, _x(shape, dtype, loc=-2.0))


def test_groupnorm_errors():
    with pytest.raises(ValueError, match=r"num_channels \(4\) must be divisible by num_groups "
                                         r"\(3\)"):
        nn.GroupNorm(3, 4)
    with pytest.raises(RuntimeError, match=r"divisible by num_groups, but got input of shape "
                                           r"\(2, 5, 3\) and num_groups=2"):
        F.group_norm(cr.zeros(2, 5, 3), 2)
    with pytest.raises(RuntimeError, match="at least 2 dims"):
        F.group_norm(cr.zeros(4), 2)


class _Ctx:
    """A stand-in for the graph node, to call a rule's forward and backward directly."""

    def __init__(self, n: int) -> None:
        self.needs_input_grad = (True,) * n


@pytest.mark.parametrize("prim, args", [
    ("BatchNorm", lambda x, c: (x, c, c, None, None, True, 0.1, 1e-5)),
    ("BatchNorm", lambda x, c: (x, c, c, np.zeros(3, np.float32), np.ones(3, np.float32), False,
                                0.1, 1e-5)),
    ("LayerNorm", lambda x, c: (x, np.ones((4, 5), np.float32), None, (4, 5), 1e-5)),
    ("GroupNorm", lambda x, c: (x, c, c, 3, 1e-5))], ids=["bn-train", "bn-eval", "ln", "gn"])
def test_rules_keep_float32_without_the_engines_cast(prim, args):
    # NOTE: the engine casts gradients to the input's dtype, which would hide a promotion.
    from chainrule.ops import norm

    fn = getattr(norm, prim)
    x = _x((2, 3, 4, 5), np.float32)
    c = np.linspace(0.5, 1.5, 3).astype(np.float32)
    a = args(x, c)
    ctx = _Ctx(len(a))
    y = fn.forward(ctx, *a)
    grads = fn.backward(ctx, np.ones_like(y))
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads if g is not None)
    assert grads[0].shape == x.shape
