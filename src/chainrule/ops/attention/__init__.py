"""Attention and the Transformer's blocks, in three files:

- ``scaled_dot_product.py``: the fused attention kernel on raw arrays (scores, mask, softmax,
  dropout and the product with the values, with its hand-written backward), its primitive and
  ``scaled_dot_product_attention``.
- ``multihead.py``: multi-head attention: the packed input projection, attention over heads
  written straight into the merged layout, the masks and ``multi_head_attention_forward``.
- ``feedforward.py``: the Transformer's position-wise feed-forward block (linear, relu,
  linear, and optionally the residual sum) fused.
"""

from chainrule.ops.attention.feedforward import FeedForward, feed_forward
from chainrule.ops.attention.multihead import (
    HeadAttention,
    InProjection,
    _mha,
    multi_head_attention_forward,
)
from chainrule.ops.attention.scaled_dot_product import (
    ScaledDotProductAttention,
    _scores_bounded,
    scaled_dot_product_attention,
)

__all__ = [
    "FeedForward",
    "HeadAttention",
    "InProjection",
    "ScaledDotProductAttention",
    "_mha",
    "_scores_bounded",
    "feed_forward",
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
]
