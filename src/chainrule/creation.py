"""Tensor factories: from data, filled, ranges and random, with PyTorch's signatures."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import _dtype
from chainrule.random import Generator, rng
from chainrule.tensor import Tensor, array_from


def _sizes(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"expected sizes to be non-negative integers, got {size}")
    return tuple(int(s) for s in size)


def _make(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data: Any, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``.

    Python floats give float32 (the default dtype), integers int64, bools bool; NumPy arrays
    keep their dtype.

    >>> import chainrule
    >>> chainrule.tensor([[1, 2], [3, 4]]).dtype
    dtype('int64')
    >>> chainrule.tensor([0.5, 1.5])
    tensor([0.5, 1.5])
    """
    return _make(np.array(array_from(data, dtype), copy=True), requires_grad)


def as_tensor(data: Any, dtype=None, device=None) -> Tensor:
    """A tensor sharing memory with ``data`` when possible (a NumPy array of the same dtype)."""
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    return Tensor._wrap(array_from(data, dtype))


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array (changes show in both)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(ndarray).__name__}")
    return Tensor._wrap(ndarray)


def _filled(size, value, dtype, requires_grad) -> Tensor:
    return _make(np.full(_sizes(size), value, _dtype.to_dtype(dtype)), requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros. ``zeros(2, 3)`` and ``zeros((2, 3))`` are the same."""
    return _make(np.zeros(_sizes(size), _dtype.to_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return _filled(size, 1, dtype, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (here: zeros, so results never depend on stale memory)."""
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (its dtype inferred from the value if not given)."""
    if dtype is None:
        dtype = array_from(fill_value).dtype
    return _filled((size,) if isinstance(size, int) else tuple(size), fill_value, dtype,
                   requires_grad)


def zeros_like(input: Tensor, *, dtype=None, requires_grad: bool = False) -> Tensor:
    return zeros(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def ones_like(input: Tensor, *, dtype=None, requires_grad: bool = False) -> Tensor:
    return ones(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def empty_like(input: Tensor, *, dtype=None, requires_grad: bool = False) -> Tensor:
    return zeros_like(input, dtype=dtype, requires_grad=requires_grad)


def full_like(input: Tensor, fill_value, *, dtype=None, requires_grad: bool = False) -> Tensor:
    return _filled(input.shape, fill_value, dtype or input.dtype, requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` up to (not including) ``end``; int64 unless a bound is a float.

    >>> import chainrule
    >>> chainrule.arange(3)
    tensor([0, 1, 2])
    """
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        is_float = any(isinstance(v, float) for v in (start, end, step))
        dtype = _dtype.get_default_dtype() if is_float else _dtype.int64
    return _make(np.arange(start, end, step).astype(_dtype.to_dtype(dtype)), requires_grad)


def linspace(start, end, steps: int, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    return _make(np.linspace(start, end, steps).astype(_dtype.to_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m)."""
    return _make(np.eye(n, m, dtype=_dtype.to_dtype(dtype)), requires_grad)


def _float_dtype(dtype) -> np.dtype:
    dt = _dtype.to_dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"expected a floating-point dtype for random values, got {dt}")
    return dt


def rand(*size, generator: Generator | None = None, dtype=None, device=None,
         requires_grad: bool = False) -> Tensor:
    """Uniform random values in [0, 1)."""
    dt = _float_dtype(dtype)
    return _make(rng(generator).random(_sizes(size), dtype=dt), requires_grad)


def randn(*size, generator: Generator | None = None, dtype=None, device=None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal random values."""
    dt = _float_dtype(dtype)
    return _make(rng(generator).standard_normal(_sizes(size), dtype=dt), requires_grad)


def randint(low, high=None, size=None, *, generator: Generator | None = None, dtype=None,
            device=None, requires_grad: bool = False) -> Tensor:
    """Random integers in ``[low, high)``; ``randint(high, size)`` starts at 0."""
    if size is None:
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint: missing the size argument")
    dt = _dtype.to_dtype(dtype or _dtype.int64)
    return _make(rng(generator).integers(low, high, _sizes((size,))).astype(dt), requires_grad)


def randperm(n: int, *, generator: Generator | None = None, dtype=None, device=None) -> Tensor:
    """A random permutation of ``0..n-1``."""
    return Tensor._wrap(rng(generator).permutation(n).astype(_dtype.to_dtype(dtype or "int64")))


def rand_like(input: Tensor, *, dtype=None, requires_grad: bool = False) -> Tensor:
    return rand(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype=None, requires_grad: bool = False) -> Tensor:
    return randn(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def normal(mean: float, std: float, size, *, generator: Generator | None = None,
           dtype=None, requires_grad: bool = False) -> Tensor:
    dt = _float_dtype(dtype)
    arr = rng(generator).normal(mean, std, _sizes((size,))).astype(dt)
    return _make(arr, requires_grad)
