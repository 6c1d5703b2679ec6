"""Reverse-mode automatic differentiation: the engine, Function, grad mode, checks."""

from chainrule.autograd.anomaly import detect_anomaly, set_detect_anomaly
from chainrule.autograd.engine import backward, grad
from chainrule.autograd.function import Function
from chainrule.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from chainrule.autograd.gradcheck import GradcheckError, gradcheck

__all__ = [
    "Function", "GradcheckError", "backward", "detect_anomaly", "enable_grad", "grad",
    "gradcheck", "inference_mode", "is_grad_enabled", "is_inference_mode_enabled", "no_grad",
    "set_detect_anomaly", "set_grad_enabled",
]
