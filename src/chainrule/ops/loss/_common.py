"""What every loss shares: the reduction each primitive applies to its elementwise loss (and the
gradient that reduction sends back to each element), and the checks of the ``reduction`` argument
and of tensor arguments."""

from __future__ import annotations

import warnings

import numpy as np

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


def _upstream(grad: np.ndarray, reduction: str, count: float,
              weight: np.ndarray | None = None) -> np.ndarray:
    """The gradient reaching each element of the unreduced loss (0-d unless 'none'), times the
    elementwise ``weight`` the forward multiplied the loss by, if any."""
    if reduction != "none" and reduction != "sum":  # 'mean' and 'batchmean'
        # NOTE: a mean over nothing (all targets ignored) is NaN forward and sends zero gradient
        # back, as PyTorch does.
        grad = grad * (1.0 / count) if count else grad * 0.0
    return grad if weight is None else grad * weight


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
