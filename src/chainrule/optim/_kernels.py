"""Compiled update kernels: each optimizer's update in one pass over memory.

The NumPy update functions (``sgd_``, ``adam_``, ...) are the reference: each runs a dozen
elementwise passes, so every element of the parameter, gradient and state crosses the memory
bus several times. A kernel here computes the same formula, in the same order of operations
and in the arrays' dtype (so its results are the reference's bits), with one loop that reads
each array once and writes the parameter and the state once.

A kernel takes flat contiguous arrays of one dtype (float32 or float64), the options as Python
floats and bools (it casts the floats to the arrays' dtype, as NumPy casts a Python float
against a float32 array), and an absent optional buffer as an empty array with its flag off: one
signature per dtype.
:func:`run` shares the kernels' calls out over two threads (the kernels release the GIL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import _jit
from chainrule.ops import _threads

# --- the kernels ---
# NOTE: a branch on an option inside a loop is fine when both sides only compute (LLVM turns it
# into a select and still vectorises), but not when one side reads or writes an optional
# buffer: the loop then ran scalar, 4-5x slower (Adam on 536k float32: 1.3-2.0 ms against
# 0.29-0.35 ms). So each combination of optional buffers has a loop of its own; the shared
# steps are inner functions, which numba inlines.


@_jit.kernel
def sgd(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, has_buffer,
        first_step, nesterov, maximize):
    """``sgd_``; ``momentum_buffer`` holds zeros on the ``first_step``."""
    t = param.dtype.type
    lr, momentum, keep, weight_decay = t(lr), t(momentum), t(1.0 - dampening), t(weight_decay)

    def gradient(p, g):  # effective_grad
        if weight_decay != 0:
            return p * weight_decay - g if maximize else p * weight_decay + g
        return -g if maximize else g

    if not has_buffer:
        for i in range(param.size):
            param[i] = param[i] - gradient(param[i], grad[i]) * lr
        return
    for i in range(param.size):
        d = gradient(param[i], grad[i])
        b = momentum_buffer[i] * momentum
        if first_step:  # NOTE: PyTorch's rule: the buffer starts as the gradient, undamped
            b = d
        elif dampening != 0.0:
            b = b + d * keep
        else:
            b = b + d
        momentum_buffer[i] = b
        param[i] = param[i] - (d + b * momentum if nesterov else b) * lr


@_jit.kernel
def adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
         weight_decay, decoupled_weight_decay, amsgrad, maximize):
    """``adam_``, its constants computed as ``adam_`` computes them."""
    t = param.dtype.type
    c = np.sqrt(1.0 - beta2**step)
    decay = decoupled_weight_decay and weight_decay != 0.0
    shrink = t(1.0 - lr * weight_decay)
    l2 = t(0.0 if decoupled_weight_decay else weight_decay)
    keep1, keep2, beta2_ = t(1.0 - beta1), t(1.0 - beta2), t(beta2)
    eps_c, step_size = t(eps * c), t(lr * c / (1.0 - beta1**step))

    def start(i):  # the parameter after decoupled decay, and the gradient
        p = param[i] * shrink if decay else param[i]
        g = grad[i]
        if l2 != 0:
            return p, (p * l2 - g if maximize else p * l2 + g)
        return p, (-g if maximize else g)

    def moments(i, g):  # exp_avg.lerp_(g, 1 - beta1), exp_avg_sq.mul_(beta2).addcmul_(...)
        m = exp_avg[i]
        m = m + (g - m) * keep1
        exp_avg[i] = m
        v = exp_avg_sq[i] * beta2_ + (g * g) * keep2
        exp_avg_sq[i] = v
        return m, v

    if amsgrad:
        for i in range(param.size):
            p, g = start(i)
            m, v = moments(i, g)
            vmax = max_exp_avg_sq[i]
            if not vmax >= v:  # NOTE: a NaN wins, as in np.maximum
                vmax = v
            max_exp_avg_sq[i] = vmax
            param[i] = p - m / (np.sqrt(vmax) + eps_c) * step_size
    else:
        for i in range(param.size):
            p, g = start(i)
            m, v = moments(i, g)
            param[i] = p - m / (np.sqrt(v) + eps_c) * step_size


@_jit.kernel
def rmsprop(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay,
            momentum, centered, has_buffer, maximize):
    """``rmsprop_``."""
    t = param.dtype.type
    lr, alpha, keep, eps = t(lr), t(alpha), t(1.0 - alpha), t(eps)
    weight_decay, momentum = t(weight_decay), t(momentum)

    def gradient(i):  # effective_grad
        g = grad[i]
        if weight_decay != 0:
            return param[i] * weight_decay - g if maximize else param[i] * weight_decay + g
        return -g if maximize else g

    def second(i, g):  # the running mean of g**2, less the square of g's when centered
        v = square_avg[i] * alpha + (g * g) * keep
        square_avg[i] = v
        if not centered:
            return v
        a = grad_avg[i]
        a = a + (g - a) * keep
        grad_avg[i] = a
        return v - a * a

    def through_buffer(i, step):
        b = momentum_buffer[i] * momentum + step
        momentum_buffer[i] = b
        return b

    if centered and has_buffer:
        for i in range(param.size):
            g = gradient(i)
            step = through_buffer(i, g / (np.sqrt(second(i, g)) + eps))
            param[i] = param[i] - step * lr
    elif centered:
        for i in range(param.size):
            g = gradient(i)
            param[i] = param[i] - g / (np.sqrt(second(i, g)) + eps) * lr
    elif has_buffer:
        for i in range(param.size):
            g = gradient(i)
            step = through_buffer(i, g / (np.sqrt(second(i, g)) + eps))
            param[i] = param[i] - step * lr
    else:
        for i in range(param.size):
            g = gradient(i)
            param[i] = param[i] - g / (np.sqrt(second(i, g)) + eps) * lr


@_jit.kernel
def adagrad(param, grad, state_sum, clr, eps, weight_decay, maximize):
    """``adagrad_`` with the decayed learning rate ``clr``."""
    t = param.dtype.type
    clr, eps, weight_decay = t(clr), t(eps), t(weight_decay)
    for i in range(param.size):
        g = grad[i]
        if weight_decay != 0:
            g = param[i] * weight_decay - g if maximize else param[i] * weight_decay + g
        elif maximize:
            g = -g
        s = state_sum[i] + g * g
        state_sum[i] = s
        param[i] = param[i] - g / (np.sqrt(s) + eps) * clr


# --- running them ---

# an absent optional buffer, per dtype the kernels take
_NONE: dict[np.dtype, np.ndarray] = {np.dtype(t): np.empty(0, t) for t in (np.float32, np.float64)}

Job = tuple[tuple[Any, ...], dict[str, Any]]
KernelJob = tuple[Any, list[np.ndarray], tuple[Any, ...]]


def run_compiled(jobs: list[Job],
                 kernel_call: Callable[[tuple[Any, ...], dict[str, Any]], tuple[Any, tuple]],
                 two_threads: bool = True) -> list[Job]:
    """Run the update jobs (``(arrays, options)``, as ``run_update`` takes them) that a kernel
    can take, ``kernel(*arrays, *scalars)`` with ``(kernel, scalars) = kernel_call(arrays,
    options)``, on two threads if ``two_threads`` and they are large (see :func:`run`); return
    the others (arrays of another dtype, or not contiguous) for the reference update."""
    compiled: list[KernelJob] = []
    rest = []
    for arrays, options in jobs:
        flats = _flat(arrays)
        if flats is None:
            rest.append((arrays, options))
        else:
            kernel, scalars = kernel_call(arrays, options)
            compiled.append((kernel, flats, scalars))
    # NOTE: a parameter listed twice is updated twice, one update after the other.
    run(compiled, parallel=two_threads and len({id(arrays[0]) for arrays, _ in jobs}) == len(jobs))
    return rest


def _flat(arrays: Sequence[np.ndarray | None]) -> list[np.ndarray] | None:
    """The arrays as flat views, an absent buffer as an empty array; None when a kernel cannot
    take them (another dtype than float32/float64 or the parameter's, or not contiguous).

    NOTE: a read-only array (a gradient that is a broadcast view, say) is left to the reference
    too: numba would compile the kernel once more for it (0.3-1 s on first use)."""
    param = arrays[0]
    assert param is not None, "an update job starts with the parameter"
    dtype = param.dtype
    if dtype not in _NONE:
        return None
    flats: list[np.ndarray] = []
    for a in arrays:
        if a is None:
            flats.append(_NONE[dtype])
        elif a.dtype != dtype or not (a.flags.c_contiguous and a.flags.writeable):
            return None
        else:
            flats.append(a.reshape(-1))
    return flats


# NOTE: handing half of the work to the other thread costs 34-58 us (median of 2,000 empty
# _threads._each calls, busy machine); halving saves 0.22 ns per float32 element for SGD with
# momentum and 0.29 ns for Adam (one thread: 0.44 and 0.58 ns). Below 128K elements in all,
# the kernels run on the caller's thread. Re-measured on the 784-512-256-10 MLP's 536K
# parameters (A/B, 20-30 rounds, one process; one thread / two): SGD with momentum 342 / 398
# and 332 / 518 us (PyTorch 431, 462), Adagrad 348 / 362, RMSprop 345 / 398; with momentum
# 542 / 489, centered 625 / 570; Adam 509 / 473 and 553 / 508. The updates that only move
# three arrays (SGD, Adagrad, plain RMSprop) gain less than the hand-over costs, and a stolen
# vCPU makes the caller wait for the other half: they ask for one thread (run_update's
# ``two_threads``).
_PARALLEL_SIZE = 1 << 17
_ALIGN = 16  # a cut falls on a 64-byte cache line (float32), so no line is written by both


def run(jobs: list[KernelJob], parallel: bool = True) -> None:
    """Call ``kernel(*arrays, *scalars)`` for every job; on two threads when ``parallel`` and
    the jobs are large: the parameters laid end to end and cut in two halves of equal size (at
    most one parameter is cut, at a cache line), so small parameters cost no more calls."""
    total = sum(arrays[0].size for _, arrays, _ in jobs)
    if (not parallel or total < _PARALLEL_SIZE or _threads._THREADS < 2
            or not _threads._OpenBLAS.found()):
        for kernel, arrays, scalars in jobs:
            kernel(*arrays, *scalars)
        return
    cut = total // 2
    halves: tuple[list[KernelJob], list[KernelJob]] = ([], [])
    start = 0
    for kernel, arrays, scalars in jobs:
        n = arrays[0].size
        if start + n <= cut:
            halves[0].append((kernel, arrays, scalars))
        elif start >= cut:
            halves[1].append((kernel, arrays, scalars))
        else:
            k = (cut - start) // _ALIGN * _ALIGN
            if k:
                halves[0].append((kernel, [a[:k] if a.size else a for a in arrays], scalars))
            halves[1].append((kernel, [a[k:] if a.size else a for a in arrays], scalars))
        start += n

    def work(lo: int, hi: int, slot: int) -> None:
        for half in halves[lo:hi]:
            for kernel, arrays, scalars in half:
                kernel(*arrays, *scalars)

    _threads._each(2, work)  # a half per thread
