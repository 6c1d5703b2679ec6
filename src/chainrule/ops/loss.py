"""Loss primitives, each fused with its reduction, and the functional losses with PyTorch's
arguments, defaults and reductions."""

from __future__ import annotations

import warnings

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops.elementwise import _prepare, stable_sigmoid
from chainrule.tensor import Tensor

# NOTE: every loss is one primitive that computes the elementwise loss and reduces it, with a
# hand-written backward: one graph node instead of three to ten (speed), and the stable forms that
# composition cannot give (log-softmax + NLL, sigmoid + BCE, 0 * log 0 = 0 in KL).
_REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss: np.ndarray, reduction: str, count: float) -> np.ndarray:
    """'none' -> the elementwise loss; 'sum' -> its sum; 'mean' (and 'batchmean') -> sum / count."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    if count:
        return total / count
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / count  # NaN, as in PyTorch


def _upstream(grad: np.ndarray, reduction: str, count: float) -> np.ndarray:
    """The gradient reaching each element of the unreduced loss (0-d unless 'none')."""
    if reduction == "none" or reduction == "sum":
        return grad
    # NOTE: a mean over nothing (all targets ignored) is NaN forward and sends zero gradient back,
    # as PyTorch does.
    return grad * (1.0 / count) if count else grad * 0.0


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
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return z, e, e.sum(axis=axis, keepdims=True)


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


# --- classification ---


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


class BCE(Function):
    """Binary cross-entropy of probabilities."""

    @staticmethod
    def forward(ctx, x, y, weight, reduction):
        # NOTE: both logs are clamped at -100 as in PyTorch, so x = 0 or 1 gives a finite loss.
        with np.errstate(divide="ignore"):
            lx = np.maximum(np.log(x), -100.0)
            l1x = np.maximum(np.log1p(-x), -100.0)
        loss = (y - 1.0) * l1x - y * lx
        if weight is not None:
            loss *= weight
        ctx.x, ctx.y, ctx.lx, ctx.l1x, ctx.weight = x, y, lx, l1x, weight
        ctx.reduction, ctx.count = reduction, loss.size
        return _reduce(loss, reduction, loss.size)

    @staticmethod
    def backward(ctx, grad):
        nx, ny = ctx.needs_input_grad[:2]
        g = _upstream(grad, ctx.reduction, ctx.count)
        if ctx.weight is not None:
            g = g * ctx.weight
        x = ctx.x
        gx = gy = None
        if nx:
            # NOTE: x (1 - x) is clamped at 1e-12 as in PyTorch: the gradient stays finite at 0, 1.
            gx = g * (x - ctx.y) / np.maximum(x * (1.0 - x), 1e-12)
        if ny:
            # NOTE: the derivative of the clamped forward (finite, 100 * g at x = 0 or 1); PyTorch
            # differentiates the unclamped logs there and returns +-inf.
            gy = g * (ctx.l1x - ctx.lx)
        return gx, gy, None, None


class BCEWithLogits(Function):
    """Binary cross-entropy of logits: sigmoid and BCE fused."""

    @staticmethod
    def forward(ctx, x, y, weight, pos_weight, reduction):
        # NOTE: fused for stability: max(x, 0) - x y + log1p(exp(-|x|)) never overflows, and for
        # pos_weight (1 - y) x + (1 + (pw - 1) y) softplus(-x), softplus(-x) in the same form.
        lg = np.log1p(np.exp(-np.abs(x)))
        if pos_weight is None:
            loss = np.maximum(x, 0.0) - x * y + lg
            sp = None
        else:
            sp = np.maximum(-x, 0.0) + lg
            loss = (1.0 - y) * x + (1.0 + (pos_weight - 1.0) * y) * sp
        if weight is not None:
            loss *= weight
        ctx.x, ctx.y, ctx.sp, ctx.weight, ctx.pos_weight = x, y, sp, weight, pos_weight
        ctx.reduction, ctx.count = reduction, loss.size
        return _reduce(loss, reduction, loss.size)

    @staticmethod
    def backward(ctx, grad):
        nx, ny = ctx.needs_input_grad[:2]
        g = _upstream(grad, ctx.reduction, ctx.count)
        if ctx.weight is not None:
            g = g * ctx.weight
        x, y, pw = ctx.x, ctx.y, ctx.pos_weight
        gx = gy = None
        if nx:
            s = stable_sigmoid(x)
            gx = g * (s - y) if pw is None else g * ((1.0 + (pw - 1.0) * y) * s - pw * y)
        if ny:
            gy = -g * x if pw is None else g * ((pw - 1.0) * ctx.sp - x)
        return gx, gy, None, None, None


# --- regression ---


class MSE(Function):
    @staticmethod
    def forward(ctx, x, y, weight, reduction):
        d = x - y
        loss = d * d
        count = loss.size
        if weight is not None:
            loss *= weight
            count = float(weight.sum())  # NOTE: PyTorch's weighted mean: sum(w l) / sum(w)
        ctx.d, ctx.weight, ctx.reduction, ctx.count = d, weight, reduction, count
        return _reduce(loss, reduction, count)

    @staticmethod
    def backward(ctx, grad):
        g = _upstream(grad, ctx.reduction, ctx.count)
        if ctx.weight is not None:
            g = g * ctx.weight
        gx = 2.0 * g * ctx.d
        return gx, (-gx if ctx.needs_input_grad[1] else None), None, None


class L1(Function):
    @staticmethod
    def forward(ctx, x, y, weight, reduction):
        d = x - y
        loss = np.abs(d)
        count = loss.size
        if weight is not None:
            loss *= weight
            count = float(weight.sum())  # NOTE: PyTorch's weighted mean: sum(w l) / sum(w)
        ctx.d, ctx.weight, ctx.reduction, ctx.count = d, weight, reduction, count
        return _reduce(loss, reduction, count)

    @staticmethod
    def backward(ctx, grad):
        g = _upstream(grad, ctx.reduction, ctx.count)
        if ctx.weight is not None:
            g = g * ctx.weight
        # NOTE: |d|'(0) = 0 (the sign function's value), as in PyTorch.
        gx = g * np.sign(ctx.d)
        return gx, (-gx if ctx.needs_input_grad[1] else None), None, None


class Huber(Function):
    """``scale * huber_delta(x - y)``: Huber loss (scale 1) and smooth L1 (delta = beta,
    scale = 1 / beta) in one rule."""

    @staticmethod
    def forward(ctx, x, y, weight, delta, scale, reduction):
        d = x - y
        a = np.abs(d)
        # NOTE: quadratic for |d| < delta, linear beyond; both pieces agree (value and slope) at
        # |d| = delta, so which side the boundary belongs to does not matter.
        loss = np.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))
        if scale != 1.0:
            loss *= scale
        if weight is not None:
            loss *= weight  # NOTE: PyTorch's weighted huber mean divides by numel, not sum(w).
        ctx.d, ctx.weight, ctx.delta, ctx.scale = d, weight, delta, scale
        ctx.reduction, ctx.count = reduction, loss.size
        return _reduce(loss, reduction, loss.size)

    @staticmethod
    def backward(ctx, grad):
        g = _upstream(grad, ctx.reduction, ctx.count)
        if ctx.weight is not None:
            g = g * ctx.weight
        if ctx.scale != 1.0:
            g = g * ctx.scale
        gx = g * np.clip(ctx.d, -ctx.delta, ctx.delta)
        return gx, (-gx if ctx.needs_input_grad[1] else None), None, None, None, None


class KLDiv(Function):
    @staticmethod
    def forward(ctx, x, t, reduction, log_target):
        if log_target:
            et = np.exp(t)
            loss = et * (t - x)
            ctx.et = et
        else:
            # NOTE: t log t is taken as 0 at t = 0 (PyTorch's xlogy); negative t gives NaN.
            with np.errstate(divide="ignore", invalid="ignore"):
                lt = np.log(t)
                loss = np.where(t == 0, 0.0, t * lt) - t * x
            ctx.lt = lt
        count = loss.size
        if reduction == "batchmean":
            count = x.shape[0] if x.ndim else 1
        ctx.x, ctx.t, ctx.log_target, ctx.reduction, ctx.count = x, t, log_target, reduction, count
        return _reduce(loss, reduction, count)

    @staticmethod
    def backward(ctx, grad):
        nx, nt = ctx.needs_input_grad[:2]
        g = _upstream(grad, ctx.reduction, ctx.count)
        x, t = ctx.x, ctx.t
        gx = gt = None
        if ctx.log_target:
            ge = g * ctx.et
            gx = -ge if nx else None
            gt = ge * (t - x + 1.0) if nt else None
        else:
            gx = -g * t if nx else None
            if nt:
                # NOTE: d/dt = log t + 1 - x, -inf at t = 0 (PyTorch's xlogy rule gives NaN there).
                with np.errstate(invalid="ignore"):
                    gt = g * (ctx.lt + 1.0 - x)
        return gx, gt, None, None


# --- argument checks ---


def legacy_reduction(size_average, reduce) -> str:
    """The ``reduction`` string for PyTorch's deprecated ``size_average`` / ``reduce`` pair."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{reduction}' instead.", UserWarning, stacklevel=3)
    return reduction


def _reduction(name, reduction, size_average=None, reduce=None, allowed=_REDUCTIONS) -> str:
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    if reduction not in allowed:
        raise ValueError(f"{name}: reduction must be one of {', '.join(map(repr, allowed))}, "
                         f"got {reduction!r}")
    return reduction


def _tensor(x, name: str, what: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(x).__name__}")
    return x


def _float_input(input, name: str) -> Tensor:
    _tensor(input, name, "input")
    if input.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point input, got {input.dtype} of shape "
                        f"{input.shape} (convert it with .float())")
    return input


def _pair(input, target, name: str, same_shape: bool, warn: bool = True):
    """input and target promoted to one float dtype; shapes equal (``same_shape``) or broadcast
    (with PyTorch's warning if ``warn``)."""
    _tensor(input, name, "input")
    _tensor(target, name, "target")
    if same_shape and target.shape != input.shape:
        raise ValueError(f"{name}: target of shape {target.shape} must have the input's shape "
                         f"{input.shape}")
    if target.shape != input.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ValueError(f"{name}: target of shape {target.shape} does not broadcast with "
                             f"input of shape {input.shape}") from None
        if warn:
            warnings.warn(f"{name}: using a target of shape {target.shape} that is different from "
                          f"the input's shape {input.shape}; they are broadcast, which is likely "
                          "not what you want. Please ensure they have the same size.",
                          UserWarning, stacklevel=3)
    input, target = _prepare(input, target)
    if input.dtype.kind != "f":
        input, target = input.float(), target.float()
    return input, target


def _elementwise_weight(weight, input, name: str, exact: bool):
    """A weight for elementwise losses: the input's shape (``exact``) or broadcastable to it."""
    if weight is None:
        return None
    _tensor(weight, name, "weight")
    if exact and weight.shape != input.shape:
        raise ValueError(f"{name}: weight of shape {weight.shape} must have the input's shape "
                         f"{input.shape}")
    if not exact:
        try:
            ok = np.broadcast_shapes(weight.shape, input.shape) == input.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{name}: weight of shape {weight.shape} does not broadcast to the "
                             f"input's shape {input.shape}")
    return weight.to(input.dtype) if weight.dtype != input.dtype else weight


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


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """``-w (y log x + (1 - y) log(1 - x))`` for probabilities x in [0, 1], logs clamped at -100.

    >>> import chainrule
    >>> binary_cross_entropy(chainrule.tensor([0.5]), chainrule.tensor([1.0]))
    tensor(0.6931)
    """
    name = "binary_cross_entropy"
    reduction = _reduction(name, reduction, size_average, reduce)
    input, target = _pair(input, target, name, same_shape=True)
    x = input._data
    if x.size and not (np.min(x) >= 0 and np.max(x) <= 1):  # NaN fails too
        raise ValueError(f"{name}: all elements of input (shape {input.shape}) must be "
                         f"probabilities in [0, 1], got values in [{np.min(x)}, {np.max(x)}] "
                         "(apply sigmoid first, or use binary_cross_entropy_with_logits)")
    weight = _elementwise_weight(weight, input, name, exact=False)
    return BCE.apply(input, target, weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None) -> Tensor:
    """Sigmoid and binary cross-entropy in one stable step; ``pos_weight`` weights the positive
    term of each class (broadcast along the last dimension).

    >>> import chainrule
    >>> binary_cross_entropy_with_logits(chainrule.tensor([0.0]), chainrule.tensor([1.0]))
    tensor(0.6931)
    """
    name = "binary_cross_entropy_with_logits"
    reduction = _reduction(name, reduction, size_average, reduce)
    input, target = _pair(input, target, name, same_shape=True)
    weight = _elementwise_weight(weight, input, name, exact=False)
    pos_weight = _elementwise_weight(pos_weight, input, name + " (pos_weight)", exact=False)
    return BCEWithLogits.apply(input, target, weight, pos_weight, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
             weight=None) -> Tensor:
    """Mean squared error ``(x - y)^2`` (weighted 'mean' divides by ``weight.sum()``).

    >>> import chainrule
    >>> mse_loss(chainrule.tensor([1.0, 2.0]), chainrule.tensor([1.0, 4.0]))
    tensor(2.)
    """
    name = "mse_loss"
    reduction = _reduction(name, reduction, size_average, reduce)
    input, target = _pair(input, target, name, same_shape=False)
    return MSE.apply(input, target, _elementwise_weight(weight, input, name, True), reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
            weight=None) -> Tensor:
    """Mean absolute error ``|x - y|`` (weighted 'mean' divides by ``weight.sum()``).

    >>> import chainrule
    >>> l1_loss(chainrule.tensor([1.0, 2.0]), chainrule.tensor([1.0, 4.0]))
    tensor(1.)
    """
    name = "l1_loss"
    reduction = _reduction(name, reduction, size_average, reduce)
    input, target = _pair(input, target, name, same_shape=False)
    return L1.apply(input, target, _elementwise_weight(weight, input, name, True), reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0,
               weight=None) -> Tensor:
    """``0.5 d^2`` for ``|d| < delta``, ``delta (|d| - 0.5 delta)`` beyond, d = x - y.

    >>> import chainrule
    >>> huber_loss(chainrule.tensor([0.0, 0.0]), chainrule.tensor([0.5, 3.0]))
    tensor(1.3125)
    """
    name = "huber_loss"
    reduction = _reduction(name, reduction)
    if not delta > 0:
        raise ValueError(f"{name}: delta must be positive, got {delta}")
    input, target = _pair(input, target, name, same_shape=False)
    weight = _elementwise_weight(weight, input, name, True)
    return Huber.apply(input, target, weight, float(delta), 1.0, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """``0.5 d^2 / beta`` for ``|d| < beta``, ``|d| - 0.5 beta`` beyond; ``beta=0`` is L1.

    >>> import chainrule
    >>> smooth_l1_loss(chainrule.tensor([0.0, 0.0]), chainrule.tensor([0.5, 3.0]))
    tensor(1.3125)
    """
    name = "smooth_l1_loss"
    reduction = _reduction(name, reduction, size_average, reduce)
    if beta < 0:
        raise ValueError(f"{name}: beta must be non-negative, got {beta}")
    input, target = _pair(input, target, name, same_shape=False)
    if beta == 0:
        return L1.apply(input, target, None, reduction)
    return Huber.apply(input, target, None, float(beta), 1.0 / beta, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL divergence ``target * (log(target) - input)`` for log-probabilities ``input``
    (``log_target=True``: target given as log-probabilities too). Use ``reduction='batchmean'``
    for the mathematical KL divergence of a batch.

    >>> import chainrule
    >>> kl_div(chainrule.tensor([-0.5, -1.0]).log_softmax(0), chainrule.tensor([0.5, 0.5]),
    ...        reduction='batchmean')
    tensor(0.0155)
    """
    name = "kl_div"
    reduction = _reduction(name, reduction, size_average, reduce, (*_REDUCTIONS, "batchmean"))
    if reduction == "mean":
        warnings.warn("kl_div: reduction='mean' divides the total loss by both the batch size "
                      "and the support size; 'batchmean' divides only by the batch size and "
                      "matches the mathematical definition of KL divergence.", UserWarning,
                      stacklevel=2)
    input, target = _pair(input, target, name, same_shape=False, warn=False)
    return KLDiv.apply(input, target, reduction, bool(log_target))
