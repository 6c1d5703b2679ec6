"""Pointwise losses: input and target of one shape (or broadcast), a loss per element, then the
reduction: binary cross-entropy (of probabilities, or of logits with the sigmoid fused), MSE, L1,
Huber and smooth L1, and KL divergence."""

from __future__ import annotations

import warnings

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops.elementwise import _prepare, stable_sigmoid
from chainrule.ops.loss._common import _REDUCTIONS, _reduce, _reduction, _tensor, _upstream
from chainrule.tensor import Tensor

# --- binary cross-entropy ---


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
        g = _upstream(grad, ctx.reduction, ctx.count, ctx.weight)
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
        g = _upstream(grad, ctx.reduction, ctx.count, ctx.weight)
        x, y, pw = ctx.x, ctx.y, ctx.pos_weight
        gx = gy = None
        if nx:
            s = stable_sigmoid(x)
            gx = g * (s - y) if pw is None else g * ((1.0 + (pw - 1.0) * y) * s - pw * y)
        if ny:
            gy = -g * x if pw is None else g * ((pw - 1.0) * ctx.sp - x)
        return gx, gy, None, None, None


# --- regression, and KL divergence ---


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
        g = _upstream(grad, ctx.reduction, ctx.count, ctx.weight)
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
        g = _upstream(grad, ctx.reduction, ctx.count, ctx.weight)
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
        g = _upstream(grad, ctx.reduction, ctx.count, ctx.weight)
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


# --- public functions ---


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
