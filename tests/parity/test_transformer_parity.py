"""TransformerEncoderLayer and TransformerEncoder against PyTorch with copied weights: outputs,
the input's gradient and every parameter's gradient, in both norm orders, with relu and gelu,
with masks, both layouts, float32 and float64; deep copies, state_dict keys, repr, and dropout in
train mode (reproducibility) and eval mode (off)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from tests.parity.helpers import assert_same

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-10)}
D, NHEAD, FF, S, N = 8, 2, 16, 5, 3


@pytest.fixture(autouse=True)
def _torch_standard_path():
    # NOTE: torch's eval-mode fast path returns nested tensors for padded batches and fuses
    # differently; with it off, torch runs the standard path chainrule implements.
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    yield
    torch.backends.mha.set_fastpath_enabled(before)


def _perturb(t):
    """Non-trivial LayerNorm weights and biases (torch starts them at ones and zeros)."""
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in t.parameters():
            if p.ndim == 1:
                p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.1)


def _layer_pair(dtype, activation="relu", **kw):
    torch.manual_seed(0)
    t_act = {"F.gelu": torch.nn.functional.gelu, "GELU": torch.nn.GELU()}.get(activation,
                                                                             activation)
    c_act = {"F.gelu": F.gelu, "GELU": nn.GELU()}.get(activation, activation)
    t = torch.nn.TransformerEncoderLayer(D, NHEAD, FF, activation=t_act, **kw)
    m = nn.TransformerEncoderLayer(D, NHEAD, FF, activation=c_act, **kw)
    return _load(m, t, dtype)


def _load(m, t, dtype):
    t.to(getattr(torch, np.dtype(dtype).name))
    _perturb(t)
    m.to(np.dtype(dtype))
    m.load_state_dict(t.state_dict())
    assert list(m.state_dict()) == list(t.state_dict())
    return m, t


def _masks(kind, dtype, lib):
    rng = np.random.default_rng(4)
    keep = rng.random((S, S)) > 0.3
    keep[:, 0] = True
    pad = np.zeros((N, S), bool)
    pad[0, -2:] = True
    out = {}
    if kind in ("bool", "both"):
        out["src_mask"] = ~keep
    if kind == "float":
        out["src_mask"] = np.where(keep, rng.standard_normal((S, S)), -np.inf).astype(dtype)
    if kind in ("kpm", "both"):
        out["src_key_padding_mask"] = pad
    if kind == "causal":
        out["src_mask"] = np.where(np.triu(np.ones((S, S), bool), 1), -np.inf, 0).astype(dtype)
        out["is_causal"] = True
    wrap = cr.tensor if lib is cr else (lambda a: torch.from_numpy(a.copy()))
    return {k: wrap(v) if isinstance(v, np.ndarray) else v for k, v in out.items()}


def _check(m, t, dtype, shape, masks="none", mask_names=None):
    """Forward, then backward of a random projection of the output; compare everything."""
    tol = TOL[dtype]
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    cx, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ckw, tkw = _masks(masks, dtype, cr), _masks(masks, dtype, torch)
    if mask_names:
        ckw = {mask_names.get(k, k): v for k, v in ckw.items()}
        tkw = {mask_names.get(k, k): v for k, v in tkw.items()}
    cy, ty = m(cx, **ckw), t(tx, **tkw)
    assert_same(cy, ty, what="output", **tol)
    assert np.isfinite(cy.numpy()).all()
    g = np.random.default_rng(2).standard_normal(cy.shape).astype(dtype)
    cy.backward(cr.tensor(g))
    ty.backward(torch.from_numpy(g))
    assert_same(cx.grad, tx.grad, what="input gradient", **tol)
    tparams = dict(t.named_parameters())
    assert [n for n, _ in m.named_parameters()] == list(tparams)
    for name, p in m.named_parameters():
        assert_same(p.grad, tparams[name].grad, what=f"gradient of {name}", **tol)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("masks", ["none", "both", "float"])
def test_encoder_layer_matches_torch(masks, norm_first, activation, dtype):
    m, t = _layer_pair(dtype, activation, dropout=0.0, norm_first=norm_first)
    _check(m, t, dtype, (S, N, D), masks)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("config", ["batch_first", "no_bias", "gelu_function", "gelu_module",
                                    "causal", "bool_mask", "kpm", "eps", "unbatched"])
def test_encoder_layer_configurations_match_torch(config, dtype):
    kw, shape, masks, act = {"dropout": 0.0}, (S, N, D), "none", "relu"
    if config == "batch_first":
        kw["batch_first"], shape, masks = True, (N, S, D), "both"
    elif config == "no_bias":
        kw["bias"], masks = False, "kpm"
    elif config == "gelu_function":
        act = "F.gelu"
    elif config == "gelu_module":
        act, kw["norm_first"] = "GELU", True
    elif config in ("causal", "bool_mask", "kpm"):
        masks = {"bool_mask": "bool"}.get(config, config)
    elif config == "eps":
        kw["layer_norm_eps"] = 1e-3
    elif config == "unbatched":
        shape, masks = (S, D), "bool"
    m, t = _layer_pair(dtype, act, **kw)
    _check(m, t, dtype, shape, masks)
    assert repr(m) == repr(t)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_encoder_layer_eval_mode_dropout_off_matches_torch(dtype):
    m, t = _layer_pair(dtype, "gelu", dropout=0.3, batch_first=True)
    m.eval()
    t.eval()
    _check(m, t, dtype, (N, S, D), "both")


def test_encoder_layer_train_mode_dropout_is_reproducible_and_active():
    m = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.2)
    x = cr.randn(6, 4, 16)
    cr.manual_seed(0)
    a = m(x).numpy()
    cr.manual_seed(0)
    b = m(x).numpy()
    c = m(x).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    m.eval()
    e1, e2 = m(x).numpy(), m(x).numpy()
    np.testing.assert_array_equal(e1, e2)
    assert not np.allclose(a, e1)
    # NOTE: LayerNorm after each block keeps the output's per-token statistics at (0, 1) with
    # or without dropout (the default weights are ones and zeros).
    np.testing.assert_allclose(a.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(a.std(-1), 1, atol=1e-3)


def _encoder_pair(dtype, num_layers=2, norm=True, **kw):
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0, **kw)
    ml = nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0, **kw)
    t = torch.nn.TransformerEncoder(tl, num_layers, torch.nn.LayerNorm(D) if norm else None,
                                    enable_nested_tensor=False)
    m = nn.TransformerEncoder(ml, num_layers, nn.LayerNorm(D) if norm else None)
    return _load(m, t, dtype)


ENC_NAMES = {"src_mask": "mask"}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("masks", ["none", "both", "causal"])
def test_encoder_matches_torch(masks, dtype):
    m, t = _encoder_pair(dtype)
    _check(m, t, dtype, (S, N, D), masks, ENC_NAMES)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_encoder_batch_first_pre_norm_without_final_norm_matches_torch(dtype):
    m, t = _encoder_pair(dtype, num_layers=3, norm=False, batch_first=True, norm_first=True)
    _check(m, t, dtype, (N, S, D), "both", ENC_NAMES)
    assert repr(m.layers[2]) == repr(t.layers[2])


def test_encoder_causal_mask_detection_gives_the_same_result():
    m, _ = _encoder_pair(np.float64)
    x = cr.randn(S, N, D).double()
    causal = cr.tensor(np.where(np.triu(np.ones((S, S), bool), 1), -np.inf, 0.0))
    a = m(x, mask=causal).numpy()
    b = m(x, mask=causal, is_causal=False).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-12)
    bool_causal = cr.tensor(np.triu(np.ones((S, S), bool), 1))
    np.testing.assert_allclose(m(x, mask=bool_causal).numpy(), a, rtol=1e-12)


def test_encoder_layers_are_independent_deep_copies():
    layer = nn.TransformerEncoderLayer(D, NHEAD, FF)
    enc = nn.TransformerEncoder(layer, 2, nn.LayerNorm(D))
    t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, NHEAD, FF), 2,
                                    torch.nn.LayerNorm(D), enable_nested_tensor=False)
    assert list(enc.state_dict()) == list(t.state_dict())
    assert "layers.0.self_attn.in_proj_weight" in enc.state_dict()
    params = [p for _, p in enc.named_parameters()]
    assert len({id(p) for p in params}) == len(params) == len(list(t.parameters()))
    w0 = enc.layers[0].self_attn.in_proj_weight
    w1 = enc.layers[1].self_attn.in_proj_weight
    assert w0 is not w1 and w0 is not layer.self_attn.in_proj_weight
    assert isinstance(w0, nn.Parameter) and w0.requires_grad and w0.is_leaf
    np.testing.assert_array_equal(w0.numpy(), layer.self_attn.in_proj_weight.numpy())
    with cr.no_grad():
        w0.mul_(2.0)
    assert not np.array_equal(w0.numpy(), w1.numpy())
    assert not np.array_equal(w0.numpy(), layer.self_attn.in_proj_weight.numpy())
    enc(cr.randn(S, N, D)).sum().backward()
    assert w0.grad is not None and w1.grad is not None and w0.grad is not w1.grad
    assert layer.self_attn.in_proj_weight.grad is None
    assert repr(enc.layers[1]) == repr(t.layers[1]) and repr(enc.norm) == repr(t.norm)


def test_encoder_layer_errors():
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(D, NHEAD, activation="tanh")
    with pytest.raises(ValueError, match="divisible"):
        nn.TransformerEncoderLayer(10, 4)


def _graph_types(t):
    stack, seen = [t.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(p.grad_fn for p in node._parents if isinstance(p, cr.Tensor))
    return {type(n).__name__ for n in seen}


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_fused_feed_forward_runs_and_matches_the_composed_layers(norm_first):
    """relu without active dropout runs the fused FeedForward primitive (with the residual sum
    inside it, or inside LayerNorm, when the norms come after the blocks); a forward hook on
    linear1 falls back to the layers."""
    m = nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0, norm_first=norm_first).double()
    x = cr.randn(S, N, D, dtype=cr.float64, requires_grad=True)
    y = m(x)
    assert "FeedForward" in _graph_types(y) and "Relu" not in _graph_types(y)
    # NOTE: after-the-block norms take both residual sums into their primitives
    assert ("Add" in _graph_types(y)) == norm_first
    y.sum().backward()
    fused = [x.grad.numpy().copy()] + [p.grad.numpy().copy() for p in m.parameters()]
    calls = []
    m.linear1.register_forward_hook(lambda mod, args, out: calls.append(1))
    m.zero_grad()
    x.grad = None
    y2 = m(x)
    assert calls and "FeedForward" not in _graph_types(y2) and "Relu" in _graph_types(y2)
    np.testing.assert_allclose(y2.numpy(), y.numpy(), rtol=1e-12, atol=1e-12)
    y2.sum().backward()
    composed = [x.grad.numpy()] + [p.grad.numpy() for p in m.parameters()]
    for a, b in zip(fused, composed, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_encoder_layer_at_benchmark_size_matches_torch(norm_first):
    """Big enough (16 x 64 tokens of 128 features, ffn 512) that LayerNorm, the in-projection
    copies, attention and the fused feed-forward block split their rows over threads."""
    torch.manual_seed(0)
    t = torch.nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, batch_first=True,
                                         norm_first=norm_first)
    m = nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, batch_first=True,
                                   norm_first=norm_first)
    m, t = _load(m, t, np.float64)
    _check(m, t, np.float64, (16, 64, 128))
