"""Pooling: max_pool1d/2d, avg_pool2d and adaptive_avg_pool2d as fused primitives.

- ``max.py``: ``MaxPool`` (1-D and 2-D) and its functional forms.
- ``avg.py``: ``AvgPool`` and ``AdaptiveAvgPool2d`` and theirs.
- ``_common.py``: output sizes, padding, per-offset slices, memory layouts and argument checks.
"""

from chainrule.ops.pool.avg import AdaptiveAvgPool2d, AvgPool, adaptive_avg_pool2d, avg_pool2d
from chainrule.ops.pool.max import MaxPool, max_pool1d, max_pool2d

__all__ = ["AdaptiveAvgPool2d", "AvgPool", "MaxPool", "adaptive_avg_pool2d", "avg_pool2d",
           "max_pool1d", "max_pool2d"]
