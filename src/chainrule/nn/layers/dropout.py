"""Dropout layers."""

from __future__ import annotations

from chainrule.nn.module import Module
from chainrule.ops.dropout import dropout
from chainrule.tensor import Tensor


class Dropout(Module):
    """During training, zeroes each element with probability ``p`` and scales the others by
    ``1 / (1 - p)``; the identity in eval mode.

    The mask comes from the default generator (``chainrule.manual_seed`` makes it reproducible).

    Args:
        p: probability of an element being zeroed (default 0.5).
        inplace: overwrite the input instead of returning a new tensor (default False).

    Shape:
        input (*) -> output of the same shape.

    >>> import chainrule
    >>> m = chainrule.nn.Dropout(p=0.2)
    >>> m(chainrule.randn(20, 16)).shape
    (20, 16)
    >>> m.eval()(chainrule.ones(3)).tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
