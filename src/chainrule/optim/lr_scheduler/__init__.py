"""Learning-rate schedules: each ``step()`` sets every param group's ``'lr'``.

The values follow PyTorch step by step and ``state_dict()`` holds the same entries as PyTorch's.

- ``chainable.py``: the base class LRScheduler and the chainable epoch schedules (StepLR,
  MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR), which update the current ``'lr'``
  recursively as PyTorch does, so they compose with other changes to the learning rate.
- ``one_cycle.py``: OneCycleLR, stepped every batch, momentum cycled too.
- ``plateau.py``: ReduceLROnPlateau, driven by a metric instead of the epoch count.
"""

from chainrule.optim.lr_scheduler.chainable import (
    EPOCH_DEPRECATION_WARNING,
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    StepLR,
    _LRScheduler,
)
from chainrule.optim.lr_scheduler.one_cycle import OneCycleLR
from chainrule.optim.lr_scheduler.plateau import ReduceLROnPlateau

__all__ = ["EPOCH_DEPRECATION_WARNING", "CosineAnnealingLR", "ExponentialLR", "LRScheduler",
           "LinearLR", "MultiStepLR", "OneCycleLR", "ReduceLROnPlateau", "StepLR", "_LRScheduler"]
