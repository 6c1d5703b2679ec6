"""Compiled twins of the elementwise NumPy rules that run over a network's big activations
(see :mod:`chainrule._jit`): one pass over memory, on 1-D views of arrays laid out alike."""

from __future__ import annotations

from chainrule._jit import kernel


@kernel
def relu_forward(x, out):
    """out = max(x, 0), NaN kept (as ``np.maximum``)."""
    zero = x.dtype.type(0)
    for i in range(x.size):
        v = x[i]
        out[i] = zero if v < zero else v


@kernel
def relu_backward(grad, y, out):
    """out = 0 where y <= 0, else grad (relu'(0) = 0; where y is NaN, grad, as PyTorch's
    threshold_backward)."""
    zero = y.dtype.type(0)
    for i in range(y.size):
        out[i] = zero if y[i] <= zero else grad[i]
