"""Gradient clipping: rescale gradients by their total norm, or clamp them elementwise."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from chainrule.tensor import Tensor

_TensorOrTensors = Tensor | Iterable[Tensor]


def _grads(parameters: _TensorOrTensors) -> list[np.ndarray]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad._data for p in parameters if p.grad is not None]


def _vector_norm(arr: np.ndarray, p: float) -> np.generic:
    """The p-norm of all elements of ``arr`` (as ``torch.linalg.vector_norm``), in its dtype."""
    dtype = arr.dtype
    if arr.size == 0:
        return dtype.type(0)
    if p == math.inf:
        return np.max(np.abs(arr))
    if p == -math.inf:
        return np.min(np.abs(arr))
    if p == 0:
        return dtype.type(np.count_nonzero(arr))
    if p == 1:
        return np.sum(np.abs(arr))
    if p == 2:
        flat = arr.reshape(-1)
        # NOTE: one BLAS dot product, no squared temporary.
        return np.sqrt(np.dot(flat, flat))
    return np.sum(np.abs(arr) ** p) ** (1.0 / p)


def get_total_norm(tensors: _TensorOrTensors, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """The norm of the norms of ``tensors`` (that is, their norm as one concatenated vector).

    Args:
        tensors: a tensor or an iterable of tensors (not their gradients: the tensors).
        norm_type: the p of the p-norm; ``inf`` for the largest absolute value.
        error_if_nonfinite: raise if the total norm is nan or inf.
        foreach: accepted for compatibility.

    >>> import chainrule
    >>> chainrule.nn.utils.get_total_norm([chainrule.tensor([3.0]), chainrule.tensor([4.0])])
    tensor(5.)
    """
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    return _total_norm([t._data for t in tensors], float(norm_type), error_if_nonfinite)


def _total_norm(arrays: list[np.ndarray], norm_type: float, error_if_nonfinite: bool) -> Tensor:
    if not arrays:
        return Tensor._wrap(np.array(0.0, np.float32))
    norms = np.array([_vector_norm(a, norm_type) for a in arrays])
    total = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} for gradients from "
            "`parameters` is non-finite, so it cannot be clipped. To disable this error and "
            "scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`")
    return Tensor._wrap(np.asarray(total))


def clip_grads_with_norm_(parameters: _TensorOrTensors, max_norm: float,
                          total_norm: Tensor, foreach: bool | None = None) -> None:
    """Scale the parameters' gradients in place by ``max_norm / (total_norm + 1e-6)`` when
    that is below 1 (``total_norm`` as computed by :func:`get_total_norm`)."""
    _scale(_grads(parameters), float(max_norm), np.asarray(total_norm._data))


def _scale(grads: list[np.ndarray], max_norm: float, total: np.ndarray) -> None:
    if not grads:
        return
    one = total.dtype.type
    # NOTE: computed in the norm's dtype, as PyTorch does. A nan norm makes every gradient
    # nan, an inf norm turns infinities into nan (inf * 0): PyTorch's results, without warnings.
    coef = one(max_norm) / (total + one(1e-6))
    if coef >= 1.0:
        return
    with np.errstate(invalid="ignore"):
        for g in grads:
            g *= coef


def clip_grad_norm_(parameters: _TensorOrTensors, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Rescale the gradients of ``parameters`` in place so that their total norm is at most
    ``max_norm``; return the total norm before clipping.

    The norm is taken over all gradients together, as if concatenated into one vector.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` is clipped (those
            without a gradient are skipped).
        max_norm: the largest allowed total norm.
        norm_type: the p of the p-norm (default 2); ``inf`` for the largest absolute value.
        error_if_nonfinite: raise a RuntimeError if the total norm is nan or inf (otherwise
            the gradients are scaled by it anyway, as in PyTorch).
        foreach: accepted for compatibility.

    >>> import chainrule
    >>> w = chainrule.nn.Parameter(chainrule.tensor([3.0, 4.0]))
    >>> w.grad = chainrule.tensor([3.0, 4.0])
    >>> chainrule.nn.utils.clip_grad_norm_([w], max_norm=1.0)
    tensor(5.)
    >>> w.grad
    tensor([0.6, 0.8])
    """
    grads = _grads(parameters)
    total = _total_norm(grads, float(norm_type), error_if_nonfinite)
    _scale(grads, float(max_norm), total._data)
    return total


def clip_grad_value_(parameters: _TensorOrTensors, clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp the gradients of ``parameters`` in place to ``[-clip_value, clip_value]``.

    >>> import chainrule
    >>> w = chainrule.nn.Parameter(chainrule.zeros(3))
    >>> w.grad = chainrule.tensor([-2.0, 0.5, 3.0])
    >>> chainrule.nn.utils.clip_grad_value_([w], clip_value=1.0)
    >>> w.grad
    tensor([-1. ,  0.5,  1. ])
    """
    value = float(clip_value)
    for g in _grads(parameters):
        np.clip(g, -value, value, out=g)
