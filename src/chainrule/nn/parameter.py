"""Parameter and Buffer: the two kinds of state a Module registers by type."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.tensor import Tensor, array_from


class Parameter(Tensor):
    """A tensor that is a learnable weight of a Module (``requires_grad=True`` by default).

    Assigning one to a Module attribute registers it, so it appears in ``parameters()`` and
    ``state_dict()``.

    >>> import chainrule
    >>> p = chainrule.nn.Parameter(chainrule.zeros(2))
    >>> p.requires_grad
    True
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        arr = np.zeros(0, np.float32) if data is None else array_from(data)
        Tensor.__init__(self, arr, dtype=arr.dtype)
        self._data = arr  # shares memory with the tensor it wraps, as in PyTorch
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + Tensor.__repr__(self)


class Buffer(Tensor):
    """A tensor of a Module's state that is not learned (running statistics, counters).

    ``persistent=False`` keeps it out of ``state_dict()``.
    """

    __slots__ = ("persistent",)

    def __init__(self, data: Any, *, persistent: bool = True) -> None:
        arr = array_from(data)
        Tensor.__init__(self, arr, dtype=arr.dtype)
        self._data = arr
        self.persistent = persistent
