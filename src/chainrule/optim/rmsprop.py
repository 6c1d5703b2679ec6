"""RMSprop: divide the gradient by a running root mean square of recent gradients."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule.optim import _kernels
from chainrule.optim.optimizer import (
    Optimizer,
    _check,
    _check_unsupported,
    _grad_of,
    _step_count,
    _zeros_like,
    effective_grad,
    run_update,
)
from chainrule.tensor import Tensor


def rmsprop_(param: np.ndarray, grad: np.ndarray, square_avg: np.ndarray,
             grad_avg: np.ndarray | None, momentum_buffer: np.ndarray | None,
             tmp: np.ndarray, tmp2: np.ndarray, *, lr: float, alpha: float, eps: float,
             weight_decay: float, momentum: float, maximize: bool) -> None:
    """One RMSprop update of one parameter, in place on ``param`` and its buffers.

    ``grad_avg`` is given when centered, ``momentum_buffer`` when momentum > 0; ``tmp`` and
    ``tmp2`` are scratch arrays shaped like ``param``; ``grad`` is only read.
    """
    g = effective_grad(param, grad, weight_decay, maximize, out=tmp2)
    np.multiply(square_avg, alpha, out=square_avg)
    sq = np.multiply(g, g, out=tmp)
    np.add(square_avg, np.multiply(sq, 1.0 - alpha, out=sq), out=square_avg)
    if grad_avg is not None:
        # grad_avg.lerp_(g, 1 - alpha); the centered second moment is square_avg - grad_avg**2
        diff = np.subtract(g, grad_avg, out=tmp)
        np.add(grad_avg, np.multiply(diff, 1.0 - alpha, out=diff), out=grad_avg)
        avg = np.subtract(square_avg, np.multiply(grad_avg, grad_avg, out=tmp), out=tmp)
        np.sqrt(avg, out=avg)
    else:
        avg = np.sqrt(square_avg, out=tmp)
    np.add(avg, eps, out=avg)
    step = np.divide(g, avg, out=tmp)
    if momentum_buffer is not None:
        np.multiply(momentum_buffer, momentum, out=momentum_buffer)
        np.add(momentum_buffer, step, out=momentum_buffer)
        step = np.multiply(momentum_buffer, lr, out=tmp)
    else:
        np.multiply(step, lr, out=step)
    np.subtract(param, step, out=param)


def _rmsprop_kernel(arrays: tuple[Any, ...], o: dict[str, Any]) -> tuple[Any, tuple]:
    """The kernel that does ``rmsprop_`` in one pass, and its options."""
    return _kernels.rmsprop, (o["lr"], o["alpha"], o["eps"], o["weight_decay"], o["momentum"],
                              arrays[3] is not None, arrays[4] is not None, o["maximize"])


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), in PyTorch's formulation (eps outside the root).

    ``v = alpha * v + (1 - alpha) * g**2``, then ``p -= lr * g / (sqrt(v) + eps)``; centered
    subtracts the square of the running mean gradient from ``v``; with momentum the step
    ``g / (sqrt(v) + eps)`` goes through a momentum buffer.

    Args:
        params: parameters to optimize, or dicts defining param groups.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the squared-gradient average (default 0.99).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalize by an estimate of the gradient's variance.
        maximize: maximize the objective instead of minimizing it.
        capturable, foreach: accepted for compatibility (one implementation here).
        differentiable: not supported (must be False).

    >>> import chainrule
    >>> w = chainrule.nn.Parameter(chainrule.tensor([1.0, -2.0]))
    >>> opt = chainrule.optim.RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    Parameter containing:
    tensor([ 0.9, -1.9], requires_grad=True)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        _check(float(lr) >= 0.0, "RMSprop", f"Invalid learning rate: {lr} (expected lr >= 0)")
        _check(eps >= 0.0, "RMSprop", f"Invalid epsilon value: {eps} (expected eps >= 0)")
        _check(momentum >= 0.0, "RMSprop",
               f"Invalid momentum value: {momentum} (expected >= 0)")
        _check(weight_decay >= 0.0, "RMSprop",
               f"Invalid weight_decay value: {weight_decay} (expected >= 0)")
        _check(alpha >= 0.0, "RMSprop", f"Invalid alpha value: {alpha} (expected alpha >= 0)")
        _check_unsupported("RMSprop", differentiable)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one update; return ``closure()``'s loss if a closure is given."""
        loss = self._begin_step(closure)
        jobs = []
        for group in self.param_groups:
            momentum, centered = float(group["momentum"]), bool(group["centered"])
            hyper = dict(lr=float(group["lr"]), alpha=float(group["alpha"]),
                         eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                         momentum=momentum, maximize=bool(group["maximize"]))
            for p in group["params"]:
                grad = _grad_of("RMSprop", p)
                if grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = Tensor._wrap(np.array(0.0, np.float32))
                    state["square_avg"] = _zeros_like(p)
                buf = grad_avg = None
                if momentum > 0:
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = _zeros_like(p)
                    buf = state["momentum_buffer"]._data
                if centered:
                    if "grad_avg" not in state:
                        state["grad_avg"] = _zeros_like(p)
                    grad_avg = state["grad_avg"]._data
                _step_count(state)
                jobs.append(((p._data, grad, state["square_avg"]._data, grad_avg, buf), hyper))
        # (two threads pay when the update moves more than three arrays; see _kernels.py)
        two = any(o["momentum"] > 0 or arrays[3] is not None for arrays, o in jobs)
        run_update(rmsprop_, jobs, self._scratch_for, two_threads=two,
                   kernel_call=_rmsprop_kernel)
        return loss
