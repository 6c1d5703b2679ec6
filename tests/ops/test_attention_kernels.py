"""The compiled kernels of attention, the feed-forward block and LayerNorm (ops/attention/
_kernels.py, ops/_norm_kernels.py) give the NumPy reference's values and gradients: every mask
kind, dropout, both norm orders, odd sizes, empty batches, strided inputs, extreme values."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.nn.layers.transformer import _generate_square_subsequent_mask
from chainrule.ops import _threads
from chainrule.ops.attention import feed_forward
from chainrule.ops.norm import add_layer_norm

pytestmark = pytest.mark.usefixtures("fast_paths")

DTYPES = ["float32", "float64"]


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == "float32" else dict(rtol=1e-11, atol=1e-11)


@pytest.fixture(params=["one_block", "many_blocks"])
def blocks(request, monkeypatch):
    """The whole array as one chunk, or many chunks on two threads (per-slot partial sums)."""
    if request.param == "many_blocks":
        monkeypatch.setattr(_threads, "_CHUNK_BYTES", 1)
        monkeypatch.setattr(_threads, "_PARALLEL_BYTES", 0)
        monkeypatch.setattr(_threads, "_THREADS", 2)
    return request.param


def _leaves(rng, dtype, *shapes, scale=1.0):
    return [cr.tensor((rng.standard_normal(s) * scale).astype(dtype), requires_grad=True)
            for s in shapes]


def _grads(*tensors):
    return [None if t is None or t.grad is None else t.grad.numpy() for t in tensors]


# --- LayerNorm ---


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, ns", [((4, 6, 7), (7,)), ((3, 5, 4), (5, 4)), ((0, 9), (9,)),
                                       ((2, 1), (1,)), ((33, 130), (130,))])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
@pytest.mark.parametrize("residual", [False, True])
def test_layer_norm(compiled_vs_reference, blocks, dtype, shape, ns, affine, residual):
    def run():
        rng = np.random.default_rng(0)
        x, r = _leaves(rng, dtype, shape, shape, scale=3.0)
        w = b = None
        if affine in ("both", "weight"):
            (w,) = _leaves(rng, dtype, ns)
        if affine in ("both", "bias"):
            (b,) = _leaves(rng, dtype, ns)
        y = add_layer_norm(x, r, ns, w, b) if residual else F.layer_norm(x, ns, w, b)
        g = rng.standard_normal(shape).astype(dtype)
        y.backward(cr.tensor(g))
        assert y.dtype == np.dtype(dtype)
        return [y.numpy(), *_grads(x, r if residual else None, w, b)]

    compiled_vs_reference(run, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_of_strided_input_and_gradient(compiled_vs_reference, dtype):
    def run():
        rng = np.random.default_rng(1)
        (x,) = _leaves(rng, dtype, (8, 6, 5), scale=10.0)
        xt = x.transpose(0, 2)  # (5, 6, 8): not contiguous
        w, b = _leaves(rng, dtype, (8,), (8,))
        y = F.layer_norm(xt + 100.0, (8,), w, b)  # a large mean: centring matters
        g = rng.standard_normal((8, 6, 5)).astype(dtype)
        y.backward(cr.tensor(g).transpose(0, 2))  # a strided output gradient
        return [y.numpy(), *_grads(x, w, b)]

    compiled_vs_reference(run, **_tol(dtype))


def test_layer_norm_kernel_keeps_nan_and_inf_as_the_reference(compiled_vs_reference):
    def run():
        x = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)
        x[1, 2], x[2, 0] = np.nan, np.inf
        with np.errstate(invalid="ignore"):
            return F.layer_norm(cr.tensor(x), (6,)).numpy()

    fast, _ = compiled_vs_reference(run, **_tol("float32"))
    assert np.isnan(fast[1]).all() and np.isnan(fast[2]).all() and np.isfinite(fast[0]).all()


# --- the feed-forward block ---


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 5, 8), (0, 8), (1, 8), (17, 8)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("residual", [False, True])
def test_feed_forward(compiled_vs_reference, blocks, dtype, shape, bias, residual):
    def run():
        rng = np.random.default_rng(3)
        (x,) = _leaves(rng, dtype, shape)
        w1, w2 = _leaves(rng, dtype, (13, 8), (8, 13))
        b1, b2 = _leaves(rng, dtype, (13,), (8,)) if bias else (None, None)
        with cr.no_grad():  # exact zeros in the hidden layer: relu'(0) = 0
            w1[0] = 0.0
            if bias:
                b1[0] = 0.0
        y = feed_forward(x, w1, b1, w2, b2, residual)
        y.backward(cr.tensor(rng.standard_normal(shape).astype(dtype)))
        assert y.dtype == np.dtype(dtype)
        return [y.numpy(), *_grads(x, w1, b1, w2, b2)]

    compiled_vs_reference(run, **_tol(dtype))


# --- scaled dot-product attention ---


def _sdpa_case(dtype, mask_kind, dropout, scale=1.0, shapes=((2, 3, 5, 4), (2, 3, 7, 4))):
    def run():
        cr.manual_seed(7)
        rng = np.random.default_rng(4)
        (qs, ks) = shapes
        q, k, v = _leaves(rng, dtype, qs, ks, ks[:-1] + (6,), scale=scale)
        L, S = qs[-2], ks[-2]  # noqa: N806
        kw: dict = {}
        m = None
        if mask_kind == "bool":
            allowed = rng.random((L, S)) > 0.4
            allowed[0] = False  # a query that sees no key
            kw["attn_mask"] = cr.tensor(allowed)
        elif mask_kind == "float":
            (m,) = _leaves(rng, dtype, (qs[0], 1, L, S))
            with cr.no_grad():
                m[0, 0, 1, :3] = -np.inf
            kw["attn_mask"] = m
        elif mask_kind == "huge":
            mm = np.zeros((L, S), dtype)
            mm[:, ::2] = -1e9
            kw["attn_mask"] = cr.tensor(mm)
        elif mask_kind == "causal":
            kw["is_causal"] = True
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, **kw)
        out.backward(cr.tensor(rng.standard_normal(out.shape).astype(dtype)))
        assert out.dtype == np.dtype(dtype)
        return [out.numpy(), *_grads(q, k, v, m)]

    return run


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_kind", [None, "bool", "float", "huge", "causal"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_sdpa_every_mask_kind_and_dropout(compiled_vs_reference, blocks, dtype, mask_kind,
                                          dropout):
    compiled_vs_reference(_sdpa_case(dtype, mask_kind, dropout), **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_kind", [None, "bool", "causal"])
def test_sdpa_large_logits_take_the_shifted_softmax(compiled_vs_reference, dtype, mask_kind):
    # |q| |k| far beyond the no-shift bound: exp would overflow without the row max
    fast, _ = compiled_vs_reference(_sdpa_case(dtype, mask_kind, 0.0, scale=30.0),
                                    rtol=1e-4 if dtype == "float32" else 1e-10, atol=1e-3)
    assert all(np.isfinite(a).all() for a in fast if a is not None)


@pytest.mark.parametrize("shapes", [((5, 4), (7, 4)), ((0, 3, 5, 4), (0, 3, 7, 4)),
                                    ((2, 1, 5, 4), (1, 3, 7, 4)), ((2, 3, 1, 4), (2, 3, 1, 4))])
def test_sdpa_batch_shapes(compiled_vs_reference, shapes):
    compiled_vs_reference(_sdpa_case("float64", "bool", 0.0, shapes=shapes), **_tol("float64"))


def test_sdpa_fully_masked_rows_give_zeros_and_zero_gradients(compiled_vs_reference):
    def run():
        rng = np.random.default_rng(5)
        q, k, v = _leaves(rng, "float32", (2, 4, 3), (2, 5, 3), (2, 5, 3))
        allowed = np.ones((4, 5), bool)
        allowed[2] = False
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(allowed))
        out.sum().backward()
        return [out.numpy(), *_grads(q, k, v)]

    fast, _ = compiled_vs_reference(run, **_tol("float32"))
    assert (fast[0][:, 2] == 0).all() and (fast[1][:, 2] == 0).all()


def test_sdpa_grouped_query_heads(compiled_vs_reference):
    def run():
        rng = np.random.default_rng(6)
        q, k, v = _leaves(rng, "float64", (2, 4, 5, 3), (2, 2, 6, 3), (2, 2, 6, 3))
        out = F.scaled_dot_product_attention(q, k, v, enable_gqa=True, is_causal=True)
        out.backward(cr.tensor(rng.standard_normal(out.shape)))
        return [out.numpy(), *_grads(q, k, v)]

    compiled_vs_reference(run, **_tol("float64"))


# --- multi-head attention and the encoder layer ---


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("masks", ["none", "padding", "bool", "float", "both"])
@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention(compiled_vs_reference, blocks, dtype, batch_first, masks,
                             need_weights):
    def run():
        cr.manual_seed(0)
        mha = nn.MultiheadAttention(8, 2, dropout=0.25, batch_first=batch_first)
        mha = mha.to(getattr(cr, dtype))
        rng = np.random.default_rng(7)
        n, L = 3, 5  # noqa: N806
        (x,) = _leaves(rng, dtype, (n, L, 8) if batch_first else (L, n, 8))
        pad = None
        if masks in ("padding", "both"):
            p = np.zeros((n, L), bool)
            p[0, 3:] = True
            # every key of sample 1 masked: zeros without weights; with weights NaN as in
            # PyTorch, whose warnings in the worker threads escape np.errstate (thread-local)
            p[1, :L] = not need_weights
            p[1, 2:4] = True
            pad = cr.tensor(p)
        attn = None
        if masks in ("bool", "both"):
            attn = cr.tensor(np.triu(np.ones((L, L), bool), 1))
        elif masks == "float":
            attn = cr.tensor((rng.standard_normal((L, L)) * 2).astype(dtype))
        out, w = mha(x, x, x, key_padding_mask=pad, attn_mask=attn, need_weights=need_weights)
        loss = out.sum() if w is None else out.sum() + (w * w).sum()
        with np.errstate(invalid="ignore"):
            loss.backward()
        params = [p.grad.numpy() for p in mha.parameters()]
        return [out.numpy(), None if w is None else w.numpy(), x.grad.numpy(), *params]

    compiled_vs_reference(run, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_transformer_encoder_layer(compiled_vs_reference, blocks, dtype, norm_first, causal):
    def run():
        cr.manual_seed(1)
        layer = nn.TransformerEncoderLayer(16, 4, 24, dropout=0.0, batch_first=True,
                                           norm_first=norm_first).to(getattr(cr, dtype))
        rng = np.random.default_rng(8)
        (x,) = _leaves(rng, dtype, (3, 7, 16))
        pad = np.zeros((3, 7), bool)
        pad[2, 5:] = True
        mask = _generate_square_subsequent_mask(7, dtype) if causal else None
        y = layer(x, src_mask=mask, src_key_padding_mask=cr.tensor(pad), is_causal=causal)
        y.backward(cr.tensor(rng.standard_normal(y.shape).astype(dtype)))
        return [y.numpy(), x.grad.numpy(), *[p.grad.numpy() for p in layer.parameters()]]

    compiled_vs_reference(run, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_multihead_weights_of_a_fully_masked_sample_are_nan_as_in_pytorch(
        compiled_vs_reference, dtype):
    def run():  # one chunk, on this thread: np.errstate applies
        mha = nn.MultiheadAttention(4, 2, batch_first=True).to(getattr(cr, dtype))
        with cr.no_grad():
            for p in mha.parameters():
                p.copy_(cr.tensor(np.linspace(-1, 1, p.numel()).reshape(p.shape).astype(dtype)))
        (x,) = _leaves(np.random.default_rng(9), dtype, (2, 3, 4))
        pad = np.zeros((2, 3), bool)
        pad[1] = True
        with np.errstate(invalid="ignore"):
            out, w = mha(x, x, x, key_padding_mask=cr.tensor(pad))
            out.sum().backward()
        return [out.numpy(), w.numpy(), x.grad.numpy()]

    fast, _ = compiled_vs_reference(run, **_tol(dtype))
    assert np.isnan(fast[1][1]).all() and np.isfinite(fast[1][0]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["small", "large", "nan", "inf", "empty", "odd"])
def test_score_bound_decision(compiled_vs_reference, dtype, case):
    from chainrule.ops.attention import _scores_bounded

    q = np.full((2, 3, 4, 8), 0.5, dtype)
    k = np.full((2, 3, 5, 8), 0.5, dtype)
    if case == "large":
        k[1, 2, 4, 0] = 100.0
    elif case == "nan":
        q[0, 1, 2, 3] = np.nan
    elif case == "inf":
        k[0, 0, 0, 0] = np.inf
    elif case == "empty":
        q, k = q[:, :, :0], k[:, :, :0]
    elif case == "odd":
        q, k = np.ones((7, 3), dtype), np.full((5, 3), 2.0, dtype)

    def run():
        with np.errstate(invalid="ignore", over="ignore"):
            return np.array(_scores_bounded(q, k))

    fast, _ = compiled_vs_reference(run)
    assert bool(fast) == (case in ("small", "empty", "odd"))
