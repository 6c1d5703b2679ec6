"""SGD: stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

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
    effective_grad,
    run_update,
)
from chainrule.tensor import Tensor


def sgd_(param: np.ndarray, grad: np.ndarray, momentum_buffer: np.ndarray | None,
         tmp: np.ndarray, tmp2: np.ndarray, *, first_step: bool, lr: float, momentum: float,
         dampening: float, weight_decay: float, nesterov: bool, maximize: bool) -> None:
    """One SGD update of one parameter, in place on ``param`` and ``momentum_buffer``.

    ``tmp`` and ``tmp2`` are scratch arrays shaped like ``param``; ``grad`` is only read.
    ``momentum_buffer`` is None without momentum; on the ``first_step`` it is filled with the
    gradient (PyTorch's rule: no dampening on the first step).
    """
    d_p = effective_grad(param, grad, weight_decay, maximize, out=tmp2)
    if momentum_buffer is not None:
        buf = momentum_buffer
        if first_step:
            np.copyto(buf, d_p)
        else:
            np.multiply(buf, momentum, out=buf)
            if dampening != 0.0:
                np.add(buf, np.multiply(d_p, 1.0 - dampening, out=tmp), out=buf)
            else:
                np.add(buf, d_p, out=buf)
        if nesterov:
            d_p = np.add(d_p, np.multiply(buf, momentum, out=tmp), out=tmp)
        else:
            d_p = buf
    np.subtract(param, np.multiply(d_p, lr, out=tmp), out=param)


def _sgd_kernel(arrays: tuple[Any, ...], o: dict[str, Any]) -> tuple[Any, tuple]:
    """The kernel that does ``sgd_`` in one pass, and its options."""
    return _kernels.sgd, (o["lr"], o["momentum"], o["dampening"], o["weight_decay"],
                          arrays[2] is not None, o["first_step"], o["nesterov"], o["maximize"])


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (PyTorch's formulation).

    With momentum ``mu``: ``b = mu * b + (1 - dampening) * g`` (``b = g`` on the first step),
    then ``p -= lr * b`` (or ``p -= lr * (g + mu * b)`` with Nesterov), where
    ``g = grad + weight_decay * p``.

    Args:
        params: parameters to optimize, or dicts defining param groups.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening of the momentum (default 0).
        weight_decay: L2 penalty (default 0).
        nesterov: use Nesterov momentum (needs momentum > 0 and zero dampening).
        maximize: maximize the objective instead of minimizing it.
        foreach, fused: accepted for compatibility; chainrule has a single implementation.
        differentiable: not supported (must be False).

    >>> import chainrule
    >>> w = chainrule.nn.Parameter(chainrule.tensor([1.0, -2.0]))
    >>> opt = chainrule.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    Parameter containing:
    tensor([ 0.8, -1.6], requires_grad=True)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _check(float(lr) >= 0.0, "SGD", f"Invalid learning rate: {lr} (expected lr >= 0)")
        _check(momentum >= 0.0, "SGD", f"Invalid momentum value: {momentum} (expected >= 0)")
        _check(weight_decay >= 0.0, "SGD",
               f"Invalid weight_decay value: {weight_decay} (expected >= 0)")
        _check(not nesterov or (momentum > 0 and dampening == 0), "SGD",
               f"Nesterov momentum requires a momentum and zero dampening (got momentum="
               f"{momentum}, dampening={dampening})")
        _check_unsupported("SGD", differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one update; return ``closure()``'s loss if a closure is given."""
        loss = self._begin_step(closure)
        jobs = []
        for group in self.param_groups:
            hyper = dict(lr=float(group["lr"]), momentum=float(group["momentum"]),
                         dampening=float(group["dampening"]),
                         weight_decay=float(group["weight_decay"]),
                         nesterov=bool(group["nesterov"]), maximize=bool(group["maximize"]))
            for p in group["params"]:
                grad = _grad_of("SGD", p)
                if grad is None:
                    continue
                buf, first = None, False
                if hyper["momentum"] != 0.0:
                    state = self.state[p]
                    t = state.get("momentum_buffer")
                    if t is None:
                        # NOTE: zeros, not garbage: the kernel reads the buffer on the first
                        # step too (and drops what it read), a branch-free loop
                        t = state["momentum_buffer"] = Tensor._wrap(np.zeros_like(p._data))
                        first = True
                    buf = t._data
                jobs.append(((p._data, grad, buf), dict(hyper, first_step=first)))
        run_update(sgd_, jobs, self._scratch_for, kernel_call=_sgd_kernel)
        return loss
