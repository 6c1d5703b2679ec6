"""Activation layers: ReLU, LeakyReLU, ELU, GELU, SiLU, Sigmoid, Tanh, Softmax, LogSoftmax,
Softplus. Each forwards into its functional form; none has parameters."""

from __future__ import annotations

import warnings

from chainrule.nn.module import Module
from chainrule.ops.activation import elu, gelu, leaky_relu, relu, silu, softplus
from chainrule.ops.elementwise import sigmoid, tanh
from chainrule.ops.reduction import log_softmax, softmax
from chainrule.tensor import Tensor


def _inplace_str(inplace: bool, first: bool) -> str:
    if not inplace:
        return ""
    return "inplace=True" if first else ", inplace=True"


class ReLU(Module):
    """``max(x, 0)`` elementwise.

    Args:
        inplace: overwrite the input instead of allocating the output (default False).

    Shape:
        input (*) -> output (*), the same shape.

    >>> import chainrule
    >>> chainrule.nn.ReLU()(chainrule.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_str(self.inplace, first=True)


class LeakyReLU(Module):
    """``x`` for x > 0, ``negative_slope * x`` otherwise.

    Args:
        negative_slope: slope for negative inputs (default 0.01).
        inplace: overwrite the input (default False).

    Shape:
        input (*) -> output (*), the same shape.

    >>> import chainrule
    >>> chainrule.nn.LeakyReLU(0.1)(chainrule.tensor([-1.0, 2.0]))
    tensor([-0.1,  2. ])
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + _inplace_str(self.inplace, first=False)


class ELU(Module):
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise.

    Args:
        alpha: the value the negative branch tends to is ``-alpha`` (default 1.0).
        inplace: overwrite the input (default False).

    Shape:
        input (*) -> output (*), the same shape.

    >>> import chainrule
    >>> chainrule.nn.ELU()(chainrule.tensor([0.0, 2.0]))
    tensor([0., 2.])
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + _inplace_str(self.inplace, first=False)


class GELU(Module):
    """``x * Phi(x)``, Phi the standard normal CDF (exact, via erf), or its tanh approximation.

    Args:
        approximate: 'none' (default) or 'tanh'.

    Shape:
        input (*) -> output (*), the same shape.

    >>> import chainrule
    >>> chainrule.nn.GELU()(chainrule.tensor([0.0, 1.0]))
    tensor([0.    , 0.8413])
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """``x * sigmoid(x)`` (swish).

    Args:
        inplace: overwrite the input (default False).

    Shape:
        input (*) -> output (*), the same shape.

    >>> import chainrule
    >>> chainrule.nn.SiLU()(chainrule.tensor([0.0]))
    tensor([0.])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return silu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_str(self.inplace, first=True)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``, computed without overflow.

    Shape:
        input (*) -> output (*), the same shape.

    >>> import chainrule
    >>> chainrule.nn.Sigmoid()(chainrule.tensor([0.0]))
    tensor([0.5])
    """

    def forward(self, input: Tensor) -> Tensor:
        return sigmoid(input)


class Tanh(Module):
    """Hyperbolic tangent elementwise.

    Shape:
        input (*) -> output (*), the same shape.

    >>> import chainrule
    >>> chainrule.nn.Tanh()(chainrule.tensor([0.0]))
    tensor([0.])
    """

    def forward(self, input: Tensor) -> Tensor:
        return tanh(input)


def _implicit_dim(name: str, ndim: int) -> int:
    """PyTorch's legacy choice when no dim is given: 0 for 0-, 1- and 3-d inputs, else 1."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim``, computed stably; the slices along ``dim`` sum to 1.

    Args:
        dim: the dimension to normalise (None: PyTorch's deprecated implicit choice, warned).

    Shape:
        input (*) -> output (*), the same shape.

    >>> import chainrule
    >>> chainrule.nn.Softmax(dim=1)(chainrule.zeros(2, 4)).sum(1)
    tensor([1., 1.])
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim if self.dim is not None else _implicit_dim("softmax", input.ndim)
        return softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``log(softmax(x))`` along ``dim``, without forming softmax (finite for finite input).

    Args:
        dim: the dimension to normalise (None: PyTorch's deprecated implicit choice, warned).

    Shape:
        input (*) -> output (*), the same shape.

    >>> import chainrule
    >>> chainrule.nn.LogSoftmax(dim=1)(chainrule.zeros(1, 2))
    tensor([[-0.6931, -0.6931]])
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim if self.dim is not None else _implicit_dim("log_softmax", input.ndim)
        return log_softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, linear (``x``) where ``beta * x > threshold``.

    Args:
        beta: sharpness (default 1.0).
        threshold: above ``beta * x > threshold`` the output is ``x`` (default 20.0).

    Shape:
        input (*) -> output (*), the same shape.

    >>> import chainrule
    >>> chainrule.nn.Softplus()(chainrule.tensor([0.0]))
    tensor([0.6931])
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"
