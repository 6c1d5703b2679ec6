"""Multi-head attention: the packed input projection, attention over heads written straight
into the merged layout, the masks, and ``multi_head_attention_forward``."""

from __future__ import annotations

import math

import numpy as np

from chainrule import _mkl
from chainrule.autograd.function import Function
from chainrule.ops import _threads
from chainrule.ops.attention.scaled_dot_product import (
    _attend,
    _attend_backward,
    _causal_mask,
    _check_dropout,
    _check_float,
    _drop,
    _per_thread,
)
from chainrule.ops.linalg import linear
from chainrule.ops.shape import reshape, squeeze, unsqueeze
from chainrule.tensor import Tensor

# --- primitives ---


class InProjection(Function):
    # NOTE: fused for speed: x @ w.T + b as one GEMM for all of q, k, v (``chunks`` of them),
    # copied into head-major (chunks, N, H, L, D) layout so every per-head matmul runs on
    # contiguous blocks; the outputs are views of that one array. The rows of x are split over
    # a few threads (along x's first axis, whose rows are contiguous in either layout), each
    # running its own GEMM and copy while the result is in cache; the weight gradient is one
    # partial sum per part. No GEMM is left to OpenBLAS's threads, which spin on a busy machine;
    # MKL runs them when available (see feedforward.py for the measured gain).
    @staticmethod
    def forward(ctx, x, w, b, chunks, num_heads, batch_first):
        x2 = x.reshape(-1, x.shape[-1])
        a, n = x.shape[0], x.shape[1]
        d = w.shape[0] // (chunks * num_heads)
        nb, L = (a, n) if batch_first else (n, a)  # noqa: N806
        heads = np.empty((chunks, nb, num_heads, L, d), x.dtype)
        bias = None if b is None else b.reshape(chunks, 1, num_heads, 1, d)

        def work(lo, hi, part):
            y = _mkl.matmul(x2[lo * n:hi * n], w.T).reshape(hi - lo, n, chunks, num_heads, d)
            if batch_first:
                y, dst = y.transpose(2, 0, 3, 1, 4), heads[:, lo:hi]
            else:
                y, dst = y.transpose(2, 1, 3, 0, 4), heads[:, :, :, lo:hi]
            if bias is None:
                np.copyto(dst, y)
            else:  # NOTE: the bias is added by the same pass that moves the heads into place
                np.add(y, bias, out=dst)

        _per_thread(a, n * (x2.shape[1] + 2 * w.shape[0]) * x.itemsize, work)
        ctx.x2, ctx.w, ctx.xshape, ctx.batch_first = x2, w, x.shape, batch_first
        return tuple(heads) if chunks > 1 else heads[0]

    @staticmethod
    def backward(ctx, *grads):
        nx, nw, nb = ctx.needs_input_grad[:3]
        x2, w, batch_first = ctx.x2, ctx.w, ctx.batch_first
        a, n = ctx.xshape[0], ctx.xshape[1]
        parts = _threads._THREADS
        gx = np.empty(x2.shape, x2.dtype) if nx else None
        gw = np.zeros((parts,) + w.shape, w.dtype)
        gb = np.zeros((parts, w.shape[0]), w.dtype)
        _, h, _, d = grads[0].shape

        def work(lo, hi, part):
            gy = np.empty((hi - lo, n, len(grads), h, d), grads[0].dtype)
            # (N, H, L, D) gradients seen in gy's layout: (N, L, H, D) or (L, N, H, D)
            if batch_first:
                gyt, src = gy.transpose(2, 0, 3, 1, 4), [g[lo:hi] for g in grads]
            else:
                gyt, src = gy.transpose(2, 1, 3, 0, 4), [g[:, :, lo:hi] for g in grads]
            for i, g in enumerate(src):
                np.copyto(gyt[i], g)
            gy2 = gy.reshape((hi - lo) * n, -1)
            if nx:
                _mkl.matmul(gy2, w, out=gx[lo * n:hi * n])
            if nw:
                _mkl.matmul(gy2.T, x2[lo * n:hi * n], out=gw[part])
            if nb:
                # NOTE: the column sums as a vector-matrix product: BLAS reads the rows once,
                # faster than NumPy's sum over axis 0.
                np.matmul(np.ones(len(gy2), gy2.dtype), gy2, out=gb[part])

        _per_thread(a, n * (2 * x2.shape[1] + 2 * w.shape[0]) * x2.itemsize, work)
        return (gx.reshape(ctx.xshape) if nx else None, gw.sum(axis=0) if nw else None,
                gb.sum(axis=0) if nb else None, None, None, None)


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
        # NOTE: a strided view; the kernel copies its chunks contiguous where they are used
        g = g.transpose(0, 2, 1, 3) if ctx.batch_first else g.transpose(1, 2, 0, 3)
        return (*_attend_backward(ctx, g, gw), None, None, None, None)


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
    w, b = in_proj_weight, in_proj_bias
    if q_proj_weight is None and query is key and key is value:
        q, k, v = InProjection.apply(query, w, b, 3, *args)
    elif q_proj_weight is None and key is value:
        bq, bkv = (None, None) if b is None else (b[:e], b[e:])
        q = InProjection.apply(query, w[:e], bq, 1, *args)
        k, v = InProjection.apply(key, w[e:], bkv, 2, *args)
    else:
        ws = ((q_proj_weight, k_proj_weight, v_proj_weight) if q_proj_weight is not None
              else (w[:e], w[e:2 * e], w[2 * e:]))
        bs = (None,) * 3 if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        q, k, v = (InProjection.apply(t, wt, bt, 1, *args)
                   for t, wt, bt in zip((query, key, value), ws, bs, strict=True))

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
