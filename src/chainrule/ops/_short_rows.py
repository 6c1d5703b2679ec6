"""Reductions along a short last axis (a classifier's 10 logits per sample), as softmax,
log-softmax and cross-entropy take them.

NOTE: NumPy reduces a C-contiguous (R, K) array along its last axis one row at a time, with a
loop over K values that is too short to pay for its set-up: ``np.maximum.reduce`` of (128, 10)
float32 took 11-14 us, 2,048 rows 190 us. Copied transposed to (K, R), the same reduction is K
elementwise passes over contiguous rows of R values: 2.7 us and 18 us. (Past about 64 values per
row the copy costs more than it saves.) ``maximum`` gives the same bits either way; ``add``
sums the K values of a row in order instead of NumPy's pairwise blocks of 8, so it is taken
that way only for K <= 16, where the two differ in the last bit at most.
"""

from __future__ import annotations

import numpy as np

# the longest last axis taken transposed, per ufunc
_MAX_K: dict[object, int] = {np.maximum: 64, np.add: 16}
_MIN_ROWS = 64
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def reduce_keepdims(ufunc: np.ufunc, x: np.ndarray, axis: int) -> np.ndarray:
    """``ufunc.reduce(x, axis=axis, keepdims=True)`` for ``np.maximum`` or ``np.add``."""
    k = x.shape[axis] if x.ndim else 0
    if (axis == x.ndim - 1 and 1 < k <= _MAX_K[ufunc] and x.size >= _MIN_ROWS * k
            and x.dtype in _FLOATS):
        return ufunc.reduce(np.ascontiguousarray(x.reshape(-1, k).T), axis=0).reshape(
            *x.shape[:-1], 1)
    return ufunc.reduce(x, axis=axis, keepdims=True)
