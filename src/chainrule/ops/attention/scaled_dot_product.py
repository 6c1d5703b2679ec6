"""Scaled dot-product attention: the fused kernel on raw arrays, its primitive and
``scaled_dot_product_attention``."""

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

from chainrule import _jit
from chainrule.autograd.function import Function
from chainrule.ops import _threads
from chainrule.ops.attention import _kernels
from chainrule.ops.dropout import dropout_mask
from chainrule.ops.shape import reshape, unsqueeze
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
    if (_jit.enabled(qs.dtype) and qs.dtype == k.dtype
            and qs.flags.c_contiguous and k.flags.c_contiguous):
        # NOTE: compiled, one pass over each (NumPy's vecdot over rows of 32 values is slow
        # per row): (4, 4, 128, 32) q and k, 120 -> ~20 us. A bound over the whole chunk
        # rather than per head: more conservative, as correct.
        qn = _kernels.max_row_norm2(qs.reshape(-1, qs.shape[-1]))
        kn = _kernels.max_row_norm2(k.reshape(-1, k.shape[-1]))
        return bool(qn * kn < _NO_SHIFT_BOUND**2)
    qn = np.vecdot(qs, qs).max(axis=-1, initial=0.0)
    kn = np.vecdot(k, k).max(axis=-1, initial=0.0)
    return bool(np.max(qn * kn, initial=0.0) < _NO_SHIFT_BOUND**2)


def _exp_rows_(s: np.ndarray, safe: bool, shift: bool, normalize: bool = False):
    """``s = exp(s - rowmax)`` in place (no max when ``shift`` is False); returns 1 / rowsum,
    or with ``normalize`` (a compiled kernel) divides the rows by their sums (the softmax)."""
    # NOTE: a row whose entries are all -inf (every key masked) gives NaN like the textbook
    # softmax, or, with ``safe``, zeros (PyTorch's scaled_dot_product_attention) whose gradient
    # is zero too.
    with np.errstate(invalid="ignore", divide="ignore"):  # NOTE: the NaN rows, quietly
        if shift:
            m = np.max(s, axis=-1, keepdims=True)
            if safe:
                np.copyto(m, 0.0, where=np.isneginf(m))
            s -= m
        # NOTE: NumPy's exp is vectorised (numba's is a scalar libm call, ~10x slower)
        np.exp(s, out=s)
        if normalize:
            _kernels.normalize_rows_(s.reshape(-1, s.shape[-1]), safe)
            return None
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


def _per_thread(rows: int, row_bytes: int, work) -> None:
    """``work(lo, hi, part)`` over ``[0, rows)`` in one part per thread (``_threads._THREADS``
    parts)."""
    # NOTE: one part per thread, not cache-sized chunks, for work that is mostly GEMMs: on
    # smaller blocks of rows the GEMMs lose more speed (measured on the feed-forward block: 6
    # chunks of 340 rows cost 10% more CPU than one block) than the elementwise passes gain.
    parts = _threads._THREADS

    def run(a, b, slot):
        for part in range(a, b):
            lo, hi = rows * part // parts, rows * (part + 1) // parts
            if lo < hi:  # NOTE: a part with no rows leaves its partial sums at zero
                work(lo, hi, part)

    _threads._each(parts, run, parallel=rows * row_bytes >= _threads._PARALLEL_BYTES)


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
    # NOTE: with the compiled kernels the scores hold the normalised softmax P and no 1 / z
    # is kept: the row sums and the division are one pass in cache ((2048, 128) float32:
    # 190 -> 57 us), and the forward and backward skip the passes that scale by 1 / z
    # (O *= 1 / z alone cost ~140 us per (4, 4, 128, 32) chunk, written into a strided view).
    fast = _jit.enabled(q.dtype) and S > 0
    rz = None if fast else np.empty(batch + (L, 1), q.dtype)
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
        if fast:  # NOTE: the softmax normalised in place, P = E / z, by one compiled pass
            _exp_rows_(ec, safe, shift, normalize=True)
            a = ec if drop is None else ec * _rows(drop, idx, nd)
            np.matmul(a, _rows(v, idx, nd), out=o[idx])
            if weights:
                np.copyto(w[idx], a)
            return
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
    ctx.drop, ctx.mask_ndim, ctx.scale, ctx.normalized = drop, nd, scale, fast
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

    if ctx.normalized:
        _softmax_backward(ctx, go, gw, dq, dk, dv, dmask)
        return dq, dk, dv, dmask

    def work(idx):
        ec, rzc, goc, dc = e[idx], rz[idx], np.ascontiguousarray(go[idx]), _rows(drop, idx, nd)
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


def _softmax_backward(ctx, go, gw, dq, dk, dv, dmask) -> None:
    """:func:`_attend_backward` when the forward saved the normalised softmax P (the compiled
    path): dV = A^T dO, dP = (dO V^T + dW) * dropout, dS = P * (dP - r) with
    r = rowsum(dO * O) + rowsum(dW * A), dQ = scale * dS K, dK = dS^T (scale * Q), dMask = dS."""
    p, drop, q, k, v, nd, scale = ctx.e, ctx.drop, ctx.q, ctx.k, ctx.v, ctx.mask_ndim, ctx.scale
    batch, S = p.shape[:-2], p.shape[-1]  # noqa: N806
    fast = _jit.enabled()

    def work(idx):
        pc, goc, dc = p[idx], go[idx], _rows(drop, idx, nd)
        a = pc if dc is None else pc * dc
        if dv is not None:
            np.matmul(_mT(a), goc, out=dv[idx])
        if dq is None and dk is None and dmask is None:
            return
        t = np.matmul(goc, _mT(_rows(v, idx, nd)))
        if t.shape != pc.shape:
            t = np.array(np.broadcast_to(t, pc.shape))
        r = np.vecdot(goc, ctx.o[idx])
        if gw is not None:
            gwc = gw[idx]
            t += gwc
            r += np.vecdot(gwc, a)
        if fast:  # NOTE: one compiled pass for the three NumPy passes below
            dd = np.empty((0, 0), p.dtype) if dc is None else np.ascontiguousarray(dc)
            _kernels.softmax_backward_rows_(t.reshape(-1, S), pc.reshape(-1, S),
                                            dd.reshape(-1, S), r.reshape(-1))
        else:
            if dc is not None:
                t *= dc
            t -= r[..., None]
            t *= pc
        if dq is not None:
            dqc = dq[idx]
            np.matmul(t, _rows(k, idx, nd), out=dqc)
            dqc *= scale
        if dk is not None:
            np.matmul(_mT(t), _rows(q, idx, nd) * scale, out=dk[idx])
        if dmask is not None:
            np.copyto(dmask[idx], t)

    _by_batch(batch, math.prod(batch[1:]) * p.shape[-2] * S * p.itemsize, work)


# --- primitives ---


class ScaledDotProductAttention(Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, drop, scale):
        return _attend(ctx, q, k, v, mask, drop, scale, safe=True)

    @staticmethod
    def backward(ctx, grad):
        return (*_attend_backward(ctx, grad), None, None)


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
