"""Normalisation primitives: batch, layer and group norm, each fused with its backward."""

# NOTE: all three are fused for speed (one pass per statistic, closed-form backward instead of
# a graph of a dozen elementwise nodes) and for numerical care (two-pass variance of the
# centred input, never E[x^2] - E[x]^2). The backward is the standard one for
# ``xhat = (x - mean) * invstd`` over a group of ``m`` values:
#     dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
# (Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167).

from __future__ import annotations

import math

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops import _norm_kernels, _threads

# --- helpers on raw arrays ---


def _per_channel(v: np.ndarray, length: int) -> np.ndarray:
    """A per-channel vector laid out to broadcast against an (N, C * L) view of (N, C, L)."""
    # NOTE: NumPy broadcasts a row (contiguous, stride 1 inside the inner loop) faster than a
    # column (stride 0 inside it); repeating C values L times costs C * L, not N * C * L.
    return v if length == 1 else np.repeat(v, length)


def _channel_sum(a3: np.ndarray) -> np.ndarray:
    """Sum over axes 0 and 2 of (N, C, L)."""
    # NOTE: einsum's summation loop is about twice as fast as ndarray.sum over two axes here.
    return np.einsum("ncl->c", a3)


def _channel_dot(a3: np.ndarray, b3: np.ndarray) -> np.ndarray:
    """sum(a * b) over axes 0 and 2 of two (N, C, L) arrays, without an (N, C, L) temporary."""
    if a3.shape[2] == 1:
        return np.einsum("nc,nc->c", a3[:, :, 0], b3[:, :, 0])
    return np.vecdot(a3, b3).sum(axis=0)


def _row_dot(a2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """sum(a * b) along the rows of two (R, K) arrays."""
    return np.einsum("rk,rk->r", a2, b2)


def _normalize_rows(x2: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(xhat, invstd) for each row of (R, K), with the biased variance."""
    k = x2.shape[1]
    xhat = x2 - (np.einsum("rk->r", x2) / k)[:, None]
    invstd = _row_dot(xhat, xhat)
    invstd /= k
    invstd += eps
    np.sqrt(invstd, out=invstd)
    np.divide(1.0, invstd, out=invstd)
    xhat *= invstd[:, None]
    return xhat, invstd


def _rows_backward(gxhat: np.ndarray, xhat: np.ndarray, invstd: np.ndarray) -> np.ndarray:
    """dx from dxhat for xhat = normalize(x) along the rows of (R, K)."""
    k = xhat.shape[1]
    gx = np.multiply(xhat, (_row_dot(gxhat, xhat) / -k)[:, None])
    gx += gxhat
    gx -= (np.einsum("rk->r", gxhat) / k)[:, None]
    gx *= invstd[:, None]
    return gx


# --- batch norm ---


class BatchNorm(Function):
    # NOTE: statistics per channel (axis 1) over the batch and every spatial position. In
    # training the batch's biased variance normalises, and the running variance is updated with
    # the unbiased one (PyTorch's convention); in eval the running statistics normalise and the
    # op is a per-channel affine map.
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        n, c = x.shape[0], x.shape[1]
        x3 = x.reshape(n, c, -1)
        length = x3.shape[2]
        m = n * length
        xr = x3.reshape(n, -1)
        if training:
            mean = _channel_sum(x3) / m
            xc = xr - _per_channel(mean, length)
            xc3 = xc.reshape(x3.shape)
            var = _channel_dot(xc3, xc3) / m
            if running_mean is not None:
                running_mean *= 1.0 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1.0 - momentum
                running_var += (momentum * m / max(m - 1, 1)) * var
        else:
            mean, var = running_mean.copy(), running_var
        invstd = 1.0 / np.sqrt(var + eps)
        scale = invstd if weight is None else invstd * weight
        ctx.invstd, ctx.scale, ctx.training, ctx.m = invstd, scale, training, m
        if training:
            ctx.xc3, shift = xc3, bias
            y = xc if not any(ctx.needs_input_grad) else np.empty_like(xc)
            np.multiply(xc, _per_channel(scale, length), out=y)
        else:
            ctx.x3, ctx.mean = x3, mean
            shift = -mean * scale if bias is None else bias - mean * scale
            y = np.multiply(xr, _per_channel(scale, length))
        if shift is not None:
            y += _per_channel(shift, length)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        nx, nw, nb = ctx.needs_input_grad[:3]
        invstd, scale, m = ctx.invstd, ctx.scale, ctx.m
        shape = ctx.xc3.shape if ctx.training else ctx.x3.shape
        n, length = shape[0], shape[2]
        g3 = grad.reshape(shape)
        gsum = _channel_sum(g3) if nb or (nx and ctx.training) else None
        if ctx.training:
            xc3 = ctx.xc3
        elif nw:
            xc3 = ctx.x3 - ctx.mean[:, None]
        gx = gw = None
        if nw or (nx and ctx.training):
            gdot = _channel_dot(g3, xc3)  # sum(g * (x - mean)) per channel
            gw = gdot * invstd if nw else None
        if nx:
            gr = g3.reshape(n, -1)
            if ctx.training:
                gx = np.multiply(xc3.reshape(n, -1),
                                 _per_channel(gdot * (invstd * invstd) / -m, length))
                gx += gr
                gx *= _per_channel(scale, length)
                gx -= _per_channel(gsum * scale / m, length)
            else:
                gx = np.multiply(gr, _per_channel(scale, length))
            gx = gx.reshape(grad.shape)
        return gx, gw, (gsum if nb else None), None, None, None, None, None


def _check_channel_vector(op: str, name: str, v, c: int, dtype) -> None:
    if v is None:
        return
    if tuple(v.shape) != (c,):
        raise RuntimeError(f"{op}: {name} of shape {tuple(v.shape)} does not match the input's "
                           f"{c} channels (expected shape ({c},))")
    if v.dtype != dtype:
        raise RuntimeError(f"{op}: {name} dtype {v.dtype} does not match input dtype {dtype} "
                           "(convert the input or call model.double() / model.float())")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over axis 1 of (N, C, *) input.

    In training the batch statistics normalise and, when given, ``running_mean`` and
    ``running_var`` are updated in place: ``running = (1 - momentum) * running + momentum *
    stat`` with the unbiased batch variance. Otherwise the running statistics normalise.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> x = chainrule.randn(8, 3, 5)
    >>> y = F.batch_norm(x, None, None, training=True)
    >>> [round(abs(v), 4) for v in y.mean(dim=(0, 2)).tolist()]
    [0.0, 0.0, 0.0]
    """
    shape = tuple(input.shape)
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, *) with at least 2 dims, "
                         f"got shape {shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"batch_norm: expected a floating-point input, got {input.dtype}")
    c = shape[1]
    for name, v in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        _check_channel_vector("batch_norm", name, v, c, input.dtype)
    if training:
        if math.prod(shape) // max(c, 1) <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {shape}")
        if momentum is None:
            raise TypeError("batch_norm: momentum must be a float (for a cumulative average "
                            "pass 1 / num_batches_tracked, as BatchNorm layers do)")
    elif running_mean is None or running_var is None:
        raise RuntimeError("batch_norm: running_mean and running_var must be given in "
                           "evaluation mode (training=False)")
    return BatchNorm.apply(input, weight, bias, running_mean, running_var, bool(training),
                           float(momentum or 0.0), float(eps))


# --- layer norm ---


def _layer_norm_rows(x, r, w, b, eps, xc, invstd, y) -> None:
    """Normalise the rows of ``x`` (R, K) (of ``x + r`` unless ``r`` is None) into ``y``; keeps
    the centred input in ``xc`` and 1 / std in ``invstd``. ``w`` and ``b`` are (K,) or None."""
    k = x.shape[1]
    if r is not None:
        x = np.add(x, r, out=xc)
    # NOTE: the row sums are a matrix-vector product with a vector of ones: BLAS's blocked
    # sum is as accurate as NumPy's pairwise one and several times faster on short rows.
    mean = x @ np.ones(k, x.dtype)
    mean *= 1.0 / k
    np.subtract(x, mean[:, None], out=xc)
    var = np.vecdot(xc, xc)
    var *= 1.0 / k
    var += eps
    np.sqrt(var, out=var)
    np.divide(1.0, var, out=invstd)
    if w is None:
        np.multiply(xc, invstd[:, None], out=y)
    else:  # NOTE: xc * invstd * w in one pass over memory, without an xhat temporary
        np.einsum("rk,r,k->rk", xc, invstd, w, out=y)
    if b is not None:
        y += b


def _layer_norm_rows_backward(g, xc, invstd, w, gx) -> tuple[np.ndarray, np.ndarray]:
    """dx of :func:`_layer_norm_rows` into ``gx`` for the output gradient ``g`` (R, K);
    returns the (K,) sums of ``g * xhat`` and of ``g`` (the weight's and bias's gradients)."""
    k = g.shape[1]
    p = np.multiply(g, xc)
    gw = invstd @ p  # sum over rows of g * xhat, with xhat = xc * invstd
    gb = np.ones(len(g), g.dtype) @ g
    if w is None:
        a, s = p @ np.ones(k, g.dtype), g @ np.ones(k, g.dtype)
        np.multiply(g, invstd[:, None], out=gx)
    else:
        a, s = p @ w, g @ w  # rowsum(dxhat * xc) and rowsum(dxhat), dxhat = g * w
        np.einsum("rk,k,r->rk", g, w, invstd, out=gx)
    # dx = invstd * (dxhat - rowmean(dxhat)) - xc * invstd^3 * rowmean(dxhat * xc)
    np.multiply(xc, (a * invstd**3 / k)[:, None], out=p)
    gx -= p
    gx -= (s * invstd / k)[:, None]
    return gw, gb


class LayerNorm(Function):
    # NOTE: each sample is normalised over its last k dims (one row of an (R, K) view), then
    # the elementwise affine (K,) weight and bias apply. Chunks of rows run on a few threads;
    # the centred input ``xc`` (not xhat) is saved: xhat = xc * invstd costs nothing extra in
    # the backward, and the forward makes no xhat array. With a ``residual`` (a Transformer's skip
    # connection) the op normalises ``x + residual``, the sum made in the same chunks.
    @staticmethod
    def forward(ctx, x, weight, bias, normalized_shape, eps, residual=None):
        x2 = x.reshape(-1, math.prod(normalized_shape))
        r2 = None if residual is None else residual.reshape(x2.shape)
        xc, y = np.empty(x2.shape, x.dtype), np.empty(x2.shape, x.dtype)
        invstd = np.empty(x2.shape[0], x.dtype)
        w = None if weight is None else weight.reshape(-1)
        b = None if bias is None else bias.reshape(-1)

        # NOTE: with the compiled kernels (see _norm_kernels.py) each row is read once into
        # cache instead of NumPy's ~8 passes over the array: (2048, 128) float32 with a residual,
        # one thread, forward 880 -> 286 us, backward 1,188 -> 311 us.
        if _norm_kernels.usable(x2):
            work = _norm_kernels.forward_work(x2, r2, w, b, eps, xc, invstd, y)
        else:
            def work(lo, hi, slot):
                r = None if r2 is None else r2[lo:hi]
                _layer_norm_rows(x2[lo:hi], r, w, b, eps, xc[lo:hi], invstd[lo:hi], y[lo:hi])

        # NOTE: item bytes count the three arrays a row touches, so a chunk's working set
        # stays about the size of the cache.
        _threads._chunked(x2.shape[0], 3 * x2.shape[1] * x2.itemsize, work, claim=True)
        ctx.xc, ctx.invstd, ctx.w, ctx.ns = xc, invstd, w, normalized_shape
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        nx, nw, nb = ctx.needs_input_grad[:3]
        residual = len(ctx.needs_input_grad) > 5
        nr = residual and ctx.needs_input_grad[5]
        xc, invstd, w = ctx.xc, ctx.invstd, ctx.w
        g2 = grad.reshape(xc.shape)
        gx = np.empty(xc.shape, xc.dtype)
        if _norm_kernels.usable(xc):
            sums, work = _norm_kernels.backward_work(g2, xc, invstd, w, gx, _threads._THREADS)
        else:
            sums = np.zeros((_threads._THREADS, 2, xc.shape[1]), xc.dtype)

            def work(lo, hi, slot):
                gw, gb = _layer_norm_rows_backward(g2[lo:hi], xc[lo:hi], invstd[lo:hi], w,
                                                   gx[lo:hi])
                sums[slot, 0] += gw
                sums[slot, 1] += gb

        _threads._chunked(xc.shape[0], 4 * xc.shape[1] * xc.itemsize, work)
        gw, gb = sums.sum(axis=0).astype(xc.dtype, copy=False)
        gx = gx.reshape(grad.shape)
        grads = (gx if nx else None, gw.reshape(ctx.ns) if nw else None,
                 gb.reshape(ctx.ns) if nb else None, None, None)
        return (*grads, gx if nr else None) if residual else grads


def _layer_norm_shape(op: str, input, normalized_shape, weight, bias) -> tuple[int, ...]:
    """The checked ``normalized_shape`` as a tuple."""
    ns = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(int(d) for d in normalized_shape)
    shape = tuple(input.shape)
    if not ns or shape[len(shape) - len(ns):] != ns or len(ns) > len(shape):
        raise RuntimeError(f"{op}: normalized_shape={ns} expects input of shape "
                           f"(*, {', '.join(map(str, ns))}), got input of shape {shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got {input.dtype}")
    for name, v in (("weight", weight), ("bias", bias)):
        if v is not None and (tuple(v.shape) != ns or v.dtype != input.dtype):
            raise RuntimeError(f"{op}: {name} of shape {tuple(v.shape)} and dtype "
                               f"{v.dtype} does not match normalized_shape={ns} and the "
                               f"input's dtype {input.dtype}")
    return ns


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` dims, then scale and shift.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> y = F.layer_norm(chainrule.randn(4, 10), (10,))
    >>> [round(abs(v), 4) for v in y.mean(dim=-1).tolist()]
    [0.0, 0.0, 0.0, 0.0]
    """
    ns = _layer_norm_shape("layer_norm", input, normalized_shape, weight, bias)
    return LayerNorm.apply(input, weight, bias, ns, float(eps))


def add_layer_norm(input, residual, normalized_shape, weight=None, bias=None, eps=1e-5):
    """``layer_norm(input + residual, ...)`` as one primitive (a Transformer's skip connection
    and its norm); ``residual`` has the input's shape and dtype.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> x, r = chainrule.randn(4, 10), chainrule.randn(4, 10)
    >>> y = add_layer_norm(x, r, (10,))
    >>> bool(chainrule.allclose(y, F.layer_norm(x + r, (10,)), atol=1e-6))
    True
    """
    ns = _layer_norm_shape("add_layer_norm", input, normalized_shape, weight, bias)
    if tuple(residual.shape) != tuple(input.shape) or residual.dtype != input.dtype:
        raise RuntimeError(f"add_layer_norm: residual of shape {tuple(residual.shape)} and dtype "
                           f"{residual.dtype} does not match the input's {tuple(input.shape)} "
                           f"and {input.dtype}")
    return LayerNorm.apply(input, weight, bias, ns, float(eps), residual)


# --- group norm ---


class GroupNorm(Function):
    # NOTE: each sample's channels split into G groups normalised over (C / G, *) together
    # (one row of an (N * G, C / G * L) view); the affine weight and bias are per channel.
    @staticmethod
    def forward(ctx, x, weight, bias, groups, eps):
        n, c = x.shape[0], x.shape[1]
        xhat, invstd = _normalize_rows(x.reshape(n * groups, -1), eps)
        xhat3 = xhat.reshape(n, c, -1)
        ctx.xhat3, ctx.invstd, ctx.w, ctx.groups = xhat3, invstd, weight, groups
        if weight is None and bias is None:
            return xhat.reshape(x.shape)  # NOTE: the saved xhat itself, as in LayerNorm.
        length = xhat3.shape[2]
        w = np.ones(c, x.dtype) if weight is None else weight
        y = np.multiply(xhat3.reshape(n, -1), _per_channel(w, length))
        if bias is not None:
            y += _per_channel(bias, length)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        nx, nw, nb = ctx.needs_input_grad[:3]
        xhat3, w, groups = ctx.xhat3, ctx.w, ctx.groups
        n, _, length = xhat3.shape
        g3 = grad.reshape(xhat3.shape)
        gw = _channel_dot(g3, xhat3) if nw else None
        gb = _channel_sum(g3) if nb else None
        gx = None
        if nx:
            gxhat = g3 if w is None else np.multiply(g3.reshape(n, -1), _per_channel(w, length))
            rows = (n * groups, -1)
            gx = _rows_backward(gxhat.reshape(rows), xhat3.reshape(rows), ctx.invstd)
            gx = gx.reshape(grad.shape)
        return gx, gw, gb, None, None


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation of (N, C, *) input: channels in ``num_groups`` groups.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> F.group_norm(chainrule.randn(2, 6, 5), 3).shape
    (2, 6, 5)
    """
    shape = tuple(input.shape)
    if input.ndim < 2:
        raise RuntimeError(f"group_norm: expected input of shape (N, C, *) with at least 2 "
                           f"dims, got shape {shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"group_norm: expected a floating-point input, got {input.dtype}")
    c = shape[1]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(f"group_norm: expected the number of channels in the input to be "
                           f"divisible by num_groups, but got input of shape {shape} and "
                           f"num_groups={num_groups}")
    for name, v in (("weight", weight), ("bias", bias)):
        _check_channel_vector("group_norm", name, v, c, input.dtype)
    return GroupNorm.apply(input, weight, bias, int(num_groups), float(eps))
