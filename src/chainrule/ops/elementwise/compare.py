"""Elementwise comparisons and logical ops: no gradient, a bool tensor out."""

from __future__ import annotations

import numpy as np

from chainrule.ops.elementwise.binary import _arr, _check_broadcast, _prepare
from chainrule.tensor import Tensor

# --- comparisons (no gradient) ---


def _compare(ufunc, a, b) -> Tensor:
    a, b = _prepare(a, b)
    try:
        return Tensor._wrap(ufunc(_arr(a), _arr(b)))
    except ValueError:
        _check_broadcast(ufunc.__name__, a, b)
        raise


def eq(input, other):
    return _compare(np.equal, input, other)


def ne(input, other):
    return _compare(np.not_equal, input, other)


def lt(input, other):
    return _compare(np.less, input, other)


def le(input, other):
    return _compare(np.less_equal, input, other)


def gt(input, other):
    return _compare(np.greater, input, other)


def ge(input, other):
    return _compare(np.greater_equal, input, other)


def isnan(input):
    return Tensor._wrap(np.isnan(input._data))


def isinf(input):
    return Tensor._wrap(np.isinf(input._data))


def isfinite(input):
    return Tensor._wrap(np.isfinite(input._data))


def logical_not(input):
    return Tensor._wrap(np.logical_not(input._data))


def logical_and(input, other):
    return _compare(np.logical_and, input, other)


def logical_or(input, other):
    return _compare(np.logical_or, input, other)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """Whether two tensors are equal within ``atol + rtol * |other|``."""
    return bool(np.allclose(_arr(input), _arr(other), rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other) -> bool:
    """Whether two tensors have the same shape and elements."""
    return input.shape == other.shape and bool(np.array_equal(input._data, other._data))
