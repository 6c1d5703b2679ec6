"""Attention primitives: scaled dot-product attention and the pieces of multi-head attention."""

# NOTE: attention is fused for speed: the scores, the mask, the softmax, dropout and the product
# with the values run on raw arrays in one forward that writes the (..., L, S) score tensor once
# and then updates it in place. The softmax is left unnormalised: with E = exp(S - m) (row max m,
# or none, see _scores_bounded), z = rowsum(E) and A = E * dropout,
#     O = (A V) / z                                  (the division on (L, D), not on (L, S)),
# and the backward works from E and 1 / z the same way (FlashAttention's r = rowsum(dO * O)):
#     dV = A^T (dO / z),   dP = (dO V^T) * dropout,   T = E * (dP - r),   r = rowsum(dO * O),
#     dQ = scale * (T K) / z,   dK = T^T (scale * Q / z),   dMask = T / z,
# which is the textbook dS = P * (dP - rowsum(dP * P)) with P = E / z
# (https://arxiv.org/abs/2205.14135, section 3.1 and appendix B.2).

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops import _threads
from chainrule.ops.dropout import dropout_mask
from chainrule.ops.linalg import linear
from chainrule.ops.shape import reshape, squeeze, unsqueeze
from chainrule.tensor import Tensor

# --- raw-array helpers ---


def _mT(x: np.ndarray) -> np.ndarray:  # noqa: N802
    return np.swapaxes(x, -1, -2)


@lru_cache(maxsize=16)
def _causal_mask(L: int, S: int) -> np.ndarray:  # noqa: N803
    """Bool (L, S), True above the diagonal: the positions a causal query may not see."""
    # NOTE: top-left aligned (query i sees keys 0..i), PyTorch's ``ones(L, S).tril()``.
    m = np.triu(np.ones((L, S), dtype=bool), 1)
    m.flags.writeable = False
    return m


# NOTE: |q . k| <= |q| |k| (Cauchy-Schwarz). When every score is within +-60, exp neither
# overflows (S * e^60 fits float32 for any realistic S) nor underflows to 0 (e^-60 ~ 1e-26),
# so the softmax may skip the row max (a slow reduction): the result is the same up to
# rounding. Float masks may hold huge finite values (-1e9 as "masked") and always shift.
_NO_SHIFT_BOUND = 60.0


def _scores_bounded(qs: np.ndarray, k: np.ndarray) -> bool:
    qn = np.vecdot(qs, qs).max(axis=-1, initial=0.0)
    kn = np.vecdot(k, k).max(axis=-1, initial=0.0)
    return bool(np.max(qn * kn, initial=0.0) < _NO_SHIFT_BOUND**2)


def _exp_rows_(s: np.ndarray, safe: bool, shift: bool) -> np.ndarray:
    """``s = exp(s - rowmax)`` in place (no max when ``shift`` is False); returns 1 / rowsum."""
    # NOTE: a row whose entries are all -inf (every key masked) gives NaN like the textbook
    # softmax, or, with ``safe``, zeros (PyTorch's scaled_dot_product_attention) whose gradient
    # is zero too.
    with np.errstate(invalid="ignore", divide="ignore"):  # NOTE: the NaN rows, quietly
        if shift:
            m = np.max(s, axis=-1, keepdims=True)
            if safe:
                np.copyto(m, 0.0, where=np.isneginf(m))
            s -= m
        np.exp(s, out=s)
        rz = np.einsum("...s->...", s)[..., None]
        if safe:
            np.copyto(rz, 1.0, where=rz == 0.0)
        np.reciprocal(rz, out=rz)
    return rz


def _rows(a: np.ndarray | None, idx, nd: int):
    """The rows ``idx`` of ``a``'s leading batch axis, or ``a`` itself when it broadcasts
    along that axis (or there is no batch axis: ``idx`` is ``...``)."""
    if a is None or idx is Ellipsis or a.ndim < nd or a.shape[0] == 1:
        return a
    return a[idx]


def _by_batch(batch: tuple[int, ...], row_bytes: int, work) -> None:
    """``work(idx)`` over chunks ``idx`` of the leading batch axis, on a few threads."""
    # NOTE: batches of heads are independent: chunks of about a megabyte of scores stay in
    # cache between the matmuls and the softmax and run on all cores (NumPy's BLAS calls and
    # ufuncs release the GIL); without a batch axis the whole problem is one chunk.
    if not batch:
        work(...)
        return
    _threads._chunked(batch[0], row_bytes, lambda lo, hi, slot: work(slice(lo, hi)))


def _attend(ctx, q, k, v, mask, drop, scale, safe, out=None, weights=False):
    """O = softmax(scale * q k^T + mask) * drop @ v on raw arrays; saves what backward needs.

    ``mask`` is None, a bool array (True = excluded from attention) or a float array (added);
    ``drop`` is None or an inverted-dropout mask of the score's shape. Returns O and, with
    ``weights``, the (dropped-out) attention weights.
    """
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2],
                                () if mask is None else mask.shape[:-2])
    L, S, nd = q.shape[-2], k.shape[-2], len(batch) + 2  # noqa: N806
    e = np.empty(batch + (L, S), q.dtype)
    rz = np.empty(batch + (L, 1), q.dtype)
    o = np.empty(batch + (L, v.shape[-1]), q.dtype) if out is None else out
    w = np.empty(e.shape, q.dtype) if weights else None

    def work(idx):
        qs, kc, ec = _rows(q, idx, nd) * scale, _rows(k, idx, nd), e[idx]
        if np.broadcast_shapes(qs.shape[:-2], kc.shape[:-2]) == ec.shape[:-2]:
            np.matmul(qs, _mT(kc), out=ec)
        else:  # NOTE: only when v or the mask carry more batch dims than q and k
            ec[...] = np.matmul(qs, _mT(kc))
        m = _rows(mask, idx, nd)
        shift = True
        if m is None or m.dtype == np.bool_:
            shift = not _scores_bounded(qs, kc)
            if m is not None:
                np.copyto(ec, -np.inf, where=m)
        else:
            ec += m
        rzc = rz[idx]
        rzc[...] = _exp_rows_(ec, safe, shift)
        a = ec if drop is None else ec * _rows(drop, idx, nd)
        with np.errstate(invalid="ignore"):  # NOTE: 0 * inf in the NaN rows of the unsafe form
            oc = o[idx]
            np.matmul(a, _rows(v, idx, nd), out=oc)
            oc *= rzc
            if weights:
                np.multiply(a, rzc, out=w[idx])

    _by_batch(batch, math.prod(batch[1:]) * L * S * q.itemsize, work)
    # NOTE: O is saved for backward (r = rowsum(dO * O)); writing into the output in place
    # before backward would change the gradient.
    ctx.q, ctx.k, ctx.v, ctx.e, ctx.rz, ctx.o = q, k, v, e, rz, o
    ctx.drop, ctx.mask_ndim, ctx.scale = drop, nd, scale
    return (o, w) if weights else o


def _attend_backward(ctx, go, gw=None):
    """(dq, dk, dv, dmask) of :func:`_attend` for the output gradient ``go`` (and ``gw``, the
    gradient of the returned weights); the gradients have the full batch shape (the engine
    sums broadcast dims back)."""
    nq, nk, nv, nm = ctx.needs_input_grad[:4]
    e, rz, drop, q, k, v, nd = ctx.e, ctx.rz, ctx.drop, ctx.q, ctx.k, ctx.v, ctx.mask_ndim
    batch = e.shape[:-2]
    dq = np.empty(batch + q.shape[-2:], q.dtype) if nq else None
    dk = np.empty(batch + k.shape[-2:], k.dtype) if nk else None
    dv = np.empty(batch + v.shape[-2:], v.dtype) if nv else None
    dmask = np.empty(e.shape, e.dtype) if nm else None

    def work(idx):
        ec, rzc, goc, dc = e[idx], rz[idx], go[idx], _rows(drop, idx, nd)
        a = ec if dc is None else ec * dc
        if nv:
            np.matmul(_mT(a), goc * rzc, out=dv[idx])
        if not (nq or nk or nm):
            return
        t = np.matmul(goc, _mT(_rows(v, idx, nd)))
        if t.shape != ec.shape:
            t = np.array(np.broadcast_to(t, ec.shape))
        r = np.vecdot(goc, ctx.o[idx])[..., None]
        if gw is not None:
            gwc = gw[idx]
            t += gwc
            r += np.vecdot(gwc, a)[..., None] * rzc
        if dc is not None:
            t *= dc
        t -= r
        t *= ec
        if nq:
            dqc = dq[idx]
            np.matmul(t, _rows(k, idx, nd), out=dqc)
            dqc *= ctx.scale * rzc
        if nk:
            np.matmul(_mT(t), _rows(q, idx, nd) * (ctx.scale * rzc), out=dk[idx])
        if nm:
            np.multiply(t, rzc, out=dmask[idx])

    _by_batch(batch, math.prod(batch[1:]) * e.shape[-2] * e.shape[-1] * e.itemsize, work)
    return dq, dk, dv, dmask


# --- primitives ---


class ScaledDotProductAttention(Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, drop, scale):
        return _attend(ctx, q, k, v, mask, drop, scale, safe=True)

    @staticmethod
    def backward(ctx, grad):
        return (*_attend_backward(ctx, grad), None, None)


class InProjection(Function):
    # NOTE: fused for speed: x @ w.T + b as one GEMM for all of q, k, v (``chunks`` of them),
    # then one copy into head-major (chunks, N, H, L, D) layout so every per-head matmul runs
    # on contiguous blocks; the outputs are views of that one array.
    @staticmethod
    def forward(ctx, x, w, b, chunks, num_heads, batch_first):
        x2 = x.reshape(-1, x.shape[-1])
        a, n = x.shape[0], x.shape[1]
        d = w.shape[0] // (chunks * num_heads)
        y = np.matmul(x2, w.T).reshape(a, n, chunks, num_heads, d)
        y = y.transpose(2, 0, 3, 1, 4) if batch_first else y.transpose(2, 1, 3, 0, 4)
        heads = np.empty(y.shape, y.dtype)
        if b is None:
            np.copyto(heads, y)
        else:  # NOTE: the bias is added by the same pass that moves the heads into place
            np.add(y, b.reshape(chunks, 1, num_heads, 1, d), out=heads)
        ctx.x2, ctx.w, ctx.xshape, ctx.batch_first = x2, w, x.shape, batch_first
        return tuple(heads) if chunks > 1 else heads[0]

    @staticmethod
    def backward(ctx, *grads):
        nx, nw, nb = ctx.needs_input_grad[:3]
        a, n = ctx.xshape[0], ctx.xshape[1]
        _, h, _, d = grads[0].shape
        gy = np.empty((a, n, len(grads), h, d), grads[0].dtype)
        for i, g in enumerate(grads):
            gy[:, :, i] = g.transpose(0, 2, 1, 3) if ctx.batch_first else g.transpose(2, 0, 1, 3)
        gy2 = gy.reshape(a * n, -1)
        gx = np.matmul(gy2, ctx.w).reshape(ctx.xshape) if nx else None
        gw = np.matmul(gy2.T, ctx.x2) if nw else None
        gb = gy2.sum(axis=0) if nb else None
        return gx, gw, gb, None, None, None


class HeadAttention(Function):
    # NOTE: fused for speed: attention over (N, H, L, D) heads whose output is written straight
    # into the merged (N, L, H * D) (or (L, N, H * D)) layout the output projection reads, and
    # which can also return the attention weights (N, H, L, S).
    @staticmethod
    def forward(ctx, q, k, v, mask, drop, scale, need_weights, batch_first):
        nb, h, L = q.shape[:3]  # noqa: N806
        d = v.shape[-1]
        merged = np.empty((nb, L, h, d) if batch_first else (L, nb, h, d), q.dtype)
        view = merged.transpose(0, 2, 1, 3) if batch_first else merged.transpose(1, 2, 0, 3)
        out = _attend(ctx, q, k, v, mask, drop, scale, safe=not need_weights, out=view,
                      weights=need_weights)
        ctx.batch_first = batch_first
        merged = merged.reshape(merged.shape[0], merged.shape[1], h * d)
        return (merged, out[1]) if need_weights else merged

    @staticmethod
    def backward(ctx, grad, gw=None):
        h, d = ctx.q.shape[1], ctx.v.shape[-1]
        g = grad.reshape(grad.shape[0], grad.shape[1], h, d)
        g = np.ascontiguousarray(g.transpose(0, 2, 1, 3) if ctx.batch_first
                                 else g.transpose(1, 2, 0, 3))
        return (*_attend_backward(ctx, g, gw), None, None, None, None)


# --- public functions ---


def _check_float(op: str, **tensors) -> np.dtype:
    dtypes = set()
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(t).__name__}")
        if t.dtype.kind != "f":
            raise TypeError(f"{op}: expected a floating-point {name}, got {t.dtype}")
        dtypes.add(t.dtype)
    if len(dtypes) > 1:
        got = ", ".join(f"{n} {t.dtype}" for n, t in tensors.items())
        raise RuntimeError(f"{op}: expected query, key and value of one dtype, got {got}")
    return dtypes.pop()


def _check_dropout(op: str, p) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    return p


def _drop(shape: tuple[int, ...], p: float, dtype) -> np.ndarray | None:
    if p == 0.0:
        return None
    # NOTE: p == 1 drops every weight (the output is 0), as in PyTorch.
    return np.zeros(shape, dtype) if p == 1.0 else dropout_mask(shape, p, dtype)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """``softmax(query @ key^T * scale + mask) @ value``, with dropout on the weights.

    Args:
        query: (..., L, E); key: (..., S, E); value: (..., S, Ev). Leading dims broadcast.
        attn_mask: a bool mask (True = the position takes part) or a float mask added to the
            scores, broadcastable to (..., L, S).
        dropout_p: dropout probability on the attention weights (always applied when > 0).
        is_causal: mask position j > i for query i (top-left aligned); excludes ``attn_mask``.
        scale: the score scale (default ``1 / sqrt(E)``).
        enable_gqa: let query have a multiple of key's and value's heads (dim -3).

    Returns the (..., L, Ev) output. A query whose keys are all masked gets zeros.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> q = k = v = chainrule.randn(2, 4, 5, 8)
    >>> F.scaled_dot_product_attention(q, k, v, is_causal=True).shape
    (2, 4, 5, 8)
    """
    op = "scaled_dot_product_attention"
    dtype = _check_float(op, query=query, key=key, value=value)
    p = _check_dropout(op, dropout_p)
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError(f"{op}: expected query, key and value of at least 2 dims, got "
                           f"shapes {query.shape}, {key.shape} and {value.shape}")
    L, E = query.shape[-2:]  # noqa: N806
    S = key.shape[-2]  # noqa: N806
    if key.shape[-1] != E or value.shape[-2] != S:
        raise RuntimeError(f"{op}: query {query.shape}, key {key.shape} and value {value.shape} "
                           "do not fit (expected (..., L, E), (..., S, E) and (..., S, Ev))")
    mask = None
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError(f"{op}: explicit attn_mask should not be set when is_causal=True")
        mask = _causal_mask(L, S)
    elif attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            raise TypeError(f"{op}: attn_mask must be a Tensor, got {type(attn_mask).__name__}")
        if attn_mask.dtype == np.bool_:
            mask = ~attn_mask._data
        elif attn_mask.dtype == dtype:
            mask = attn_mask
        else:
            raise TypeError(f"{op}: expected a bool attn_mask or one of the query's dtype "
                            f"{dtype}, got {attn_mask.dtype}")
        try:
            np.broadcast_shapes(tuple(attn_mask.shape), query.shape[:-2] + (L, S))
        except ValueError:
            raise RuntimeError(f"{op}: attn_mask of shape {tuple(attn_mask.shape)} does not "
                               f"broadcast to the scores' shape (..., {L}, {S})") from None
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    heads = None
    if enable_gqa and query.ndim >= 3 and query.shape[-3] != key.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hk == 0 or hq % hk or value.shape[-3] != hk:
            raise RuntimeError(f"{op}: with enable_gqa the query's heads ({hq}) must be a "
                               f"multiple of the key's and value's heads ({hk}, "
                               f"{value.shape[-3]})")
        # NOTE: query head j uses key/value head j // (hq / hk), PyTorch's repeat_interleave.
        heads = query.shape[:-3] + (hq,)
        query = reshape(query, query.shape[:-3] + (hk, hq // hk, L, E))
        key, value = unsqueeze(key, -3), unsqueeze(value, -3)
        if mask is not None and np.ndim(mask) >= 3:
            m = mask
            if m.shape[-3] == hq:
                shape = m.shape[:-3] + (hk, hq // hk, L, S)
                mask = m.reshape(shape) if isinstance(m, np.ndarray) else reshape(m, shape)
            else:
                mask = m[..., None, :, :] if isinstance(m, np.ndarray) else unsqueeze(m, -3)
    batch = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2],
                                () if mask is None else tuple(mask.shape[:-2]))
    drop = _drop(batch + (L, S), p, dtype)
    out = ScaledDotProductAttention.apply(query, key, value, mask, drop, scale)
    if heads is not None:
        out = reshape(out, out.shape[:-4] + (heads[-1],) + out.shape[-2:])
    return out


# --- multi-head attention ---


def _float_mask(m: Tensor | np.ndarray, dtype) -> Tensor:
    """A bool mask (True = ignore) as an additive float mask; float masks pass through."""
    if isinstance(m, np.ndarray):
        return Tensor._wrap(np.where(m, -np.inf, 0.0).astype(dtype))
    return m


def _merge_masks(op: str, attn_mask, key_padding_mask, n: int, h: int, L: int, S: int,  # noqa: N803
                 dtype):
    """One mask broadcastable to (N, H, L, S): bool (True = ignore) or float (added)."""
    masks = []
    for name, m in (("attn_mask", attn_mask), ("key_padding_mask", key_padding_mask)):
        if m is None:
            continue
        if not isinstance(m, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(m).__name__}")
        if m.dtype != np.bool_ and m.dtype.kind != "f":
            raise TypeError(f"{op}: only bool and floating types of {name} are supported, "
                            f"got {m.dtype}")
        if name == "attn_mask":
            if m.ndim == 2:
                if tuple(m.shape) != (L, S):
                    raise RuntimeError(f"{op}: the shape of the 2D attn_mask is "
                                       f"{tuple(m.shape)}, but should be {(L, S)}")
            elif m.ndim == 3:
                if tuple(m.shape) != (n * h, L, S):
                    raise RuntimeError(f"{op}: the shape of the 3D attn_mask is "
                                       f"{tuple(m.shape)}, but should be {(n * h, L, S)}")
                m = reshape(m, (n, h, L, S))
            else:
                raise RuntimeError(f"{op}: attn_mask's dimension {m.ndim} is not supported "
                                   "(expected 2 or 3)")
        else:
            if tuple(m.shape) != (n, S):
                raise RuntimeError(f"{op}: expected key_padding_mask of shape {(n, S)}, got "
                                   f"{tuple(m.shape)}")
            m = reshape(m, (n, 1, 1, S))
        if m.dtype == np.bool_:
            masks.append(m._data)
        elif m.dtype != dtype:
            masks.append(m.to(dtype))
        else:
            masks.append(m)
    if not masks:
        return None
    if len(masks) == 1:
        return masks[0]
    a, b = masks
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a | b
    return _float_mask(a, dtype) + _float_mask(b, dtype)


def _mha(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
         out_proj_bias, dropout_p, training, key_padding_mask, need_weights, attn_mask,
         q_proj_weight, k_proj_weight, v_proj_weight, average_attn_weights, is_causal,
         batch_first):
    """Multi-head attention on (L, N, E) inputs, or (N, L, E) with ``batch_first``."""
    op = "multi_head_attention_forward"
    dtype = _check_float(op, query=query, key=key, value=value)
    p = _check_dropout(op, dropout_p) if training else 0.0
    unbatched = query.ndim == 2
    if unbatched:
        if key.ndim != 2 or value.ndim != 2:
            raise RuntimeError(f"{op}: for unbatched (2-D) query, expected key and value to be "
                               f"2-D, got {key.ndim}-D and {value.ndim}-D tensors")
        if key_padding_mask is not None:
            if key_padding_mask.ndim != 1:
                raise RuntimeError(f"{op}: for unbatched (2-D) query, expected "
                                   f"key_padding_mask to be None or 1-D, got "
                                   f"{key_padding_mask.ndim}-D")
            key_padding_mask = unsqueeze(key_padding_mask, 0)
        axis = 0 if batch_first else 1
        same_qk, same_kv = query is key, key is value  # NOTE: keeps the packed projection
        query = unsqueeze(query, axis)
        key = query if same_qk else unsqueeze(key, axis)
        value = key if same_kv else unsqueeze(value, axis)
    elif query.ndim != 3 or key.ndim != 3 or value.ndim != 3:
        raise RuntimeError(f"{op}: expected query, key and value of 3 dims (or 2 unbatched), "
                           f"got shapes {query.shape}, {key.shape} and {value.shape}")
    if batch_first:
        n, L, e = query.shape  # noqa: N806
        S = key.shape[1]  # noqa: N806
        ok = key.shape[0] == n and value.shape[:2] == (n, S)
    else:
        L, n, e = query.shape  # noqa: N806
        S = key.shape[0]  # noqa: N806
        ok = key.shape[1] == n and value.shape[:2] == (S, n)
    if not ok:
        raise RuntimeError(f"{op}: key {key.shape} and value {value.shape} do not match query "
                           f"{query.shape} (expected the same batch size and key/value length)")
    if e != out_proj_weight.shape[1] or e % num_heads:
        raise RuntimeError(f"{op}: query of shape {query.shape} does not fit embed_dim "
                           f"{out_proj_weight.shape[1]} split into {num_heads} heads")
    kw = k_proj_weight if q_proj_weight is not None else in_proj_weight
    vw = v_proj_weight if q_proj_weight is not None else in_proj_weight
    if key.shape[-1] != kw.shape[1] or value.shape[-1] != vw.shape[1]:
        raise RuntimeError(f"{op}: key of shape {key.shape} and value of shape {value.shape} "
                           f"do not fit kdim={kw.shape[1]} and vdim={vw.shape[1]}")
    d = e // num_heads

    if is_causal and attn_mask is None:
        raise RuntimeError(f"{op}: need attn_mask if specifying the is_causal hint (you may use "
                           "the Transformer module's generate_square_subsequent_mask)")
    if is_causal and key_padding_mask is None and not need_weights:
        mask = _causal_mask(L, S)  # NOTE: is_causal is a hint that attn_mask is causal
    else:
        mask = _merge_masks(op, attn_mask, key_padding_mask, n, num_heads, L, S, dtype)

    # in-projection: one GEMM for all of q, k and v when they are one tensor
    args = (num_heads, batch_first)
    if q_proj_weight is None:
        w, b = in_proj_weight, in_proj_bias
        if query is key and key is value:
            q, k, v = InProjection.apply(query, w, b, 3, *args)
        else:
            bq, bkv = (None, None) if b is None else (b[:e], b[e:])
            q = InProjection.apply(query, w[:e], bq, 1, *args)
            if key is value:
                k, v = InProjection.apply(key, w[e:], bkv, 2, *args)
            else:
                k = InProjection.apply(key, w[e:2 * e], None if b is None else b[e:2 * e], 1,
                                       *args)
                v = InProjection.apply(value, w[2 * e:], None if b is None else b[2 * e:], 1,
                                       *args)
    else:
        b = in_proj_bias
        bq, bk, bv = (None,) * 3 if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        q = InProjection.apply(query, q_proj_weight, bq, 1, *args)
        k = InProjection.apply(key, k_proj_weight, bk, 1, *args)
        v = InProjection.apply(value, v_proj_weight, bv, 1, *args)

    drop = _drop((n, num_heads, L, S), p, dtype)
    out = HeadAttention.apply(q, k, v, mask, drop, 1.0 / math.sqrt(d), bool(need_weights),
                              batch_first)
    weights = None
    if need_weights:
        out, weights = out
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if unbatched:
            weights = squeeze(weights, 0)
    out = linear(out, out_proj_weight, out_proj_bias)
    if unbatched:
        out = squeeze(out, 0 if batch_first else 1)
    return out, weights


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p,
                                 out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """Multi-head attention on (L, N, E) query and (S, N, E) key and value (PyTorch's
    functional form of :class:`chainrule.nn.MultiheadAttention`).

    Bool masks mark the positions to ignore (True); float masks are added to the scores.
    Returns ``(output, weights)``: output (L, N, E); weights (N, L, S) averaged over heads,
    (N, num_heads, L, S) with ``average_attn_weights=False``, or None without
    ``need_weights``. ``bias_k``, ``bias_v``, ``add_zero_attn`` and ``static_k``/``static_v``
    are not supported.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> x = chainrule.randn(5, 2, 8)
    >>> w, wo = chainrule.randn(24, 8), chainrule.randn(8, 8)
    >>> out, attn = F.multi_head_attention_forward(x, x, x, 8, 2, w, None, None, None, False,
    ...                                            0.0, wo, None)
    >>> out.shape, attn.shape
    ((5, 2, 8), (2, 5, 5))
    """
    op = "multi_head_attention_forward"
    if bias_k is not None or bias_v is not None or add_zero_attn:
        raise NotImplementedError(f"{op}: bias_k/bias_v (add_bias_kv) and add_zero_attn are not "
                                  "supported by chainrule")
    if static_k is not None or static_v is not None:
        raise NotImplementedError(f"{op}: static_k and static_v are not supported by chainrule")
    if query.shape[-1] != embed_dim_to_check:
        raise RuntimeError(f"{op}: was expecting embedding dimension of {embed_dim_to_check}, "
                           f"but got {query.shape[-1]} (query of shape {query.shape})")
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise RuntimeError(f"{op}: use_separate_proj_weight is True but q_proj_weight, "
                               "k_proj_weight or v_proj_weight is None")
    else:
        if in_proj_weight is None:
            raise RuntimeError(f"{op}: use_separate_proj_weight is False but in_proj_weight is "
                               "None")
        q_proj_weight = k_proj_weight = v_proj_weight = None
    return _mha(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                out_proj_bias, dropout_p, training, key_padding_mask, need_weights, attn_mask,
                q_proj_weight, k_proj_weight, v_proj_weight, average_attn_weights, is_causal,
                batch_first=False)
