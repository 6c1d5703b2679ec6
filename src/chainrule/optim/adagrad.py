"""Adagrad: per-coordinate learning rates from the sum of squared gradients."""

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


def adagrad_(param: np.ndarray, grad: np.ndarray, state_sum: np.ndarray, tmp: np.ndarray,
             tmp2: np.ndarray, *, clr: float, eps: float, weight_decay: float,
             maximize: bool) -> None:
    """One Adagrad update of one parameter with the decayed learning rate ``clr``, in place
    on ``param`` and ``state_sum``; ``tmp`` and ``tmp2`` are scratch arrays shaped like
    ``param``; ``grad`` is only read."""
    g = effective_grad(param, grad, weight_decay, maximize, out=tmp2)
    np.add(state_sum, np.multiply(g, g, out=tmp), out=state_sum)
    std = np.add(np.sqrt(state_sum, out=tmp), eps, out=tmp)
    update = np.divide(g, std, out=tmp)
    np.subtract(param, np.multiply(update, clr, out=update), out=param)


def _adagrad_kernel(arrays: tuple[Any, ...], o: dict[str, Any]) -> tuple[Any, tuple]:
    """The kernel that does ``adagrad_`` in one pass, and its options."""
    return _kernels.adagrad, (o["clr"], o["eps"], o["weight_decay"], o["maximize"])


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011): ``s += g**2``, ``p -= clr * g / (sqrt(s) + eps)`` with
    ``clr = lr / (1 + (t - 1) * lr_decay)`` at step ``t``.

    Args:
        params: parameters to optimize, or dicts defining param groups.
        lr: learning rate (default 1e-2).
        lr_decay: learning rate decay (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: starting value of the sums of squares (default 0).
        eps: added to the denominator for numerical stability (default 1e-10).
        maximize: maximize the objective instead of minimizing it.
        foreach, fused: accepted for compatibility (one implementation here).
        differentiable: not supported (must be False).

    >>> import chainrule
    >>> w = chainrule.nn.Parameter(chainrule.tensor([1.0, -2.0]))
    >>> opt = chainrule.optim.Adagrad([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    Parameter containing:
    tensor([ 0.9, -1.9], requires_grad=True)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _check(float(lr) >= 0.0, "Adagrad", f"Invalid learning rate: {lr} (expected lr >= 0)")
        _check(lr_decay >= 0.0, "Adagrad",
               f"Invalid lr_decay value: {lr_decay} (expected >= 0)")
        _check(weight_decay >= 0.0, "Adagrad",
               f"Invalid weight_decay value: {weight_decay} (expected >= 0)")
        _check(initial_accumulator_value >= 0.0, "Adagrad",
               f"Invalid initial_accumulator_value value: {initial_accumulator_value} "
               "(expected >= 0)")
        _check(eps >= 0.0, "Adagrad", f"Invalid epsilon value: {eps} (expected eps >= 0)")
        _check_unsupported("Adagrad", differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        # NOTE: as in PyTorch, the state exists from construction (step 0, the sums filled).
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        state["step"] = Tensor._wrap(np.array(0.0, np.float32))
        state["sum"] = _zeros_like(p, float(group["initial_accumulator_value"]))
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one update; return ``closure()``'s loss if a closure is given."""
        loss = self._begin_step(closure)
        jobs = []
        for group in self.param_groups:
            lr, lr_decay = float(group["lr"]), float(group["lr_decay"])
            hyper = dict(eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                         maximize=bool(group["maximize"]))
            for p in group["params"]:
                grad = _grad_of("Adagrad", p)
                if grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:  # a group added after construction
                    state = self._init_state(p, group)
                step = _step_count(state)
                clr = lr / (1.0 + (step - 1.0) * lr_decay)
                jobs.append(((p._data, grad, state["sum"]._data), dict(hyper, clr=clr)))
        run_update(adagrad_, jobs, self._scratch_for, kernel_call=_adagrad_kernel)
        return loss
