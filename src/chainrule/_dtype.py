"""dtypes and PyTorch's type-promotion rules, on NumPy dtypes."""

from __future__ import annotations

import numpy as np

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

_default_dtype = float32


def get_default_dtype() -> np.dtype:
    """The dtype a Python float becomes (float32 unless changed).

    >>> import chainrule
    >>> chainrule.get_default_dtype()
    dtype('float32')
    """
    return _default_dtype


def set_default_dtype(d) -> None:
    """Set the dtype Python floats become; float32 or float64."""
    global _default_dtype
    d = np.dtype(d)
    if d not in (float32, float64):
        raise TypeError(f"set_default_dtype: only float32 and float64 are supported, got {d}")
    _default_dtype = d


def to_dtype(d) -> np.dtype:
    """Turn anything naming a dtype (np.dtype, numpy type, string) into an np.dtype."""
    if d is None:
        return _default_dtype
    try:
        return np.dtype(d)
    except TypeError:
        raise TypeError(f"expected a dtype (e.g. chainrule.float32), got {d!r}") from None


def _category(dt: np.dtype) -> int:
    k = dt.kind
    return 0 if k == "b" else 2 if k in "fc" else 1


def result_type(a: np.ndarray, b) -> np.dtype:
    """The dtype of a binary op between array ``a`` and ``b`` (array or Python scalar).

    PyTorch's rule: a higher category (bool < integer < float) wins; within a category,
    dimensioned tensors beat zero-dim tensors, which beat Python scalars; a Python float meeting
    integers gives the default dtype.
    """
    da = a.dtype
    if not isinstance(b, np.ndarray):
        if isinstance(b, (bool, np.bool_)):
            cb = 0
        else:
            cb = 2 if isinstance(b, (float, np.floating)) else 1
        if cb <= _category(da):
            return da
        return _default_dtype if cb == 2 else int64
    db = b.dtype
    if da == db:
        return da
    ca, cb = _category(da), _category(db)
    if ca != cb:
        return da if ca > cb else db
    if (a.ndim == 0) == (b.ndim == 0):
        return np.promote_types(da, db)
    return da if a.ndim > 0 else db
