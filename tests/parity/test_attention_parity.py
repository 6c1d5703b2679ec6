"""scaled_dot_product_attention and MultiheadAttention against PyTorch: outputs, attention
weights, the gradients of query, key, value (and float masks) and of every parameter, with every
kind of mask, in both layouts, float32 and float64; state_dict keys, default initialisation,
repr, errors, and dropout on the attention weights (statistics and reproducibility)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from tests.parity.helpers import assert_same, check_parity

torch = pytest.importorskip("torch")
tF = torch.nn.functional

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}
E, H, L, S, N = 8, 2, 5, 6, 3


def _rng(seed=0):
    return np.random.default_rng(seed)


def _bool_mask(shape, seed=1, p=0.3):
    """True where a position takes part; every row keeps at least its first entry."""
    m = _rng(seed).random(shape) > p
    m[..., 0] = True
    return m


# --- scaled_dot_product_attention ---


def _sdpa_case(name):
    """(chainrule fn, torch fn, inputs) for one way of calling scaled_dot_product_attention."""
    rng = _rng(2)
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, L, 4), (2, 3, S, 4), (2, 3, S, 5)))
    kw = {}
    inputs = [q, k, v]
    if name == "bool_mask":
        m = _bool_mask((L, S))
        return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, cr.tensor(m)),
                lambda q, k, v: tF.scaled_dot_product_attention(q, k, v, torch.from_numpy(m)),
                inputs)
    if name == "bool_mask_broadcast":
        m = _bool_mask((2, 1, L, S))
        return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, cr.tensor(m)),
                lambda q, k, v: tF.scaled_dot_product_attention(q, k, v, torch.from_numpy(m)),
                inputs)
    if name == "float_mask_grad":
        inputs.append(rng.standard_normal((3, L, S)))
        return (lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m),
                lambda q, k, v, m: tF.scaled_dot_product_attention(q, k, v, m), inputs)
    if name == "float_mask_inf":
        m = np.where(_bool_mask((L, S)), 0.0, -np.inf) + rng.standard_normal((L, S))
        return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, cr.tensor(m.astype(
                    q.dtype))),
                lambda q, k, v: tF.scaled_dot_product_attention(q, k, v, torch.from_numpy(
                    m.astype(q.detach().numpy().dtype))),
                inputs)
    if name == "fully_masked_row":
        m = _bool_mask((L, S))
        m[2] = False
        return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, cr.tensor(m)),
                lambda q, k, v: tF.scaled_dot_product_attention(q, k, v, torch.from_numpy(m)),
                inputs)
    if name == "causal":
        kw = dict(is_causal=True)
    elif name == "causal_square":
        inputs = [q, q[..., :L, :] * 0.5, v[..., :L, :]]
        kw = dict(is_causal=True)
    elif name == "scale":
        kw = dict(scale=0.3)
    elif name == "large_scores":  # NOTE: beyond the no-shift bound: the row max is subtracted
        m = _bool_mask((L, S))
        inputs = [q * 30, k * 3, v]
        return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, cr.tensor(m)),
                lambda q, k, v: tF.scaled_dot_product_attention(q, k, v, torch.from_numpy(m)),
                inputs)
    elif name == "unbatched":
        inputs = [q[0, 0], k[0, 0], v[0, 0]]
    elif name == "broadcast_batch":
        inputs = [q, k[:1], v[:1, :1]]
    elif name == "gqa":
        inputs = [rng.standard_normal((2, 4, L, 4)), k[:, :2], v[:, :2]]
        kw = dict(enable_gqa=True)
    return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kw),
            lambda q, k, v: tF.scaled_dot_product_attention(q, k, v, **kw), inputs)


SDPA_CASES = ["plain", "large_scores", "bool_mask", "bool_mask_broadcast", "float_mask_grad",
              "float_mask_inf", "fully_masked_row", "causal", "causal_square", "scale",
              "unbatched", "broadcast_batch", "gqa"]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", SDPA_CASES)
def test_sdpa_matches_torch(case, dtype):
    fn, tfn, inputs = _sdpa_case(case)
    outs, _ = check_parity(fn, tfn, [a.astype(dtype) for a in inputs], **TOL[dtype])
    assert outs[0].dtype == dtype and np.isfinite(outs[0].numpy()).all()


def test_sdpa_softmax_skips_the_row_max_only_when_scores_are_bounded():
    from chainrule.ops.attention import _scores_bounded

    q = np.full((2, 3, 8), 2.0, np.float32)
    assert _scores_bounded(q, q)  # |q|^2 = 32 <= 60
    assert not _scores_bounded(q * 2, q)  # 64
    assert not _scores_bounded(q * np.nan, q)
    big = np.float32(1e4)
    out = F.scaled_dot_product_attention(*(cr.tensor(q * big),) * 3).numpy()
    np.testing.assert_allclose(out, q * big, rtol=1e-6)


def test_sdpa_fully_masked_row_is_zero_with_zero_gradient():
    m = _bool_mask((L, S))
    m[1] = False
    q, k, v = (cr.randn(n, 4, requires_grad=True) for n in (L, S, S))
    out = F.scaled_dot_product_attention(q, k, v, cr.tensor(m))
    assert np.all(out.numpy()[1] == 0) and np.isfinite(out.numpy()).all()
    out.sum().backward()
    assert np.all(q.grad.numpy()[1] == 0) and np.isfinite(k.grad.numpy()).all()


def test_sdpa_dropout_statistics_and_reproducibility():
    """With value = identity the output is the dropped-out weights: zero with probability p,
    else the softmax weights divided by 1 - p; a seed gives the same mask again."""
    p, n = 0.3, 64
    rng = _rng(3)
    q = cr.tensor(rng.standard_normal((8, n, 16)).astype(np.float32))
    k = cr.tensor(rng.standard_normal((8, n, 16)).astype(np.float32))
    eye = cr.tensor(np.broadcast_to(np.eye(n, dtype=np.float32), (8, n, n)).copy())
    full = F.scaled_dot_product_attention(q, k, eye).numpy()
    cr.manual_seed(5)
    a = F.scaled_dot_product_attention(q, k, eye, dropout_p=p).numpy()
    cr.manual_seed(5)
    b = F.scaled_dot_product_attention(q, k, eye, dropout_p=p).numpy()
    c = F.scaled_dot_product_attention(q, k, eye, dropout_p=p).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    kept = a != 0
    assert abs(1 - kept.mean() - p) < 0.01
    np.testing.assert_allclose(a[kept], full[kept] / (1 - p), rtol=1e-5)
    assert a.dtype == np.float32
    zero = F.scaled_dot_product_attention(q, k, eye, dropout_p=1.0).numpy()
    assert not zero.any()


def test_sdpa_dropout_gradient_uses_the_same_mask():
    """The gradient flows through the kept weights only: d(sum out)/dv[j] = sum_i A[i, j]."""
    rng = _rng(4)
    q, k = (cr.tensor(rng.standard_normal((2, 6, 4))) for _ in range(2))
    v = cr.tensor(rng.standard_normal((2, 6, 3)), requires_grad=True)
    eye = cr.tensor(np.broadcast_to(np.eye(6), (2, 6, 6)).copy())
    cr.manual_seed(9)
    weights = F.scaled_dot_product_attention(q, k, eye, dropout_p=0.5).numpy()
    cr.manual_seed(9)
    F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), np.repeat(weights.sum(1)[..., None], 3, -1),
                               rtol=1e-12)


def test_sdpa_errors_name_the_op_and_shapes():
    q = cr.randn(2, 5, 4)
    with pytest.raises(RuntimeError, match=r"scaled_dot_product_attention.*\(2, 5, 3\)"):
        F.scaled_dot_product_attention(q, cr.randn(2, 5, 3), cr.randn(2, 5, 4))
    with pytest.raises(RuntimeError, match="is_causal"):
        F.scaled_dot_product_attention(q, q, q, cr.ones(5, 5).bool(), is_causal=True)
    with pytest.raises(RuntimeError, match=r"attn_mask of shape \(4, 5\)"):
        F.scaled_dot_product_attention(q, q, q, cr.ones(4, 5).bool())
    with pytest.raises(TypeError, match="int64"):
        F.scaled_dot_product_attention(q, q, q, cr.ones(5, 5).long())
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.5)
    with pytest.raises(RuntimeError, match="dtype"):
        F.scaled_dot_product_attention(q, q.double(), q)


# --- MultiheadAttention ---


def _pair(dtype, *args, **kw):
    """The same MultiheadAttention in both frameworks, torch's weights (with non-zero biases)
    copied into chainrule's; torch in train mode with dropout 0, its standard path."""
    torch.manual_seed(0)
    t = torch.nn.MultiheadAttention(*args, **kw).to(getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        for p in t.parameters():
            if p.ndim == 1:
                p.copy_(torch.randn(p.shape) * 0.1)
    m = nn.MultiheadAttention(*args, **kw).to(np.dtype(dtype))
    m.load_state_dict(t.state_dict())
    return m, t


def _leaf(arr):
    return cr.tensor(arr.copy(), requires_grad=True), torch.tensor(arr.copy(), requires_grad=True)


def _backward(outs, seed=0):
    rng = _rng(seed)
    loss = 0
    for o in outs:
        if o is None:
            continue
        arr = o.numpy() if isinstance(o, cr.Tensor) else o.detach().numpy()
        w = rng.standard_normal(arr.shape).astype(arr.dtype)
        loss = loss + (o * (cr.tensor(w) if isinstance(o, cr.Tensor) else torch.from_numpy(w))
                       ).sum()
    loss.backward()


def _masks(kind, batched=True, S=S):  # noqa: N803
    """The masks of a configuration as NumPy arrays (bool: True = ignore), keys of length S."""
    rng = _rng(7)
    kpm_shape = (N, S) if batched else (S,)
    out = {}
    if kind in ("bool_attn", "both_bool", "bool_attn_float_kpm"):
        out["attn_mask"] = ~_bool_mask((L, S))
    if kind == "float_attn" or kind == "both_float":
        out["attn_mask"] = np.where(_bool_mask((L, S)), rng.standard_normal((L, S)), -np.inf)
    if kind == "attn_3d":
        out["attn_mask"] = ~_bool_mask(((N if batched else 1) * H, L, S))
    if kind in ("bool_kpm", "both_bool"):
        out["key_padding_mask"] = ~_bool_mask(kpm_shape, seed=2)
    if kind in ("float_kpm", "both_float", "bool_attn_float_kpm"):
        out["key_padding_mask"] = np.where(_bool_mask(kpm_shape, seed=2), 0.0, -np.inf)
    if kind == "causal":
        out["attn_mask"] = np.triu(np.ones((L, S), bool), 1)
        out["is_causal"] = True
    return out


def _kwargs(masks, dtype, lib):
    kw = {}
    for k, v in masks.items():
        if isinstance(v, np.ndarray):
            v = v.astype(dtype) if v.dtype.kind == "f" else v
            v = cr.tensor(v) if lib is cr else torch.from_numpy(v.copy())
        kw[k] = v
    return kw


MASKS = ["none", "bool_attn", "float_attn", "attn_3d", "bool_kpm", "float_kpm", "both_bool",
         "both_float", "bool_attn_float_kpm", "causal"]


def _run(m, t, dtype, masks, batch_first=False, kdim=E, vdim=E, self_attn=True, batched=True,
         forward_kw=None, key_is_value=False):
    rng = _rng(11)
    shape = (lambda n, f: (N, n, f) if batch_first else (n, N, f)) if batched else \
        (lambda n, f: (n, f))
    xq = _leaf(rng.standard_normal(shape(L, E)).astype(dtype))
    if self_attn:
        xk = xv = xq
    else:
        xk = _leaf(rng.standard_normal(shape(S, kdim)).astype(dtype))
        xv = xk if key_is_value else _leaf(rng.standard_normal(shape(S, vdim)).astype(dtype))
    fkw = forward_kw or {}
    cout = m(xq[0], xk[0], xv[0], **_kwargs(masks, dtype, cr), **fkw)
    tout = t(xq[1], xk[1], xv[1], **_kwargs(masks, dtype, torch), **fkw)
    tol = TOL[dtype]
    for k, (a, b) in enumerate(zip(cout, tout, strict=True)):
        if b is None:
            assert a is None, f"output {k}: torch gives None"
            continue
        assert_same(a, b, what=f"output {k}", **tol)
        assert np.isfinite(a.numpy()).all(), f"output {k} is not finite"
    _backward(cout)
    _backward(tout)
    leaves = {id(x[0]): x for x in (xq, xk, xv)}.values()
    for k, (a, b) in enumerate(leaves):
        assert_same(a.grad, b.grad, what=f"gradient of input {k}", **tol)
    for (name, p), (tname, q) in zip(m.named_parameters(), t.named_parameters(), strict=True):
        assert name == tname
        assert_same(p.grad, q.grad, what=f"gradient of {name}", **tol)
    return cout


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("masks", MASKS)
def test_mha_self_attention_masks_match_torch(masks, dtype):
    m, t = _pair(dtype, E, H)
    _run(m, t, dtype, _masks(masks, S=L))


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("masks", MASKS)
def test_mha_cross_attention_masks_match_torch(masks, dtype):
    m, t = _pair(dtype, E, H)
    _run(m, t, dtype, _masks(masks), self_attn=False)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("masks", ["none", "both_bool", "float_attn", "causal"])
def test_mha_batch_first_packed_self_attention(masks, dtype):
    m, t = _pair(dtype, E, H, batch_first=True)
    _run(m, t, dtype, _masks(masks, S=L), batch_first=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
@pytest.mark.parametrize("config", ["need_weights_false", "per_head_weights", "no_bias",
                                    "key_is_value", "kdim_vdim", "unbatched", "causal_no_weights"])
def test_mha_configurations_match_torch(config, batch_first, dtype):
    kw, run = {"batch_first": batch_first}, {"batch_first": batch_first, "self_attn": False}
    masks = _masks("both_bool")
    if config == "need_weights_false":
        run["forward_kw"] = {"need_weights": False}
    elif config == "per_head_weights":
        run["forward_kw"] = {"average_attn_weights": False}
    elif config == "no_bias":
        kw["bias"] = False
    elif config == "key_is_value":
        run["key_is_value"] = True
    elif config == "kdim_vdim":
        kw.update(kdim=3, vdim=7)
        run.update(kdim=3, vdim=7)
    elif config == "unbatched":
        run["batched"] = False
        masks = _masks("both_bool", batched=False)
    elif config == "causal_no_weights":
        run["forward_kw"] = {"need_weights": False}
        masks = _masks("causal")
    m, t = _pair(dtype, E, H, **kw)
    out = _run(m, t, dtype, masks, **run)
    if config == "need_weights_false":
        assert out[1] is None


def test_mha_unbatched_3d_mask_and_per_head_weights():
    m, t = _pair(np.float64, E, H)
    out = _run(m, t, np.float64, _masks("attn_3d", batched=False, S=L), batched=False,
               forward_kw={"average_attn_weights": False})
    assert out[1].shape == (H, L, L)


def test_mha_fully_masked_key_padding_matches_torch():
    """A sample whose keys are all padded: NaN through the weights path, zeros without weights
    (PyTorch's two paths)."""
    m, t = _pair(np.float64, E, H)
    x = _rng(1).standard_normal((L, N, E))
    kpm = np.zeros((N, L), bool)
    kpm[1] = True
    for need in (True, False):
        co, _ = m(*(cr.tensor(x),) * 3, key_padding_mask=cr.tensor(kpm), need_weights=need)
        to, _ = t(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kpm),
                  need_weights=need)
        np.testing.assert_allclose(co.numpy(), to.detach().numpy(), rtol=1e-9, atol=1e-12)
        assert np.isnan(co.numpy()[:, 1]).all() == need


def test_mha_state_dict_keys_and_order_match_torch():
    for kw in ({}, {"kdim": 3, "vdim": 5}, {"bias": False}, {"kdim": 4, "bias": False}):
        t = torch.nn.MultiheadAttention(E, H, **kw)
        m = nn.MultiheadAttention(E, H, **kw)
        assert list(m.state_dict()) == list(t.state_dict())
        assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
        for k, v in t.state_dict().items():
            assert m.state_dict()[k].shape == tuple(v.shape)
        assert repr(m) == repr(t)
        assert isinstance(m.out_proj, nn.Linear)


def test_mha_default_init_matches_torch_formulas():
    e = 256
    m = nn.MultiheadAttention(e, 4)
    w = m.in_proj_weight.numpy()
    bound = math.sqrt(6.0 / (e + 3 * e))  # NOTE: xavier on the (3E, E) matrix as one
    assert w.dtype == np.float32 and np.abs(w).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert not m.in_proj_bias.numpy().any() and not m.out_proj.bias.numpy().any()
    wo = m.out_proj.weight.numpy()
    assert np.abs(wo).max() <= 1 / math.sqrt(e)
    assert abs(wo.std() - 1 / math.sqrt(3 * e)) < 0.02 / math.sqrt(e)
    m2 = nn.MultiheadAttention(e, 4, kdim=64, vdim=32)
    wk = m2.k_proj_weight.numpy()
    assert np.abs(wk).max() <= math.sqrt(6.0 / (e + 64))
    assert abs(wk.std() - math.sqrt(2.0 / (e + 64))) < 0.03 * math.sqrt(2.0 / (e + 64))


def test_mha_errors():
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(NotImplementedError, match="add_bias_kv"):
        nn.MultiheadAttention(8, 2, add_bias_kv=True)
    with pytest.raises(NotImplementedError, match="add_zero_attn"):
        nn.MultiheadAttention(8, 2, add_zero_attn=True)
    m = nn.MultiheadAttention(E, H)
    x = cr.randn(L, N, E)
    with pytest.raises(RuntimeError, match=r"2D attn_mask is \(4, 5\)"):
        m(x, x, x, attn_mask=cr.ones(4, 5).bool())
    with pytest.raises(RuntimeError, match=r"3D attn_mask is \(2, 5, 5\), but should be "
                                           r"\(6, 5, 5\)"):
        m(x, x, x, attn_mask=cr.ones(2, 5, 5).bool())
    with pytest.raises(RuntimeError, match=r"key_padding_mask of shape \(3, 5\), got \(5, 3\)"):
        m(x, x, x, key_padding_mask=cr.ones(5, 3).bool())
    with pytest.raises(RuntimeError, match="is_causal"):
        m(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match="embed_dim 8"):
        m(cr.randn(L, N, 6), x, x)
    with pytest.raises(TypeError, match="int64"):
        m(x, x, x, attn_mask=cr.ones(5, 5).long())


def test_mha_functional_matches_torch():
    rng = _rng(5)
    x = rng.standard_normal((L, N, E))
    w, b = rng.standard_normal((3 * E, E)) * 0.3, rng.standard_normal(3 * E) * 0.1
    wo, bo = rng.standard_normal((E, E)) * 0.3, rng.standard_normal(E) * 0.1
    args = [x, w, b, wo, bo]

    causal = np.triu(np.ones((L, L), bool), 1)

    def run(lib, f, x, w, b, wo, bo):
        return f.multi_head_attention_forward(x, x, x, E, H, w, b, None, None, False, 0.0, wo, bo,
                                              attn_mask=lib.tensor(causal))

    check_parity(lambda *a: run(cr, F, *a), lambda *a: run(torch, tF, *a), args)
    with pytest.raises(NotImplementedError, match="add_zero_attn"):
        F.multi_head_attention_forward(*(cr.tensor(x),) * 3, E, H, cr.tensor(w), None, None, None,
                                       True, 0.0, cr.tensor(wo), None)


def test_mha_dropout_on_weights_train_and_eval():
    m = nn.MultiheadAttention(16, 4, dropout=0.25)
    x = cr.randn(32, 4, 16)
    cr.manual_seed(3)
    o1, w1 = m(x, x, x, average_attn_weights=False)
    cr.manual_seed(3)
    o2, w2 = m(x, x, x, average_attn_weights=False)
    np.testing.assert_array_equal(o1.numpy(), o2.numpy())
    assert abs((w1.numpy() == 0).mean() - 0.25) < 0.02
    m.eval()
    o3, w3 = m(x, x, x, average_attn_weights=False)
    ref = copy.deepcopy(m)
    ref.dropout = 0.0
    np.testing.assert_array_equal(o3.numpy(), ref(x, x, x)[0].numpy())
    np.testing.assert_allclose(w3.numpy().sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(w1.numpy()[w1.numpy() != 0], w3.numpy()[w1.numpy() != 0] / 0.75,
                               rtol=1e-5)


# --- large problems: the batch is split into chunks that run on several threads ---


@pytest.fixture
def chunk_spy(monkeypatch):
    """Records the (lo, hi) chunks the attention primitives hand to the thread pool."""
    from chainrule.ops import _threads

    spans = []
    real = _threads._chunked

    def spy(n, item_bytes, work):
        def recorded(lo, hi, slot):
            spans.append((lo, hi))
            work(lo, hi, slot)

        real(n, item_bytes, recorded)

    monkeypatch.setattr(_threads, "_chunked", spy)
    return spans


@pytest.mark.parametrize("mask", ["float_grad", "bool_broadcast"])
def test_sdpa_in_chunks_matches_torch(mask, chunk_spy):
    rng = _rng(8)
    q, k = rng.standard_normal((12, 4, 96, 16)), rng.standard_normal((12, 4, 80, 16))
    v = rng.standard_normal((12, 1, 80, 8))
    if mask == "float_grad":
        inputs = [q, k, v, rng.standard_normal((12, 1, 96, 80))]
        check_parity(F.scaled_dot_product_attention, tF.scaled_dot_product_attention, inputs,
                     **TOL[np.float64])
    else:
        m = _bool_mask((96, 80))
        check_parity(lambda *a: F.scaled_dot_product_attention(*a, cr.tensor(m)),
                     lambda *a: tF.scaled_dot_product_attention(*a, torch.from_numpy(m)),
                     [q, k, v], **TOL[np.float64])
    assert len(set(chunk_spy)) > 1 and sorted(set(chunk_spy))[-1][1] == 12


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
def test_mha_in_chunks_matches_torch(chunk_spy):
    n, length, e, h = 24, 64, 32, 4
    torch.manual_seed(1)
    t = torch.nn.MultiheadAttention(e, h, batch_first=True).double()
    m = nn.MultiheadAttention(e, h, batch_first=True).double()
    m.load_state_dict(t.state_dict())
    rng = _rng(9)
    x = rng.standard_normal((n, length, e))
    kpm = ~_bool_mask((n, length), seed=3)
    attn = rng.standard_normal((n * h, length, length))
    cx, tx = _leaf(x)
    co = m(cx, cx, cx, key_padding_mask=cr.tensor(kpm), attn_mask=cr.tensor(attn),
           average_attn_weights=False)
    to = t(tx, tx, tx, key_padding_mask=torch.from_numpy(kpm), attn_mask=torch.from_numpy(attn),
           average_attn_weights=False)
    for a, b in zip(co, to):
        assert_same(a, b, what="output", **TOL[np.float64])
    _backward(co)
    _backward(to)
    assert_same(cx.grad, tx.grad, what="input gradient", **TOL[np.float64])
    for (name, p), (_, q) in zip(m.named_parameters(), t.named_parameters()):
        assert_same(p.grad, q.grad, what=f"gradient of {name}", **TOL[np.float64])
    assert len(set(chunk_spy)) > 1


def test_chunked_dropout_is_reproducible(chunk_spy):
    m = nn.MultiheadAttention(32, 4, dropout=0.2, batch_first=True)
    x = cr.randn(24, 64, 32)
    cr.manual_seed(4)
    a = m(x, x, x)[0].numpy()
    cr.manual_seed(4)
    b = m(x, x, x)[0].numpy()
    np.testing.assert_array_equal(a, b)
    assert len(set(chunk_spy)) > 1
