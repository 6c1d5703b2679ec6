"""What the fused recurrent kernels share: which rows each time step owns, how the batch is
split over threads, the input projection and the weight gradients.

A sequence is held time-major as rows: step ``t`` owns rows ``offs[t]:offs[t] + sizes[t]`` of a
2-D array, where ``sizes`` are the per-step batch sizes (all equal for a padded batch, the
non-increasing ``batch_sizes`` of a ``PackedSequence`` otherwise; the sequences are sorted by
length, so the ones still running at a step are its first rows).

The sequences of a batch are independent, so a large batch is cut into a few row ranges that
run their whole recurrence on separate threads (see :func:`plan` and :func:`run_parts`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext

import numpy as np

from chainrule.ops import _threads
from chainrule.ops._threads import _OpenBLAS

# NOTE: sigmoid(z) = 0.5 * tanh(z / 2) + 0.5 is stable for every z (no exp overflow) and lets
# one tanh call cover all the gates of a step: the sigmoid gates' rows of the weights and biases
# are pre-scaled by 0.5 (exact in binary floating point), then tanh, then * scale + (1 - scale).

_THREADED_GEMM_MACS = 4_000_000
_MIN_PART_ROWS = 16


def per_gate(values: tuple[float, ...], hidden: int, dtype) -> np.ndarray:
    """A vector over the gate rows: ``values[k]`` for every row of gate ``k``."""
    return np.repeat(np.array(values, dtype), hidden)


def derivative(g: np.ndarray, sigmoid_gate: np.ndarray, tanh_cols: slice,
               out: np.ndarray) -> np.ndarray:
    """The activations' derivatives from their values: s (1 - s) for a sigmoid gate, 1 - t^2
    for the tanh gate, both as (a - y) * y + b with (a, b) = (1, 0) and (0, 1).

    ``sigmoid_gate`` (a row, or rows as many as ``g``'s) is 1 on the sigmoid gates' columns and
    0 on ``tanh_cols``.
    """
    np.subtract(sigmoid_gate, g, out=out)
    out *= g
    out[:, tanh_cols] += 1
    return out


def gate_bias(bias: np.ndarray | None, scale: np.ndarray | None, size: int,
              dtype) -> np.ndarray:
    """The bias the compiled step kernels add to each step's pre-activations (pre-scaled like
    the weights; zeros when there is none).

    NOTE: on the compiled path the input projection leaves the bias out and the step kernel
    adds it while it reads the row anyway: one pass less over the (steps * batch, gates)
    buffer (8 MB in the LSTM benchmark: its projection took 4.2 -> 3.5 ms of CPU time).
    """
    if bias is None:
        return np.zeros(size, dtype)
    return bias if scale is None else bias * scale


def _split(n: int, k: int) -> list[tuple[int, int]]:
    """``[0, n)`` cut into ``k`` ranges of (nearly) equal length."""
    return [(n * j // k, n * (j + 1) // k) for j in range(k)]


def plan(w_hh: np.ndarray, batch: int) -> tuple[AbstractContextManager, list[tuple[int, int]]]:
    """How a recurrence uses the cores: the BLAS threading to run under, and the batch's row
    ranges ``(lo, hi)`` that run their recurrences on separate threads (one range: no split).

    NOTE: a step's GEMM is (batch, hidden) @ (hidden, gates * hidden). When it is small, any
    threading costs more than it gains (on a busy 2-core machine the adding-problem example took
    4x the CPU time with two BLAS threads): everything runs on one thread. When it is large and
    the batch has at least 16 rows per core, the batch is cut by rows: each thread runs its
    rows' whole sequence (GEMMs and gate math) with no synchronisation between steps, and the
    GEMMs over all steps are cut in as many blocks (see :func:`matmul`). Letting OpenBLAS thread
    each step's GEMM instead (as before) synchronises twice per step and leaves the gate math, a
    third of the time, on one core; on a busy machine each synchronisation also waits for a
    descheduled BLAS thread (LSTM benchmark step, batch 32, hidden 256, 64 steps, at load 7 on 2
    cores: 1.7 s with OpenBLAS's threads, 0.2-0.3 s cut in two). The price is ~25% more CPU
    time in the recurrences (two 16-row GEMMs per step cost more than one of 32 rows: both read
    the whole weight matrix). With fewer rows per thread that price outgrows the gain, so large
    steps with a small batch let OpenBLAS thread their GEMMs.
    """
    large = batch * w_hh.shape[0] * w_hh.shape[1] >= _THREADED_GEMM_MACS
    k = min(_threads._THREADS, batch // _MIN_PART_ROWS) if large else 1
    if k > 1 and _OpenBLAS.found():
        return _OpenBLAS.single_threaded(), _split(batch, k)
    return (nullcontext() if large else _OpenBLAS.single_threaded()), [(0, batch)]


def compiled_loops(dtype):
    """The module that runs a whole recurrence per thread in compiled code
    (:mod:`chainrule.ops._recurrent_loops`) when it applies - numba and MKL there, a float
    dtype - else None."""
    from chainrule import _jit, _mkl

    if not (_jit.enabled(dtype) and _mkl.available()):
        return None
    from chainrule.ops import _recurrent_loops

    return _recurrent_loops


def run_parts(ranges: list[tuple[int, int]], work: Callable[[int, int], None]) -> None:
    """``work(lo, hi)`` for every range, one thread each (BLAS single-threaded meanwhile)."""
    if len(ranges) == 1:
        work(*ranges[0])
        return

    def chunk(a: int, b: int, slot: int) -> None:
        for lo, hi in ranges[a:b]:
            work(lo, hi)

    _threads._each(len(ranges), chunk)


def matmul(a: np.ndarray, b: np.ndarray, ranges: list[tuple[int, int]]) -> np.ndarray:
    """``a @ b``; when the batch is split (several ``ranges``), as many blocks of ``a``'s rows,
    one GEMM per thread."""
    k = len(ranges)
    if k == 1:
        return np.matmul(a, b)
    out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))

    def work(lo: int, hi: int) -> None:
        np.matmul(a[lo:hi], b, out=out[lo:hi])

    run_parts(_split(a.shape[0], k), work)
    return out


def colsum(a: np.ndarray, ranges: list[tuple[int, int]]) -> np.ndarray:
    """``a.sum(axis=0)``; when the batch is split, as many blocks of columns, one per thread."""
    k = len(ranges)
    if k == 1:
        return a.sum(axis=0)
    out = np.empty(a.shape[1], a.dtype)

    def work(lo: int, hi: int) -> None:
        a[:, lo:hi].sum(axis=0, out=out[lo:hi])

    run_parts(_split(a.shape[1], k), work)
    return out


class Steps:
    """Which rows each time step owns, in the order the direction processes them."""

    def __init__(self, x: np.ndarray, batch_sizes, reverse: bool) -> None:
        if batch_sizes is None:
            sizes = [x.shape[1]] * x.shape[0]
        else:
            sizes = list(batch_sizes)
        offs = np.cumsum([0] + sizes[:-1]).tolist()
        order = range(len(sizes) - 1, -1, -1) if reverse else range(len(sizes))
        self.rows = [(offs[t], sizes[t]) for t in order]  # (offset, active batch) per step
        self.B, self.N = sizes[0], sum(sizes)
        self.uniform = sizes.count(sizes[0]) == len(sizes)
        self.reverse = reverse

    def states(self, init: np.ndarray | None, hidden: int, dtype) -> tuple[np.ndarray, ...]:
        """(out, prev): every step's new state and, row for row, the state it started from.

        Equal batch sizes: both are views of one buffer holding ``init`` and all the states, so
        ``prev`` (stacked for the weight gradient) costs nothing. Packed: ``prev`` is filled as
        the steps run (see ``link``).
        """
        n, b = self.N, self.B
        if not self.uniform:
            prev = np.empty((n, hidden), dtype)
            return np.empty((n, hidden), dtype), prev
        buf = np.empty((n + b, hidden), dtype)
        if self.reverse:
            out, prev, first = buf[:n], buf[b:], buf[n:]
        else:
            out, prev, first = buf[b:], buf[:n], buf[:b]
        first[...] = 0 if init is None else init
        return out, prev

    def table(self, backward: bool = False) -> np.ndarray:
        """``rows`` as an (steps, 2) int64 array of (first row, batch size), in processing
        order (reversed with ``backward``), for the compiled loops."""
        rows = self.rows[::-1] if backward else self.rows
        return np.array(rows, np.int64).reshape(len(rows), 2)

    def init(self, state: np.ndarray | None, hidden: int, dtype) -> np.ndarray:
        """An initial state as the compiled loops take it: the given one, or zeros."""
        return np.zeros((self.B, hidden), dtype) if state is None else state

    def spans(self, lo: int, hi: int, backward: bool = False) -> Iterator[tuple[int, int, int]]:
        """``(k, a, z)`` for every step ``k`` (last first with ``backward``) that has rows among
        the batch positions ``[lo, hi)``: they are its rows ``a:z``."""
        for k in range(len(self.rows) - 1, -1, -1) if backward else range(len(self.rows)):
            o, n = self.rows[k]
            a, z = o + lo, o + min(n, hi)
            if a < z:
                yield k, a, z

    def link(self, k: int, prev: np.ndarray, out: np.ndarray, init: np.ndarray | None,
             lo: int, hi: int) -> None:
        """Packed only: copy the state step ``k`` starts from into its rows ``[lo, hi)`` of
        ``prev`` (batch positions, clipped to the rows active at that step)."""
        o, n = self.rows[k]
        hi = min(n, hi)
        m = lo
        if k:
            po, pn = self.rows[k - 1]
            m = max(lo, min(hi, pn))
            prev[o + lo:o + m] = out[po + lo:po + m]
        if m < hi:
            # NOTE: a sequence joining at this step (only in the reverse direction) starts from
            # its initial state.
            prev[o + m:o + hi] = 0 if init is None else init[m:hi]

    def final(self, out: np.ndarray) -> np.ndarray:
        """Each sequence's state after its own last step (finished sequences stay frozen)."""
        res = np.empty((self.B, out.shape[1]), out.dtype)
        for k, (o, n) in enumerate(self.rows):
            nxt = self.rows[k + 1][1] if k + 1 < len(self.rows) else 0
            if nxt < n:
                res[nxt:n] = out[o + nxt:o + n]
        return res


def project(x2: np.ndarray, w: np.ndarray, bias: np.ndarray | None, scale: np.ndarray | None,
            ranges: list[tuple[int, int]]) -> np.ndarray:
    """All steps' input projection in one GEMM, with the sigmoid gates' rows pre-scaled."""
    # NOTE: a C-contiguous copy of W^T makes the GEMM ~15% faster than a transposed view.
    w_t = np.ascontiguousarray(w.T) if scale is None else np.multiply(w.T, scale, order="C")
    g = matmul(x2, w_t, ranges)
    if bias is not None:
        g += bias if scale is None else bias * scale
    return g


def param_grads(ctx, k: int, d: np.ndarray, x2: np.ndarray, prev: np.ndarray,
                w_ih: np.ndarray, ranges: list[tuple[int, int]],
                dh_rows: np.ndarray | None = None) -> tuple:
    """dx, dW_ih, dW_hh, db_ih, db_hh: one GEMM each over all steps.

    ``k`` is the position of w_ih among the primitive's inputs, ``d`` the gradient of the gates'
    pre-activations, ``dh_rows`` (GRU) that of the hidden-side pre-activations where it differs;
    ``ranges`` as from :func:`plan` (several: the GEMMs are cut over the threads).
    """
    dh_rows = d if dh_rows is None else dh_rows
    need = ctx.needs_input_grad
    xshape = ctx.x.shape
    dx = matmul(d, w_ih, ranges).reshape(xshape) if need[0] else None
    dw_ih = matmul(d.T, x2, ranges) if need[k] else None
    dw_hh = matmul(dh_rows.T, prev, ranges) if need[k + 1] else None
    db_ih = db_hh = None
    if need[k + 2] or need[k + 3]:
        db_ih = colsum(d, ranges)
        db_hh = db_ih.copy() if dh_rows is d else colsum(dh_rows, ranges)
    return dx, dw_ih, dw_hh, db_ih, db_hh
