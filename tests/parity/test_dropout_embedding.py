"""Dropout (statistics, reproducibility, edge cases, gradient) and Embedding (parity with PyTorch
with copied weights: repeated indices, padding_idx, scale_grad_by_freq, max_norm, init)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from tests.parity.helpers import assert_same, check_parity

torch = pytest.importorskip("torch")


# --- dropout ---


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_train_statistics(p):
    cr.manual_seed(0)
    x = cr.ones(400_000)
    y = F.dropout(x, p).numpy()
    zeroed = y == 0
    # NOTE: the fraction of 400k Bernoulli(p) draws is within 5 standard deviations of p.
    assert abs(zeroed.mean() - p) < 5 * np.sqrt(p * (1 - p) / y.size)
    np.testing.assert_array_equal(y[~zeroed], np.float32(1 / (1 - p)))
    assert y.dtype == np.float32


def test_dropout_is_reproducible_under_manual_seed():
    x = cr.randn(50, 40)
    cr.manual_seed(3)
    a = F.dropout(x, 0.4)
    cr.manual_seed(3)
    b = nn.Dropout(0.4)(x)
    c = F.dropout(x, 0.4)
    assert np.array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(b.numpy(), c.numpy())


def test_dropout_mask_is_the_same_in_float32_and_float64():
    x = np.random.default_rng(0).standard_normal((30, 20))
    cr.manual_seed(5)
    a = F.dropout(cr.tensor(x.astype(np.float32)), 0.3)
    cr.manual_seed(5)
    b = F.dropout(cr.tensor(x), 0.3)
    assert b.dtype == np.float64
    np.testing.assert_array_equal(a.numpy() == 0, b.numpy() == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_gradient_is_the_mask_scaling(dtype):
    cr.manual_seed(1)
    x = cr.tensor(np.random.default_rng(0).uniform(1, 2, (64, 32)).astype(dtype),
                  requires_grad=True)
    y = F.dropout(x, 0.25)
    g = np.random.default_rng(1).standard_normal((64, 32)).astype(dtype)
    y.backward(cr.tensor(g))
    kept = y.numpy() != 0
    assert x.grad.dtype == dtype
    np.testing.assert_array_equal(x.grad.numpy(), np.where(kept, g * dtype(1 / 0.75), 0))
    np.testing.assert_allclose(y.numpy(), np.where(kept, x.numpy() / 0.75, 0), rtol=1e-6)


def test_dropout_identity_in_eval_and_for_p_zero():
    x = cr.randn(5, 4, requires_grad=True)
    m = nn.Dropout(0.7).eval()
    assert m(x) is x
    assert F.dropout(x, 0.7, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert nn.Dropout(0.0)(x) is x


def test_dropout_p_one_zeroes_everything_as_pytorch():
    x = np.array([[1.0, -2.0, np.nan], [np.inf, 0.5, 3.0]], np.float32)
    check_parity(lambda t: F.dropout(t, 1.0), lambda t: torch.nn.functional.dropout(t, 1.0),
                 [x], requires_grad=[False])
    check_parity(lambda t: F.dropout(t, 1.0), lambda t: torch.nn.functional.dropout(t, 1.0),
                 [np.ones((3, 4), np.float64)])


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_p_outside_unit_interval(p):
    msg = f"dropout probability has to be between 0 and 1, but got {p}"
    with pytest.raises(ValueError, match=msg):
        F.dropout(cr.ones(3), p)
    with pytest.raises(ValueError, match=msg):
        nn.Dropout(p)
    with pytest.raises(ValueError, match=msg):
        torch.nn.Dropout(p)


def test_dropout_inplace_repr_and_state():
    x = cr.ones(1000, requires_grad=True)
    h = x * 2
    cr.manual_seed(0)
    out = nn.Dropout(0.5, inplace=True)(h)
    assert out is h and (h.numpy() == 0).any() and (h.numpy() == 4).any()
    h.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(h.numpy() == 0, 0.0, 4.0))
    for p, inplace in ((0.5, False), (0.2, True)):
        assert repr(nn.Dropout(p, inplace)) == repr(torch.nn.Dropout(p, inplace))
    assert nn.Dropout().state_dict() == {}


# --- embedding ---


def _emb_pair(*args, dtype=np.float32, **kwargs):
    tm = torch.nn.Embedding(*args, **kwargs)
    cm = nn.Embedding(*args, **kwargs)
    if dtype == np.float64:
        tm.double()
        cm.double()
    cm.load_state_dict(tm.state_dict())
    return cm, tm


EMB_CASES = [((10, 4), {}), ((10, 4), {"padding_idx": 3}), ((10, 4), {"padding_idx": -1}),
             ((10, 4), {"scale_grad_by_freq": True}),
             ((10, 4), {"padding_idx": 0, "scale_grad_by_freq": True}),
             ((10, 4), {"max_norm": 1.5}), ((10, 4), {"max_norm": 1.0, "norm_type": 1.0})]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("args, kwargs", EMB_CASES, ids=[",".join(c[1]) or "plain"
                                                         for c in EMB_CASES])
def test_embedding_parity_with_repeated_indices(args, kwargs, dtype):
    cm, tm = _emb_pair(*args, dtype=dtype, **kwargs)
    assert repr(cm) == repr(tm)
    idx = np.array([[1, 3, 3, 9, 0], [3, 1, 1, 1, 7], [0, 3, 9, 2, 2]])
    g = np.random.default_rng(0).standard_normal((3, 5, args[1])).astype(dtype)
    cy, ty = cm(cr.tensor(idx)), tm(torch.from_numpy(idx))
    assert_same(cy, ty, rtol=1e-6, atol=1e-7, what="output")
    cy.backward(cr.tensor(g))
    ty.backward(torch.from_numpy(g))
    assert_same(cm.weight.grad, tm.weight.grad, rtol=1e-6, atol=1e-6, what="weight.grad")
    assert_same(cm.weight, tm.weight, rtol=1e-6, atol=1e-7, what="weight (after max_norm)")
    if cm.padding_idx is not None:
        assert not cm.weight.grad.numpy()[cm.padding_idx].any()


@pytest.mark.parametrize("vocab, idx", [
    (50, np.random.default_rng(2).integers(0, 50, (32, 35))),  # few distinct: a sum per run
    (1000, np.random.default_rng(3).integers(0, 1000, (64, 50))),  # many distinct, short runs
    (500, np.concatenate([np.zeros(300, np.int64), np.arange(200), np.full(77, 7)])),  # long
    (500, np.arange(500)[::-1].copy()),  # no repeats
], ids=["small-vocab", "large-vocab", "long-runs", "distinct"])
@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 5}, {"scale_grad_by_freq": True}],
                         ids=["plain", "padding", "freq"])
def test_embedding_functional_parity_large_batch(vocab, idx, kwargs):
    w = np.random.default_rng(4).standard_normal((vocab, 16))
    for dtype in (np.float32, np.float64):
        check_parity(lambda i, t: F.embedding(i, t, **kwargs),
                     lambda i, t: torch.nn.functional.embedding(i, t, **kwargs),
                     [idx, w.astype(dtype)])
    check_parity(lambda i, t: F.embedding(i.int(), t), lambda i, t: torch.nn.functional.embedding(
        i.int(), t), [idx, w])


def test_embedding_init_statistics_and_padding_row():
    cr.manual_seed(0)
    m = nn.Embedding(2000, 100, padding_idx=-3)
    assert m.padding_idx == 1997
    w = m.weight.numpy()
    assert w.dtype == np.float32 and list(m.state_dict()) == ["weight"]
    assert not w[1997].any()
    rest = np.delete(w, 1997, axis=0)
    assert abs(rest.mean()) < 0.01 and abs(rest.std() - 1) < 0.01


def test_embedding_from_pretrained():
    w = cr.tensor([[1.0, 2.3, 3.0], [4.0, 5.1, 6.3]])
    m = nn.Embedding.from_pretrained(w, padding_idx=0)
    assert not m.weight.requires_grad
    assert m.weight.numpy()[0].tolist() == w.numpy()[0].tolist()  # padding row kept
    assert repr(m) == repr(torch.nn.Embedding.from_pretrained(torch.from_numpy(w.numpy()),
                                                              padding_idx=0))
    m2 = nn.Embedding.from_pretrained(w, freeze=False)
    assert m2.weight.requires_grad
    m2(cr.tensor([1, 1])).sum().backward()
    assert m2.weight.grad.tolist() == [[0.0] * 3, [2.0] * 3]
    with pytest.raises(ValueError, match=r"embeddings must be 2-D, got shape \(3,\)"):
        nn.Embedding.from_pretrained(cr.ones(3))


def test_embedding_errors():
    m = nn.Embedding(10, 3)
    with pytest.raises(IndexError, match="index 10 is out of range for a weight with 10 rows"):
        m(cr.tensor([1, 10]))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        m(cr.tensor([-1]))
    with pytest.raises(RuntimeError, match="expected integer indices"):
        m(cr.tensor([1.0]))
    with pytest.raises(ValueError, match="padding_idx=10 must be within num_embeddings=10"):
        nn.Embedding(10, 3, padding_idx=10)
    with pytest.raises(NotImplementedError, match="sparse=True"):
        nn.Embedding(10, 3, sparse=True)


def test_embedding_repr_matches_pytorch():
    for kwargs in ({}, {"padding_idx": -2}, {"max_norm": 2.0, "norm_type": 3.0},
                   {"scale_grad_by_freq": True}):
        assert repr(nn.Embedding(7, 2, **kwargs)) == repr(torch.nn.Embedding(7, 2, **kwargs))
