"""Loss primitives, each fused with its reduction, and the functional losses with PyTorch's
arguments, defaults and reductions.

- ``cross_entropy.py``: losses over a class axis (``cross_entropy``, ``nll_loss``).
- ``pointwise.py``: a loss per element of same-shape input and target
  (``binary_cross_entropy``, ``binary_cross_entropy_with_logits``, ``mse_loss``, ``l1_loss``,
  ``huber_loss``, ``smooth_l1_loss``, ``kl_div``).
- ``_common.py``: the reductions and argument checks they share.
"""

from chainrule.ops.loss._common import legacy_reduction
from chainrule.ops.loss.cross_entropy import (
    NLL,
    CrossEntropy,
    CrossEntropyProbs,
    cross_entropy,
    nll_loss,
)
from chainrule.ops.loss.pointwise import (
    BCE,
    L1,
    MSE,
    BCEWithLogits,
    Huber,
    KLDiv,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    smooth_l1_loss,
)

__all__ = ["BCE", "BCEWithLogits", "CrossEntropy", "CrossEntropyProbs", "Huber", "KLDiv", "L1",
           "MSE", "NLL", "binary_cross_entropy", "binary_cross_entropy_with_logits",
           "cross_entropy", "huber_loss", "kl_div", "l1_loss", "legacy_reduction", "mse_loss",
           "nll_loss", "smooth_l1_loss"]
