"""Spec rows for the attention primitives (see ``specs.py``).

The torch references are PyTorch's own ``scaled_dot_product_attention`` where it computes the
same thing, and otherwise the textbook formula written with torch ops (the head split of the
packed in-projection, the merged-head attention, attention with a fixed dropout mask).
"""

from __future__ import annotations

import math

import numpy as np

import chainrule as cr
from chainrule.nn import functional as F
from chainrule.ops import attention as at
from chainrule.ops import dropout as do
from chainrule.ops.attention import feedforward as ff
from chainrule.random import default_generator
from tests.ops.specs import Spec, normal

TOL = (1e-4, 1e-5)  # NOTE: float32 sums over the keys and features round differently in torch.
# NOTE: the fused feed-forward block sums its weight gradients over the rows in one partial sum
# per thread; gradients of size ~100 that cancel to ~1e-3 keep an absolute error of ~1e-5.
FF_TOL = (1e-4, 1e-4)


def _t():
    import torch

    return torch


def _as(x, arr):
    """``arr`` as a tensor of x's framework (no grad)."""
    if isinstance(x, cr.Tensor):
        return cr.tensor(arr)
    return _t().from_numpy(np.ascontiguousarray(arr))


# --- scaled dot-product attention ---

QKV = (((2, 3, 4), (2, 5, 4), (2, 5, 3)), ((1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 3, 2)),
       ((3, 4), (5, 4), (5, 2)), ((2, 1, 3, 4), (1, 2, 5, 4), (1, 2, 5, 3)))
QKV_BIG = ((4, 4, 32, 16), (4, 4, 40, 16), (4, 4, 40, 16))


def _keep(L, S, full_row=True):  # noqa: N803
    """A fixed bool mask (True = take part); with ``full_row`` query 1 of 3+ sees no key."""
    m = np.random.default_rng(L * 100 + S).random((L, S)) > 0.4
    m[:, 0] = True
    if L >= 3 and full_row:
        m[1] = False
    return m


def _sdpa_mask(lib):
    def fn(q, k, v):
        mask = _as(q, _keep(q.shape[-2], k.shape[-2]))
        return lib(q, k, v, attn_mask=mask)

    return fn


def _seeded(fn):
    """Run ``fn`` with the default generator seeded at 1234, leaving the global stream alone."""
    state = default_generator.get_state()
    default_generator.manual_seed(1234)
    try:
        return fn()
    finally:
        default_generator.set_state(state)


def _sdpa_dropout(q, k, v):
    return _seeded(lambda: F.scaled_dot_product_attention(q, k, v, dropout_p=0.3))


def _sdpa_dropout_t(q, k, v):
    torch = _t()
    dt = q.detach().numpy().dtype
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    shape = tuple(batch) + (q.shape[-2], k.shape[-2])
    mask = _seeded(lambda: do.dropout_mask(shape, 0.3, dt))
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1)
    return (w * torch.from_numpy(mask)) @ v


def _tf():
    import torch.nn.functional as tf

    return tf


# --- the multi-head pieces ---

H = 2


def _in_proj(chunks, batch_first):
    def fn(x, w, b):
        return at.InProjection.apply(x, w, b, chunks, H, batch_first)

    def torch_fn(x, w, b):
        y = x @ w.T + b
        a, n = x.shape[0], x.shape[1]
        y = y.reshape(a, n, chunks, H, -1)
        y = y.permute(2, 0, 3, 1, 4) if batch_first else y.permute(2, 1, 3, 0, 4)
        return tuple(y.unbind(0)) if chunks > 1 else y[0]

    return fn, torch_fn


def _head_attn(need_weights, batch_first, masked):
    def mask_of(q, k):
        # NOTE: no fully masked row: the weights path gives NaN there, like PyTorch's.
        return ~_keep(q.shape[-2], k.shape[-2], full_row=False) if masked else None

    def fn(q, k, v):
        scale = 1 / math.sqrt(q.shape[-1])
        return at.HeadAttention.apply(q, k, v, mask_of(q, k), None, scale, need_weights,
                                      batch_first)

    def torch_fn(q, k, v):
        torch = _t()
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        m = mask_of(q, k)
        if m is not None:
            s = s.masked_fill(torch.from_numpy(m), float("-inf"))
        w = torch.softmax(s, -1)
        o = w @ v
        n, h, L, d = o.shape  # noqa: N806
        o = o.permute(0, 2, 1, 3) if batch_first else o.permute(2, 0, 1, 3)
        o = o.reshape(o.shape[0], o.shape[1], h * d)
        return (o, w) if need_weights else o

    return fn, torch_fn


HEADS = (((2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 3)), ((1, 2, 4, 2), (1, 2, 4, 2), (1, 2, 4, 2)))
HEADS_BIG = ((4, 2, 32, 16), (4, 2, 32, 16), (4, 2, 32, 16))
PROJ = (((3, 2, 4), (12, 4), (12,)), ((1, 2, 4), (12, 4), (12,)))
PROJ_BIG = ((32, 8, 64), (192, 64), (192,))


def _spec_proj(name, chunks, batch_first):
    fn, tfn = _in_proj(chunks, batch_first)
    scale = chunks * 4
    cases = tuple(((a, n, e), (scale, e), (scale,)) for (a, n, e), _, _ in PROJ)
    big = (PROJ_BIG[0], (chunks * 64, 64), (chunks * 64,))
    return Spec(name=name, prims=(at.InProjection,), fn=fn, torch_fn=tfn, cases=cases, big=big,
                tol32=TOL)


def _spec_heads(name, need_weights, batch_first, masked):
    fn, tfn = _head_attn(need_weights, batch_first, masked)
    return Spec(name=name, prims=(at.HeadAttention,), fn=fn, torch_fn=tfn, cases=HEADS,
                big=HEADS_BIG, tol32=TOL)


SPECS: list[Spec] = [
    Spec(name="sdpa", prims=(at.ScaledDotProductAttention,),
         fn=lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
         torch_fn=lambda q, k, v: _tf().scaled_dot_product_attention(q, k, v),
         cases=QKV, big=QKV_BIG, gens=(normal,) * 3, tol32=TOL),
    Spec(name="sdpa_bool_mask", prims=(at.ScaledDotProductAttention,),
         fn=_sdpa_mask(F.scaled_dot_product_attention),
         torch_fn=_sdpa_mask(lambda *a, **k: _tf().scaled_dot_product_attention(*a, **k)),
         cases=QKV[:3], big=QKV_BIG, tol32=TOL),
    Spec(name="sdpa_float_mask", prims=(at.ScaledDotProductAttention,),
         fn=lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m),
         torch_fn=lambda q, k, v, m: _tf().scaled_dot_product_attention(q, k, v, m),
         cases=(((2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5)),
                ((1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 3, 2), (1, 1, 3, 3))),
         big=QKV_BIG + ((4, 1, 32, 40),), tol32=TOL),
    Spec(name="sdpa_causal", prims=(at.ScaledDotProductAttention,),
         fn=lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
         torch_fn=lambda q, k, v: _tf().scaled_dot_product_attention(q, k, v, is_causal=True),
         cases=QKV[:3], big=QKV_BIG, tol32=TOL),
    Spec(name="sdpa_scale", prims=(at.ScaledDotProductAttention,),
         fn=lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.7),
         torch_fn=lambda q, k, v: _tf().scaled_dot_product_attention(q, k, v, scale=0.7),
         cases=QKV[:2], big=QKV_BIG, tol32=TOL),
    Spec(name="sdpa_dropout_fixed_mask", prims=(at.ScaledDotProductAttention,),
         fn=_sdpa_dropout, torch_fn=_sdpa_dropout_t, cases=QKV[:2], big=QKV_BIG, tol32=TOL),
    _spec_proj("in_projection_packed", 3, False),
    _spec_proj("in_projection_batch_first", 1, True),
    _spec_proj("in_projection_kv", 2, True),
    _spec_heads("head_attention_weights", True, False, False),
    _spec_heads("head_attention_batch_first_masked", False, True, True),
    _spec_heads("head_attention_weights_masked_batch_first", True, True, True),
    Spec(name="feed_forward", prims=(ff.FeedForward,),
         fn=lambda x, w1, b1, w2, b2: ff.FeedForward.apply(x, w1, b1, w2, b2, False),
         torch_fn=lambda x, w1, b1, w2, b2: _t().relu(x @ w1.T + b1) @ w2.T + b2,
         cases=(((3, 4), (6, 4), (6,), (5, 6), (5,)), ((2, 3, 4), (5, 4), (5,), (4, 5), (4,)),
                ((4,), (3, 4), (3,), (2, 3), (2,))),
         big=((8, 32, 64), (256, 64), (256,), (64, 256), (64,)), tol32=FF_TOL),
    Spec(name="feed_forward_no_bias", prims=(ff.FeedForward,),
         fn=lambda x, w1, w2: ff.FeedForward.apply(x, w1, None, w2, None, False),
         torch_fn=lambda x, w1, w2: _t().relu(x @ w1.T) @ w2.T,
         cases=(((3, 4), (6, 4), (5, 6)),), big=((64, 64), (256, 64), (64, 256)), tol32=FF_TOL),
    Spec(name="feed_forward_residual", prims=(ff.FeedForward,),
         fn=lambda x, w1, b1, w2, b2: ff.FeedForward.apply(x, w1, b1, w2, b2, True),
         torch_fn=lambda x, w1, b1, w2, b2: x + _t().relu(x @ w1.T + b1) @ w2.T + b2,
         cases=(((3, 4), (6, 4), (6,), (4, 6), (4,)), ((2, 3, 4), (5, 4), (5,), (4, 5), (4,))),
         big=((8, 32, 64), (256, 64), (256,), (64, 256), (64,)), tol32=FF_TOL),
]
