"""Dropout: the input times a random mask drawn from chainrule's default generator."""

from __future__ import annotations

import numpy as np

from chainrule.autograd.function import Function
from chainrule.random import rng


class Dropout(Function):
    # NOTE: the mask is an argument (not drawn here) so a rule is a pure function of its
    # inputs: the same mask gives the same output, which is what a gradient check needs.
    @staticmethod
    def forward(ctx, x, mask):
        ctx.mask = mask
        with np.errstate(invalid="ignore"):  # NOTE: inf * 0 is NaN, quietly, as in PyTorch.
            return np.multiply(x, mask)

    @staticmethod
    def backward(ctx, grad):
        with np.errstate(invalid="ignore"):
            return np.multiply(grad, ctx.mask), None


def dropout_mask(shape: tuple[int, ...], p: float, dtype) -> np.ndarray:
    """Inverted-dropout mask: 0 with probability ``p``, else ``1 / (1 - p)``, in ``dtype``."""
    # NOTE: uniforms are drawn in float32 whatever the dtype, so a seed gives the same mask in
    # float32 and float64; keep where u >= p (probability 1 - p).
    keep = rng().random(shape, dtype=np.float32) >= p
    mask = keep.astype(dtype)
    mask *= 1.0 / (1.0 - p)
    return mask


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    The identity (the input itself) when ``training`` is False or ``p`` is 0. The mask comes
    from the default generator, so ``chainrule.manual_seed`` makes it reproducible.

    >>> import chainrule
    >>> from chainrule.nn import functional as F
    >>> _ = chainrule.manual_seed(0)
    >>> y = F.dropout(chainrule.ones(1000), p=0.25)
    >>> sorted(set(y.tolist()))
    [0.0, 1.3333333730697632]
    """
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if input.dtype.kind != "f":
        raise TypeError(f"dropout: expected a floating-point input, got {input.dtype}")
    # NOTE: p == 1 multiplies by 0 (PyTorch's choice), so NaN and inf inputs stay NaN.
    mask = np.zeros((), input.dtype) if p == 1.0 else dropout_mask(input.shape, p, input.dtype)
    if inplace:
        return input._inplace(Dropout.apply, mask)
    return Dropout.apply(input, mask)
