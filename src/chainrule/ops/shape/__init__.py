"""Shape, movement and indexing primitives, in three files:

- ``movement.py``: the same elements in a new layout (reshape, flatten, squeeze, unsqueeze,
  permute, transpose, expand, repeat, flip, pad).
- ``indexing.py``: selection and scatter (``x[key]``, ``x[key] = value``, gather, index_select,
  narrow, masked_fill, where).
- ``joining.py``: cat and stack, and their inverses split, chunk and unbind.
"""

from chainrule.ops.shape.indexing import (
    Gather,
    Index,
    IndexPut,
    MaskedFill,
    Where,
    gather,
    getitem,
    index_select,
    masked_fill,
    narrow,
    setitem,
    where,
)
from chainrule.ops.shape.joining import Cat, Stack, cat, chunk, split, stack, unbind
from chainrule.ops.shape.movement import (
    Expand,
    Flip,
    Pad,
    Permute,
    Repeat,
    Reshape,
    expand,
    flatten,
    flip,
    pad,
    permute,
    repeat,
    reshape,
    squeeze,
    transpose,
    unsqueeze,
)

__all__ = ["Cat", "Expand", "Flip", "Gather", "Index", "IndexPut", "MaskedFill", "Pad", "Permute",
           "Repeat", "Reshape", "Stack", "Where", "cat", "chunk", "expand", "flatten", "flip",
           "gather", "getitem", "index_select", "masked_fill", "narrow", "pad", "permute",
           "repeat", "reshape", "setitem", "split", "squeeze", "stack", "transpose", "unbind",
           "unsqueeze", "where"]
