"""Flatten parameters into one vector and back."""

from __future__ import annotations

from collections.abc import Iterable

from chainrule.ops.shape import cat
from chainrule.tensor import Tensor


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor (differentiable).

    >>> import chainrule
    >>> net = chainrule.nn.Linear(3, 2)
    >>> chainrule.nn.utils.parameters_to_vector(net.parameters()).shape
    (8,)
    """
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Set the parameters' values from consecutive slices of the 1-D tensor ``vec``.

    As in PyTorch, each parameter's data becomes a view of ``vec``'s memory.

    >>> import chainrule
    >>> net = chainrule.nn.Linear(3, 2)
    >>> chainrule.nn.utils.vector_to_parameters(chainrule.zeros(8), net.parameters())
    >>> float(net.weight.abs().sum())
    0.0
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected a Tensor, but got: "
                        f"{type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != total:
        raise ValueError(f"vector_to_parameters: vec of shape {vec.shape} does not match the "
                         f"parameters, expected shape ({total},)")
    arr, start = vec._data, 0
    for p in params:
        n = p.numel()
        p.data = Tensor._wrap(arr[start:start + n].reshape(p.shape))
        start += n
