"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

from __future__ import annotations

import math
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


def adam_(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
          max_exp_avg_sq: np.ndarray | None, tmp: np.ndarray, tmp2: np.ndarray, *,
          step: float, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
          decoupled_weight_decay: bool, amsgrad: bool, maximize: bool) -> None:
    """One Adam(W) update of one parameter, in place on ``param`` and its moment buffers.

    ``step`` is the update's number (1 for the first); ``tmp`` and ``tmp2`` are scratch arrays
    shaped like ``param``; ``grad`` is only read.
    """
    if decoupled_weight_decay:
        if weight_decay != 0.0:
            np.multiply(param, 1.0 - lr * weight_decay, out=param)
        g = effective_grad(param, grad, 0.0, maximize, out=tmp2)
    else:
        g = effective_grad(param, grad, weight_decay, maximize, out=tmp2)
    # exp_avg.lerp_(g, 1 - beta1), in PyTorch's form: exp_avg + (1 - beta1) * (g - exp_avg)
    diff = np.subtract(g, exp_avg, out=tmp)
    np.add(exp_avg, np.multiply(diff, 1.0 - beta1, out=diff), out=exp_avg)
    np.multiply(exp_avg_sq, beta2, out=exp_avg_sq)
    sq = np.multiply(g, g, out=tmp)
    np.add(exp_avg_sq, np.multiply(sq, 1.0 - beta2, out=sq), out=exp_avg_sq)
    second = exp_avg_sq
    if amsgrad:
        assert max_exp_avg_sq is not None, "adam_: amsgrad=True needs max_exp_avg_sq"
        second = np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    bias_correction1 = 1.0 - beta1**step
    c = math.sqrt(1.0 - beta2**step)
    # NOTE: PyTorch's m / (sqrt(v) / c + eps) is computed as c * m / (sqrt(v) + eps * c): the
    # same value up to rounding, with one pass fewer over the arrays.
    denom = np.add(np.sqrt(second, out=tmp), eps * c, out=tmp)
    update = np.divide(exp_avg, denom, out=tmp)
    np.subtract(param, np.multiply(update, lr * c / bias_correction1, out=update), out=param)


def _adam_kernel(arrays: tuple[Any, ...], o: dict[str, Any]) -> tuple[Any, tuple]:
    """The kernel that does ``adam_`` in one pass, and its options."""
    return _kernels.adam, (o["step"], o["lr"], o["beta1"], o["beta2"], o["eps"],
                           o["weight_decay"], o["decoupled_weight_decay"], o["amsgrad"],
                           o["maximize"])


def _validate(name: str, lr: float, betas: tuple[float, float], eps: float,
              weight_decay: float, differentiable: bool) -> None:
    _check(float(lr) >= 0.0, name, f"Invalid learning rate: {lr} (expected lr >= 0)")
    _check(eps >= 0.0, name, f"Invalid epsilon value: {eps} (expected eps >= 0)")
    _check(0.0 <= betas[0] < 1.0, name,
           f"Invalid beta parameter at index 0: {betas[0]} (expected 0 <= beta < 1)")
    _check(0.0 <= betas[1] < 1.0, name,
           f"Invalid beta parameter at index 1: {betas[1]} (expected 0 <= beta < 1)")
    _check(weight_decay >= 0.0, name,
           f"Invalid weight_decay value: {weight_decay} (expected >= 0)")
    _check_unsupported(name, differentiable)


def _adam_step(opt: Optimizer, closure: Callable[[], Any] | None) -> Any:
    """The step shared by Adam and AdamW (which differ only in their defaults)."""
    name = type(opt).__name__
    loss = opt._begin_step(closure)
    jobs = []
    for group in opt.param_groups:
        beta1, beta2 = group["betas"]
        amsgrad = bool(group["amsgrad"])
        hyper = dict(lr=float(group["lr"]), beta1=float(beta1), beta2=float(beta2),
                     eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                     decoupled_weight_decay=bool(group["decoupled_weight_decay"]),
                     amsgrad=amsgrad, maximize=bool(group["maximize"]))
        for p in group["params"]:
            grad = _grad_of(name, p)
            if grad is None:
                continue
            state = opt.state[p]
            if len(state) == 0:
                state["step"] = Tensor._wrap(np.array(0.0, np.float32))
                state["exp_avg"] = _zeros_like(p)
                state["exp_avg_sq"] = _zeros_like(p)
            max_sq = None
            if amsgrad:
                if "max_exp_avg_sq" not in state:
                    state["max_exp_avg_sq"] = _zeros_like(p)
                max_sq = state["max_exp_avg_sq"]._data
            step = _step_count(state)
            jobs.append(((p._data, grad, state["exp_avg"]._data, state["exp_avg_sq"]._data,
                          max_sq), dict(hyper, step=step)))
    # NOTE: the NumPy reference makes 12 passes per element, two of them sqrt and divide: two
    # threads pay off (see run_update). The compiled kernel makes one (see _kernels.run).
    run_update(adam_, jobs, opt._scratch_for, two_threads=True, kernel_call=_adam_kernel)
    return loss


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2014), with PyTorch's bias correction and options.

    ``m = beta1 * m + (1 - beta1) * g``, ``v = beta2 * v + (1 - beta2) * g**2``, then
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v / (1 - beta2**t)) + eps)``, where
    ``g = grad + weight_decay * p`` (L2 penalty; see :class:`AdamW` for decoupled decay).

    Args:
        params: parameters to optimize, or dicts defining param groups.
        lr: learning rate (default 1e-3).
        betas: decay rates of the first and second moment averages (default (0.9, 0.999)).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: L2 penalty (default 0).
        amsgrad: use the running maximum of the second moment (AMSGrad).
        maximize: maximize the objective instead of minimizing it.
        decoupled_weight_decay: decay the weights directly, as AdamW does.
        foreach, capturable, fused: accepted for compatibility (one implementation here).
        differentiable: not supported (must be False).

    >>> import chainrule
    >>> w = chainrule.nn.Parameter(chainrule.tensor([1.0, -2.0]))
    >>> opt = chainrule.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    Parameter containing:
    tensor([ 0.9, -1.9], requires_grad=True)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        _validate("Adam", lr, betas, eps, weight_decay, differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one update; return ``closure()``'s loss if a closure is given."""
        return _adam_step(self, closure)


class AdamW(Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2017).

    Each step first shrinks the weights, ``p *= 1 - lr * weight_decay``, then applies the Adam
    update of the plain gradient.

    Args:
        params: parameters to optimize, or dicts defining param groups.
        lr: learning rate (default 1e-3).
        betas: decay rates of the first and second moment averages (default (0.9, 0.999)).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: decoupled weight decay coefficient (default 1e-2).
        amsgrad: use the running maximum of the second moment (AMSGrad).
        maximize: maximize the objective instead of minimizing it.
        foreach, capturable, fused: accepted for compatibility (one implementation here).
        differentiable: not supported (must be False).

    >>> import chainrule
    >>> w = chainrule.nn.Parameter(chainrule.tensor([1.0, -2.0]))
    >>> opt = chainrule.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    Parameter containing:
    tensor([ 0.85, -1.8 ], requires_grad=True)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _validate("AdamW", lr, betas, eps, weight_decay, differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=True)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one update; return ``closure()``'s loss if a closure is given."""
        return _adam_step(self, closure)
