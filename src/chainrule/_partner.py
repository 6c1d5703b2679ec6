"""A partner thread that runs half of a large MKL product while the caller runs the other half
(or one of a pair of products while the caller runs the other).

Used by :func:`chainrule._mkl.matmul` and ``matmul_pair`` when numba and MKL are both there
(the ``fast`` extra).

NOTE (why not ``ops/_threads``): waking a sleeping thread on the other core costs ~60 us each way
in this VM (a futex wake is an interrupt between virtual CPUs). Handing one half of
(128, 784) @ (784, 512) (850 us on one MKL thread, 530 us a half) to a sleeping worker took
1,000-1,170 us in all, slower than OpenBLAS's own two threads (820-900 us); PyTorch's MKL keeps
its OpenMP threads spinning between products (590 us). So does this partner: after a product it
keeps polling for the next one for ``SPIN_NS`` (2 ms, yielding its core to any other runnable
thread each time round) before it sleeps on a lock. The hand-over is an int64 array, and the
partner's loop and its call into MKL are compiled by numba, so it never waits for the GIL: the
same product takes 600-700 us.

The protocol (one job in flight; ``lock`` keeps other threads out):
- the caller (compiled, :func:`_run`) writes the job, then ``ctl[POSTED] += 1``, and runs its
  own part;
- whoever comes first claims the job by a compare-and-swap of ``ctl[CLAIMED]`` from its number
  minus one to its number: the partner as soon as it sees it, the caller once its own part is
  done (:func:`_finish`). The claimer runs it and sets ``ctl[DONE]``; the caller, if it lost,
  polls for ``ctl[DONE]``. So a partner that is asleep, or whose core the VM's host has taken,
  costs the caller the time of doing that part itself, never a wait;
- the partner sleeps (on ``wake``, after setting ``ctl[ASLEEP]`` under ``sleep_lock``) only
  when nothing is posted; the caller wakes it before posting a product (:meth:`_Partner.run`)
  but never for an elementwise op (waking costs ~60 us).
"""

from __future__ import annotations

import _thread
import os

import numba
import numpy as np

from chainrule._native import (
    CHAIN_FIELDS,
    SCHED_YIELD,
    blas_strided,
    ccall,
    chain_rows,
    claim,
    fence,
    gemm_fused,
    matmul,
    now_ns,
    operand,
    pointer,
    table,
)
from chainrule._two_cores import ADD, RELU, RELU_GRAD, ROW, SAME, SUB

# NOTE: how long the partner polls after a product before it sleeps. 0.5 ms was too short for
# the gap between the MLP step's forward and backward products (asleep 43% of the time at the
# second layer's backward); 2 ms: MLP step 1.19x -> 1.13x PyTorch, raw-op MLP 1.15x -> 1.08x
# (A/B in one process), LeNet-5 and the Transformer unchanged. Intel's OpenMP spins 200 ms.
SPIN_NS = 2_000_000
_POSTED, _DONE, _ASLEEP, _QUIET, _CLAIMED = range(5)
# job slots: the kind (0/1: a float32/float64 GEMM, 2/3: a float32/float64 elementwise op, 4/5:
# a float32/float64 chain of Linear layers), then for a GEMM _native.gemm_fused's arguments
# from ``ta`` on, for an elementwise op _elementwise_at's from ``op`` on, for a chain
# _native.chain_rows's from ``layers`` on (the table's address first); the float64
# ``scalar``: an elementwise op's scalar.
_JOB = 14
_ELEMENTWISE = 2  # (kinds below it are GEMMs)
_CHAIN = 4


@numba.njit(inline="always")
def _binop(op, a, b):
    """``a op b`` for ADD, SUB, MUL (inlined: LLVM takes the branch on ``op`` out of the loops
    that call it, which then vectorise)."""
    if op == ADD:
        return a + b
    if op == SUB:
        return a - b
    return a * b


@numba.njit(nogil=True, cache=True)
def _elementwise(op, mode, x, y, out, lo, hi, s):
    """``out[lo:hi] = op(x, y)[lo:hi]`` over 1-D arrays: ``op`` one of chainrule._two_cores's
    ADD, SUB, MUL (x op y), RELU (max(x, 0)) and RELU_GRAD (0 where y <= 0, else x), ``y`` an
    array like x (SAME), a row repeated over x (ROW; ``lo`` and ``hi`` on row boundaries) or
    the scalar ``s`` (SCALAR), of the arrays' dtype. Each value as NumPy computes it (relu
    keeps NaN). ``out`` may be ``x``."""
    # NOTE: loops from 0 over slices: an index that might be negative (range(lo, hi)) gets a
    # wrap-around check on every access, which keeps LLVM from vectorising (4-5x slower)
    # NOTE: in place, the ``+ - *`` loops run over two arrays: an ``out`` that is ``x`` fails
    # LLVM's run-time overlap check, and a loop over three arrays then runs its unvectorised
    # version (``x -= y`` on 401,408 float32: 221 us, over two arrays 112 us, NumPy 115 us).
    zero = x.dtype.type(0)
    xs, outs = x[lo:hi], out[lo:hi]
    in_place = out.ctypes.data == x.ctypes.data
    if mode == ROW:
        # NOTE: the rows looped over here: a call per row took twice as long ((128, 512) + a
        # row: 16 against 8 us; after a product, shared: 51 -> 34 us, PyTorch 30)
        n = y.size
        if in_place:
            for r in range(xs.size // n):
                xr = xs[r * n:(r + 1) * n]
                for j in range(n):
                    xr[j] = _binop(op, xr[j], y[j])
        else:
            for r in range(xs.size // n):
                xr, orow = xs[r * n:(r + 1) * n], outs[r * n:(r + 1) * n]
                for j in range(n):
                    orow[j] = _binop(op, xr[j], y[j])
    elif op == RELU:
        for i in range(xs.size):
            v = xs[i]
            outs[i] = zero if v < zero else v
    elif op == RELU_GRAD:
        ys = y[lo:hi]
        for i in range(xs.size):
            outs[i] = zero if ys[i] <= zero else xs[i]
    elif mode == SAME:
        ys = y[lo:hi]
        if in_place:
            for i in range(xs.size):
                xs[i] = _binop(op, xs[i], ys[i])
        else:
            for i in range(xs.size):
                outs[i] = _binop(op, xs[i], ys[i])
    elif in_place:
        for i in range(xs.size):
            xs[i] = _binop(op, xs[i], s)
    else:
        for i in range(xs.size):
            outs[i] = _binop(op, xs[i], s)


@numba.njit(nogil=True, cache=True)
def _elementwise_at(double, op, mode, lo, hi, x, y, ny, out, s):
    """:func:`_elementwise` on arrays given by address (as a job hands them over): ``x`` and
    ``out`` of ``hi`` values, ``y`` of ``ny``."""
    if double:
        f64 = np.float64
        _elementwise(op, mode, numba.carray(pointer(x, f64), hi), numba.carray(pointer(y, f64), ny),
                     numba.carray(pointer(out, f64), hi), lo, hi, s)
    else:
        f32 = np.float32
        _elementwise(op, mode, numba.carray(pointer(x, f32), hi), numba.carray(pointer(y, f32), ny),
                     numba.carray(pointer(out, f32), hi), lo, hi, np.float32(s))


@numba.njit(nogil=True, cache=True)
def _do(job, scalar, fns):
    """Run the posted job (see ``_JOB``)."""
    if job[0] >= _CHAIN:
        layers = numba.carray(pointer(job[1], np.int64), job[2] * CHAIN_FIELDS)
        chain_rows(fns, job[0] == _CHAIN + 1, layers, job[2], job[3], job[4], job[5], job[6])
    elif job[0] >= _ELEMENTWISE:
        _elementwise_at(job[0] == _ELEMENTWISE + 1, job[1], job[2], job[3], job[4], job[5],
                        job[6], job[7], job[8], scalar[0])
    elif job[3] > 0 and job[4] > 0:
        gemm_fused(fns, job[0] == 1, job[1], job[2], job[3], job[4], job[5], job[6], job[7],
                   job[8], job[9], job[10], job[11], job[12], job[13])


@numba.njit(nogil=True, cache=True)
def _serve(ctl, job, scalar, fns, spin_ns):
    """The partner's loop: run each posted job it claims first; return after ``spin_ns``
    without one."""
    ts = np.zeros(2, np.int64)
    idle_since = now_ns(fns, ts)
    while True:
        posted = ctl[_POSTED]
        if posted != ctl[_DONE] and claim(ctl, _CLAIMED, posted - 1, posted):
            fence()
            _do(job, scalar, fns)
            fence()
            ctl[_DONE] = posted
            idle_since = now_ns(fns, ts)
        elif posted == ctl[_DONE] and (ctl[_QUIET] or now_ns(fns, ts) - idle_since > spin_ns):
            return
        else:  # (or the caller claimed the job and runs it)
            ccall(fns[SCHED_YIELD])  # sched_yield: let any other runnable thread have this core


@numba.njit(nogil=True, cache=True)
def _post(ctl):
    """Publish the job just written (its number returned); see :func:`_finish`."""
    ctl[_QUIET] = 0
    seq = ctl[_DONE] + 1
    fence()
    ctl[_POSTED] = seq
    fence()
    return seq


@numba.njit(nogil=True, cache=True)
def _finish(ctl, job, scalar, fns, seq):
    """The caller's side, its own part done: if the partner has not claimed job ``seq`` yet
    (asleep, or its core taken by the host), claim and run it here; else wait (without the
    GIL) until the partner has done it.

    NOTE: a partner descheduled by the VM's host left the caller waiting for its half: the
    benchmark rows measured under steal time ran 2-5x slow. Now its half only costs the time
    it takes this thread to do it: with a busy loop pinned to the second core, the MLP step
    went from 0.94-1.01x to 0.49-0.60x PyTorch's time (which suffers too), the raw-op MLP step
    from 0.73-0.99x to 0.39-0.44x (two runs each)."""
    if claim(ctl, _CLAIMED, seq - 1, seq):
        fence()
        _do(job, scalar, fns)
        fence()
        ctl[_DONE] = seq
        return
    while ctl[_DONE] != seq:
        ccall(fns[SCHED_YIELD])
    fence()


@numba.njit(nogil=True, cache=True)
def _run(fns, ctl, job, scalar, a1, b1, out1, a2, b2, out2, bias1, bias2, relu):
    """``out1 = a1 @ b1`` here while the partner computes ``out2 = a2 @ b2``, all in one
    compiled call, each with its bias row (an address, 0 for none) and relu if asked (see
    ``_native.gemm_fused``); False when nothing ran (an operand that MKL does not take)."""
    if not (blas_strided(a1, b1, out1) and blas_strided(a2, b2, out2)):
        return False
    ta, lda = operand(a2)
    tb, ldb = operand(b2)
    job[0] = a2.itemsize == 8
    job[1], job[2], job[3], job[4], job[5] = ta, tb, out2.shape[0], out2.shape[1], a2.shape[1]
    job[6], job[7], job[8], job[9] = a2.ctypes.data, lda, b2.ctypes.data, ldb
    job[10], job[11] = out2.ctypes.data, operand(out2)[1]
    job[12], job[13] = bias2, relu
    seq = _post(ctl)
    matmul(fns, a1, b1, out1, bias1, relu)
    _finish(ctl, job, scalar, fns, seq)
    return True


@numba.njit(nogil=True, cache=True)
def _run_chain(fns, ctl, job, scalar, layers, n_layers, x, double, cut, m):
    """Rows 0..cut of a chain of Linear layers here (see ``_native.chain_rows``; ``x`` a
    C-contiguous 2-D array of m rows) while the partner runs rows cut..m."""
    job[0] = _CHAIN + double
    job[1], job[2], job[3], job[4] = layers.ctypes.data, n_layers, x.ctypes.data, x.shape[1]
    job[5], job[6] = cut, m
    seq = _post(ctl)
    chain_rows(fns, double, layers, n_layers, x.ctypes.data, x.shape[1], 0, cut)
    _finish(ctl, job, scalar, fns, seq)


@numba.njit(nogil=True, cache=True)
def _run_elementwise(fns, ctl, job, scalar, op, mode, x, y, out, s, mid):
    """``out = op(x, y or s)`` (see :func:`_elementwise`; 1-D arrays of one dtype), the values
    from ``mid`` on by the partner, the others here."""
    job[0] = _ELEMENTWISE + (x.itemsize == 8)
    job[1], job[2], job[3], job[4] = op, mode, mid, x.size
    job[5], job[6], job[7], job[8] = x.ctypes.data, y.ctypes.data, y.size, out.ctypes.data
    scalar[0] = s
    seq = _post(ctl)
    _elementwise(op, mode, x, y, out, 0, mid, x.dtype.type(s))
    _finish(ctl, job, scalar, fns, seq)


class _Partner:
    def __init__(self) -> None:
        import threading

        self.fns = table()
        self.ctl = np.zeros(5, np.int64)
        self.job = np.zeros(_JOB, np.int64)
        self.scalar = np.zeros(1, np.float64)  # an elementwise op's scalar
        self.pid = os.getpid()
        self.lock = _thread.allocate_lock()  # one caller at a time
        self.sleep_lock = _thread.allocate_lock()
        self.wake = _thread.allocate_lock()
        self.wake.acquire()
        _serve(self.ctl, self.job, self.scalar, self.fns, -1)  # compiled here, not in the thread
        threading.Thread(target=self._loop, name="chainrule-gemm-partner", daemon=True).start()

    def _loop(self) -> None:
        ctl = self.ctl
        while True:
            _serve(ctl, self.job, self.scalar, self.fns, SPIN_NS)
            with self.sleep_lock:
                if ctl[_POSTED] != ctl[_DONE]:
                    continue
                ctl[_ASLEEP] = 1
            self.wake.acquire()

    def run(self, a1: np.ndarray, b1: np.ndarray, out1: np.ndarray, a2: np.ndarray,
            b2: np.ndarray, out2: np.ndarray, bias1: int = 0, bias2: int = 0,
            relu: bool = False) -> bool:
        """``out1 = a1 @ b1`` on this thread and ``out2 = a2 @ b2`` on the partner (2-D arrays of
        one float dtype, outputs with unit-stride rows; ``bias1``, ``bias2``, ``relu`` as
        ``_native.gemm_fused`` takes them);
        False, having run nothing, when an operand is not BLAS-strided. The caller holds
        ``lock``."""
        if self.ctl[_ASLEEP]:
            self._wake()  # now, so that it is up by the time the job is posted
        return _run(self.fns, self.ctl, self.job, self.scalar, a1, b1, out1, a2, b2, out2,
                    bias1, bias2, relu)

    def chain(self, layers: np.ndarray, x: np.ndarray, cut: int) -> None:
        """Rows of ``x`` (C-contiguous, 2-D) through a chain of Linear layers described by
        ``layers`` (see ``_native.chain_rows``), rows from ``cut`` on by the partner. The
        caller holds ``lock``."""
        if self.ctl[_ASLEEP]:
            self._wake()
        _run_chain(self.fns, self.ctl, self.job, self.scalar, layers,
                   layers.size // CHAIN_FIELDS, x, x.itemsize == 8, cut, x.shape[0])

    def elementwise(self, op: int, mode: int, x: np.ndarray, y: np.ndarray, out: np.ndarray,
                    s: float, mid: int) -> None:
        """``out = op(x, y or s)`` (1-D arrays of one float dtype; see
        :mod:`chainrule._two_cores`), values from ``mid`` on by the partner. The caller holds
        ``lock``."""
        _run_elementwise(self.fns, self.ctl, self.job, self.scalar, op, mode, x, y, out, s, mid)

    def _wake(self) -> None:
        with self.sleep_lock:
            if self.ctl[_ASLEEP]:
                self.ctl[_ASLEEP] = 0
                self.ctl[_QUIET] = 0
                self.wake.release()


_partner: _Partner | None = None


def quiet() -> None:
    """Ask a spinning partner to sleep now (the next product wakes it again).

    NOTE: called when ``ops/_threads`` is about to wake its workers. A partner spinning on one
    core keeps that core busy in the scheduler's eyes, so a woken worker may be placed on the
    caller's core instead, and the two share it while the partner spins alone on the other.
    """
    if _partner is not None and _partner.pid == os.getpid():
        _partner.ctl[_QUIET] = 1


def partner() -> _Partner:
    """The process's partner thread, started on first use (again in a forked child)."""
    global _partner
    if _partner is None or _partner.pid != os.getpid():
        _partner = _Partner()
    return _partner
