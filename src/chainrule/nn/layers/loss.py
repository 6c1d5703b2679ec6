"""Loss layers: MSELoss, L1Loss, HuberLoss, SmoothL1Loss, BCELoss, BCEWithLogitsLoss,
CrossEntropyLoss, NLLLoss, KLDivLoss. Each holds its options (class weights as buffers, as in
PyTorch) and forwards into its functional form."""

from __future__ import annotations

from chainrule.nn.module import Module
from chainrule.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    legacy_reduction,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from chainrule.tensor import Tensor


class _Loss(Module):
    """Base of the losses: the ``reduction`` ('none' | 'mean' | 'sum'), or the one PyTorch's
    deprecated ``size_average`` / ``reduce`` pair stands for."""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = legacy_reduction(size_average, reduce)
        self.reduction = reduction


class MSELoss(_Loss):
    """Mean squared error ``(x - y)^2``.

    Args:
        size_average, reduce: deprecated (use ``reduction``).
        reduction: 'none' | 'mean' (default) | 'sum'.

    Shape:
        input (*), target (*) the same shape -> a scalar, or (*) for 'none'.

    >>> import chainrule
    >>> chainrule.nn.MSELoss()(chainrule.tensor([1.0, 2.0]), chainrule.tensor([1.0, 4.0]))
    tensor(2.)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error ``|x - y|``.

    Args:
        size_average, reduce: deprecated (use ``reduction``).
        reduction: 'none' | 'mean' (default) | 'sum'.

    Shape:
        input (*), target (*) the same shape -> a scalar, or (*) for 'none'.

    >>> import chainrule
    >>> chainrule.nn.L1Loss()(chainrule.tensor([1.0, 2.0]), chainrule.tensor([1.0, 4.0]))
    tensor(1.)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """``0.5 d^2`` for ``|d| < delta``, ``delta (|d| - 0.5 delta)`` beyond, d = x - y.

    Args:
        reduction: 'none' | 'mean' (default) | 'sum'.
        delta: where the loss turns from quadratic to linear (default 1.0).

    Shape:
        input (*), target (*) the same shape -> a scalar, or (*) for 'none'.

    >>> import chainrule
    >>> chainrule.nn.HuberLoss()(chainrule.tensor([0.0]), chainrule.tensor([3.0]))
    tensor(2.5)
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """``0.5 d^2 / beta`` for ``|d| < beta``, ``|d| - 0.5 beta`` beyond, d = x - y.

    Args:
        size_average, reduce: deprecated (use ``reduction``).
        reduction: 'none' | 'mean' (default) | 'sum'.
        beta: where the loss turns from quadratic to linear (default 1.0; 0 gives L1).

    Shape:
        input (*), target (*) the same shape -> a scalar, or (*) for 'none'.

    >>> import chainrule
    >>> chainrule.nn.SmoothL1Loss(beta=0.5)(chainrule.tensor([0.0]), chainrule.tensor([3.0]))
    tensor(2.75)
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities: ``-w (y log x + (1 - y) log(1 - x))``, the logs
    clamped at -100.

    Args:
        weight: rescales each element's loss; broadcast to the input (a buffer, as in PyTorch).
        size_average, reduce: deprecated (use ``reduction``).
        reduction: 'none' | 'mean' (default) | 'sum'.

    Shape:
        input (*) probabilities in [0, 1], target (*) the same shape -> a scalar, or (*).

    >>> import chainrule
    >>> chainrule.nn.BCELoss()(chainrule.tensor([0.5]), chainrule.tensor([1.0]))
    tensor(0.6931)
    """

    weight: Tensor | None

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross-entropy in one numerically stable step.

    Args:
        weight: rescales each element's loss; broadcast to the input (a buffer).
        size_average, reduce: deprecated (use ``reduction``).
        reduction: 'none' | 'mean' (default) | 'sum'.
        pos_weight: weight of the positive term per class, broadcast along the last dimension
            (a buffer); > 1 raises recall, < 1 precision.

    Shape:
        input (*) logits, target (*) the same shape -> a scalar, or (*) for 'none'.

    >>> import chainrule
    >>> chainrule.nn.BCEWithLogitsLoss()(chainrule.tensor([0.0]), chainrule.tensor([1.0]))
    tensor(0.6931)
    """

    weight: Tensor | None
    pos_weight: Tensor | None

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean",
                 pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return binary_cross_entropy_with_logits(input, target, self.weight,
                                                reduction=self.reduction,
                                                pos_weight=self.pos_weight)


class CrossEntropyLoss(_Loss):
    """Cross-entropy between logits and class indices or class probabilities (log-softmax and
    negative log-likelihood fused, stable for any finite logits).

    Args:
        weight: a rescaling weight per class, shape (C) (a buffer, as in PyTorch).
        size_average, reduce: deprecated (use ``reduction``).
        ignore_index: class-index targets equal to it add nothing (default -100).
        reduction: 'none' | 'mean' (default) | 'sum'; 'mean' with class indices divides by the
            summed weight of the non-ignored targets.
        label_smoothing: mixes the target with the uniform distribution, in [0, 1] (default 0).

    Shape:
        input (C), (N, C) or (N, C, d1, ..., dk) logits; target (), (N) or (N, d1, ..., dk)
        class indices, or probabilities of the input's shape -> a scalar, or the per-sample
        shape for 'none'.

    >>> import chainrule
    >>> loss = chainrule.nn.CrossEntropyLoss()
    >>> loss(chainrule.tensor([[2.0, 0.0], [0.0, 2.0]]), chainrule.tensor([0, 1]))
    tensor(0.1269)
    """

    weight: Tensor | None

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                             reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (e.g. from LogSoftmax) and class indices.

    Args:
        weight: a rescaling weight per class, shape (C) (a buffer).
        size_average, reduce: deprecated (use ``reduction``).
        ignore_index: targets equal to it add nothing (default -100).
        reduction: 'none' | 'mean' (default, divides by the summed weight of the targets) |
            'sum'.

    Shape:
        input (C), (N, C) or (N, C, d1, ..., dk); target (), (N) or (N, d1, ..., dk) -> a scalar,
        or the target's shape for 'none'.

    >>> import chainrule
    >>> chainrule.nn.NLLLoss()(chainrule.tensor([[-0.5, -1.0]]), chainrule.tensor([1]))
    tensor(1.)
    """

    weight: Tensor | None

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                        reduction=self.reduction)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence ``target * (log(target) - input)`` for log-probabilities
    ``input``; use ``reduction='batchmean'`` for the mathematical KL divergence of a batch.

    Args:
        size_average, reduce: deprecated (use ``reduction``).
        reduction: 'none' | 'batchmean' | 'sum' | 'mean' (default, divides by every element).
        log_target: the target is given as log-probabilities too (default False).

    Shape:
        input (*), target (*) the same shape -> a scalar, or (*) for 'none'.

    >>> import chainrule
    >>> kl = chainrule.nn.KLDivLoss(reduction='batchmean')
    >>> kl(chainrule.tensor([[0.25, 0.75]]).log(), chainrule.tensor([[0.5, 0.5]]))
    tensor(0.1438)
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return kl_div(input, target, reduction=self.reduction, log_target=self.log_target)
