"""Losses over a class axis: cross-entropy of logits against class indices or class
probabilities (log-softmax and NLL fused), and NLL of log-probabilities; with their class-weight,
``ignore_index`` and target checks. (Binary cross-entropy compares input and target element by
element: it is in ``pointwise.py``.)"""

from __future__ import annotations

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops._short_rows import reduce_keepdims
from chainrule.ops.loss._common import _reduce, _reduction, _tensor, _upstream
from chainrule.tensor import Tensor

# --- helpers ---


def _col(v: np.ndarray, axis: int) -> np.ndarray:
    """Per-sample values (shape without the class axis) made to broadcast along it."""
    return v[(slice(None),) * axis + (None,)] if v.ndim else v


def _class_weight(weight: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """A per-class weight reshaped to broadcast along the class axis of an ``ndim`` input."""
    shape = [1] * ndim
    shape[axis] = weight.shape[0]
    return weight.reshape(shape)


def _exp_shifted(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(z, e, s)``: z = x - max(x), e = exp(z), s = sum(e) (kept dims); softmax is e / s."""
    # NOTE: subtracting the max makes every exp <= 1, so logits of +-1e4 (or 1e30) stay finite,
    # and s >= 1, so log(s) is too.
    z = x - reduce_keepdims(np.maximum, x, axis)
    e = np.exp(z)
    return z, e, reduce_keepdims(np.add, e, axis)


def _class_targets(target: np.ndarray, weight, ignore_index: int | None, dtype):
    """``(pick, wt)``: an index such that ``x[pick]`` is each sample's target-class entry (an
    ignored target points at class 0), and each target's weight (0 where ignored), None when
    every weight is 1. ``ignore_index`` is None when no target is ignored."""
    if ignore_index is None:
        safe = target
        wt = None if weight is None else weight[target]
    else:
        valid = target != ignore_index
        safe = np.where(valid, target, 0)
        wt = valid.astype(dtype) if weight is None else weight[safe] * valid
    grid = (np.arange(len(target)),) if target.ndim == 1 else np.indices(target.shape, sparse=True)
    return (*grid[:1], safe, *grid[1:]), wt


# --- primitives ---


class CrossEntropy(Function):
    """Cross-entropy of logits against class indices: log-softmax and NLL fused."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, label_smoothing):
        # NOTE: fused for stability and speed: the loss is lse - z[target] with z = x - max(x),
        # finite for any finite logits, and the gradient is (softmax - onehot) * weight in one
        # pass instead of a log_softmax node and a gather node.
        axis = 1 if x.ndim > 1 else 0
        z, e, s = _exp_shifted(x, axis)
        lse = np.log(s).squeeze(axis)
        pick, wt = _class_targets(target, weight, ignore_index, x.dtype)
        loss = lse - z[pick]
        if wt is not None:
            loss *= wt
        eps, valid = label_smoothing, None
        if eps:
            # NOTE: PyTorch's label smoothing: (1 - eps) * nll + eps / C * sum_c w_c * (-logp_c),
            # the second term also 0 for ignored targets, and 'mean' divides both by sum w[target].
            n = x.shape[axis]
            if weight is None:
                smooth = n * lse - z.sum(axis=axis)
            else:
                wb = _class_weight(weight, x.ndim, axis)
                smooth = float(weight.sum()) * lse - (z * wb).sum(axis=axis)
            if ignore_index is not None:
                valid = (target != ignore_index).astype(x.dtype)
                smooth *= valid
            loss = (1.0 - eps) * loss + (eps / n) * smooth
        count = 1.0
        if reduction == "mean":
            count = target.size if wt is None else float(wt.sum())
        ctx.e, ctx.s, ctx.pick, ctx.wt, ctx.weight, ctx.axis = e, s, pick, wt, weight, axis
        ctx.eps, ctx.valid, ctx.reduction, ctx.count = eps, valid, reduction, count
        return _reduce(loss, reduction, count)

    @staticmethod
    def backward(ctx, grad):
        e, s, wt, axis, eps = ctx.e, ctx.s, ctx.wt, ctx.axis, ctx.eps
        g = _upstream(grad, ctx.reduction, ctx.count)
        gt = g if wt is None else g * wt  # weight of each one-hot row
        if eps == 0:
            gx = e * (_col(gt, axis) / s)  # softmax * weight, one pass
        else:
            n, w = e.shape[axis], ctx.weight
            gt = gt * (1.0 - eps)
            gs = g * (eps / n)  # weight of each uniform row
            if ctx.valid is not None:
                gs = gs * ctx.valid
            total = gt + gs * (n if w is None else float(w.sum()))  # sum_c q_c
            gx = e * (_col(total, axis) / s)
            gx -= _col(gs, axis) if w is None else _col(gs, axis) * _class_weight(w, e.ndim, axis)
        gx[ctx.pick] -= gt
        return gx, None, None, None, None, None


class CrossEntropyProbs(Function):
    """Cross-entropy of logits against class probabilities (soft targets)."""

    @staticmethod
    def forward(ctx, x, target, weight, reduction, label_smoothing):
        # NOTE: fused for stability and speed, as CrossEntropy: -sum_c q_c * (z_c - lse) with
        # q = target (smoothed: target * (1 - eps) + eps / C) times the class weight.
        axis = 1 if x.ndim > 1 else 0
        z, p, s = _exp_shifted(x, axis)
        z -= np.log(s)  # log-softmax, in place: z is ours
        p /= s
        n = x.shape[axis]
        eps = label_smoothing
        q = target * (1.0 - eps) + eps / n if eps else target
        wb = None if weight is None else _class_weight(weight, x.ndim, axis)
        if wb is not None:
            q = q * wb
        loss = -(q * z).sum(axis=axis)
        # NOTE: PyTorch's 'mean' here divides by the number of samples (N * d1 * ... * dk), not
        # by a sum of weights as with class indices.
        count = loss.size
        ctx.p, ctx.q, ctx.logp, ctx.wb, ctx.axis = p, q, z, wb, axis
        ctx.eps, ctx.reduction, ctx.count = eps, reduction, count
        return _reduce(loss, reduction, count)

    @staticmethod
    def backward(ctx, grad):
        nx, nt = ctx.needs_input_grad[:2]
        axis = ctx.axis
        g = _col(_upstream(grad, ctx.reduction, ctx.count), axis)
        gx = gt = None
        if nx:
            q = ctx.q
            gx = g * (ctx.p * q.sum(axis=axis, keepdims=True) - q)
        if nt:
            gt = (g * (ctx.eps - 1.0)) * ctx.logp
            if ctx.wb is not None:
                gt = gt * ctx.wb
        return gx, gt, None, None, None


class NLL(Function):
    """Negative log-likelihood of log-probabilities against class indices."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction):
        pick, wt = _class_targets(target, weight, ignore_index, x.dtype)
        loss = -x[pick]
        if wt is not None:
            loss *= wt
        count = 1.0
        if reduction == "mean":
            count = target.size if wt is None else float(wt.sum())
        ctx.shape, ctx.dtype, ctx.pick, ctx.wt = x.shape, x.dtype, pick, wt
        ctx.reduction, ctx.count = reduction, count
        return _reduce(loss, reduction, count)

    @staticmethod
    def backward(ctx, grad):
        g = _upstream(grad, ctx.reduction, ctx.count)
        gx = np.zeros(ctx.shape, ctx.dtype)
        gx[ctx.pick] = -g if ctx.wt is None else -(g * ctx.wt)
        return gx, None, None, None, None


# --- argument checks ---


def _float_input(input, name: str) -> Tensor:
    _tensor(input, name, "input")
    if input.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point input, got {input.dtype} of shape "
                        f"{input.shape} (convert it with .float())")
    return input


def _check_class_weight(weight, input, name: str):
    if weight is None:
        return None
    _tensor(weight, name, "weight")
    n = input.shape[1 if input.ndim > 1 else 0]
    if weight.shape != (n,):
        raise ValueError(f"{name}: weight of shape {weight.shape} does not match the {n} classes "
                         f"of input {input.shape} (expected a 1-D weight with one entry per "
                         "class)")
    if weight.dtype != input.dtype:
        raise TypeError(f"{name}: weight is {weight.dtype} but input is {input.dtype} (convert "
                        "the weight, or the loss module with .to(dtype))")
    return weight


def _check_class_target(input, target, ignore_index: int, name: str) -> int | None:
    """Class-index targets: integers of shape (N, d1, ..., dk) (or () for an unbatched (C,)
    input), each in [0, C) or equal to ignore_index. Returns ignore_index, or None when no
    target can equal it (the primitives then skip masking)."""
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have a class dimension, got a 0-d tensor")
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: target of dtype {target.dtype} and shape {target.shape} is not a class-index "
            f"target (those are integers, e.g. int64) nor a class-probability target (floats of "
            f"the input's shape {input.shape})")
    expected = () if input.ndim == 1 else (input.shape[0], *input.shape[2:])
    if target.shape != expected:
        raise ValueError(f"{name}: expected target of shape {expected} for input of shape "
                         f"{input.shape} ((N, C, d1, ...) -> (N, d1, ...)), got {target.shape}")
    n = input.shape[1 if input.ndim > 1 else 0]
    t = target._data
    # NOTE: viewed as unsigned, negative indices become huge, so one max checks both bounds.
    u = t.view(np.uint64) if t.dtype == np.int64 else t
    if not t.size or (u.max() < n and (u is not t or t.min() >= 0)):
        return ignore_index if 0 <= ignore_index < n else None
    bad = t[(t != ignore_index) & ((t < 0) | (t >= n))]
    if bad.size:
        raise IndexError(f"{name}: target {int(bad.flat[0])} is out of bounds for {n} classes "
                         f"(expected class indices in [0, {n - 1}] or ignore_index={ignore_index})")
    return ignore_index


# --- public functions ---


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and targets, computed stably in one fused step.

    ``input`` holds unnormalised logits of shape (C), (N, C) or (N, C, d1, ..., dk). ``target``
    holds class indices of shape (), (N) or (N, d1, ..., dk), or class probabilities of the
    input's shape. ``weight`` (C) rescales each class; targets equal to ``ignore_index`` add
    nothing; ``label_smoothing`` mixes the target with the uniform distribution. 'mean' with class
    indices divides by the summed weight of the non-ignored targets, as PyTorch does.

    >>> import chainrule
    >>> logits = chainrule.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> cross_entropy(logits, chainrule.tensor([0, 1]))
    tensor(0.1269)
    """
    name = "cross_entropy"
    reduction = _reduction(name, reduction, size_average, reduce)
    _float_input(input, name)
    _tensor(target, name, "target")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing}")
    weight = _check_class_weight(weight, input, name)
    if target.shape == input.shape and input.ndim > 0:
        if target.dtype.kind != "f":
            raise TypeError(f"{name}: a target of the input's shape {input.shape} holds class "
                            f"probabilities and must be floating point, got {target.dtype}")
        if target.dtype != input.dtype:
            target = target.to(input.dtype)
        return CrossEntropyProbs.apply(input, target, weight, reduction, float(label_smoothing))
    ignore = _check_class_target(input, target, ignore_index, name)
    return CrossEntropy.apply(input, target, weight, ignore, reduction, float(label_smoothing))


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100,
             reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: ``-weight[t] * input[n, t]`` for log-probabilities ``input``
    of shape (C), (N, C) or (N, C, d1, ..., dk) and class indices ``t``.

    >>> import chainrule
    >>> nll_loss(chainrule.tensor([[-0.5, -1.0]]), chainrule.tensor([1]))
    tensor(1.)
    """
    name = "nll_loss"
    reduction = _reduction(name, reduction, size_average, reduce)
    _float_input(input, name)
    _tensor(target, name, "target")
    weight = _check_class_weight(weight, input, name)
    ignore = _check_class_target(input, target, ignore_index, name)
    return NLL.apply(input, target, weight, ignore, reduction)
