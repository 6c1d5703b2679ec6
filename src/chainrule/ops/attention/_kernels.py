"""Compiled twins of the memory-bound passes of attention and the feed-forward block (see
:mod:`chainrule._jit`): one pass over a row while it is in cache instead of NumPy's several
passes over the whole array. Arrays are 2-D and C-contiguous (the callers make them so); an
absent operand is an empty array of the same dtype, so each kernel compiles once per dtype."""

from __future__ import annotations

from chainrule._jit import kernel

# NOTE: reassociation lets LLVM vectorise the row sums (partial sums in vector lanes, no less
# accurate than NumPy's pairwise sums on rows this short); no "nnan"/"ninf", so NaN and inf
# keep NumPy's meaning.
_FAST = {"reassoc", "contract", "nsz", "arcp"}


# --- feed-forward ---


@kernel
def bias_relu_(h, b):
    """h = max(h + b, 0) in place (b empty: no bias); NaN kept, as ``np.maximum``."""
    rows, f = h.shape
    zero = h.dtype.type(0)
    if b.shape[0] > 0:
        for i in range(rows):
            for j in range(f):
                v = h[i, j] + b[j]
                h[i, j] = zero if v < zero else v
    else:
        for i in range(rows):
            for j in range(f):
                v = h[i, j]
                h[i, j] = zero if v < zero else v


@kernel
def relu_backward_colsum_(dz, h, gb):
    """dz = 0 where h <= 0, else dz, in place (relu'(0) = 0; dz where h is NaN, as PyTorch);
    adds dz's column sums to ``gb`` (float64) when it is not empty."""
    rows, f = dz.shape
    zero = dz.dtype.type(0)
    if gb.shape[0] > 0:
        for i in range(rows):
            for j in range(f):
                v = zero if h[i, j] <= zero else dz[i, j]
                dz[i, j] = v
                gb[j] += v
    else:
        for i in range(rows):
            for j in range(f):
                dz[i, j] = zero if h[i, j] <= zero else dz[i, j]


# --- attention ---


@kernel(fastmath=_FAST)
def normalize_rows_(e, safe):
    """Rows of ``e`` (exponentiated scores) divided by their sums, in place: the softmax.
    A row summing to 0 (every key masked) stays 0 with ``safe``, else becomes NaN (0 / 0)."""
    rows, s = e.shape
    zero = e.dtype.type(0)
    one = e.dtype.type(1)
    for i in range(rows):
        z = zero
        for j in range(s):
            z += e[i, j]
        inv = one if safe and z == zero else one / z
        for j in range(s):
            e[i, j] *= inv


@kernel
def softmax_backward_rows_(t, p, d, r):
    """t = p * (t * d - r) in place, row by row (``d`` empty: no dropout): the scores' gradient
    from the weights' gradient ``t``, the softmax ``p`` and r = rowsum(dO * O)."""
    rows, s = t.shape
    if d.shape[0] > 0:
        for i in range(rows):
            ri = r[i]
            for j in range(s):
                t[i, j] = p[i, j] * (t[i, j] * d[i, j] - ri)
    else:
        for i in range(rows):
            ri = r[i]
            for j in range(s):
                t[i, j] = p[i, j] * (t[i, j] - ri)


@kernel(fastmath=_FAST)
def max_row_norm2(a):
    """The largest squared Euclidean norm among the rows of ``a`` (0 when it has none; NaN
    when a row has a NaN)."""
    rows, d = a.shape
    best = a.dtype.type(0)
    for i in range(rows):
        s = a.dtype.type(0)
        for j in range(d):
            s += a[i, j] * a[i, j]
        if s != s:
            return s
        best = s if s > best else best
    return best
