"""Activation primitives (leaky_relu, elu, gelu, silu, softplus) and the functional forms of every
activation with PyTorch's arguments.

relu, sigmoid and tanh are primitives of ``ops/elementwise/``; softmax and log_softmax of
``ops/reduction.py``. This file adds ``inplace=`` to relu and the error function gelu needs
(NumPy has none, and SciPy is not a dependency).
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops.elementwise import relu as _relu
from chainrule.ops.elementwise import stable_sigmoid
from chainrule.tensor import Tensor

# --- error function ---

# NOTE: erfc(a) for a >= 0 is computed as exp(-a^2) * h(s) / (a + 1/2) with s = (a - 4) / (a + 4)
# (a in [0, inf) maps onto s in [-1, 1]) and h(s) = (a + 1/2) * erfcx(a), which is smooth and lies
# in [0.5, 0.57]. h is the Chebyshev interpolant at 100 nodes, computed with mpmath at 50 digits,
# truncated where the tail drops below 1e-17 (25 terms; 14 for float32) and converted to a
# power series in s (sum |coef| = 0.89, so Horner's rule loses nothing). The mapped variable is the
# real-axis form of Weideman, SIAM J. Numer. Anal. 31 (1994) 1497. Measured against mpmath:
# erfc within 4.3e-16 and erf within 2.2e-16 relative error in float64 (libm's math.erfc: 3.6e-16).
_ERFCX64 = (
    0.6164975593127763, -0.06981055842028115, 0.007689826051309802, 0.03404852712733454,
    -0.05051953301815028, 0.0468664174995472, -0.033165182906093486, 0.018583757763277836,
    -0.008098867029899632, 0.0025159850338287446, -0.0003788866306865478, -9.962857330545594e-05,
    7.531074500620235e-05, -1.2198873211218208e-05, -5.610643506176743e-06, 2.853302207447867e-06,
    1.459866688981506e-07, -4.105469521280284e-07, 3.873496363508971e-08, 5.316927809297442e-08,
    -1.02803246378496e-08, -6.173433021911765e-09, 1.5847940957824086e-09, 4.655872489116286e-10,
    -1.3297998451213446e-10,
)
_ERFCX32 = (
    0.616497558719891, -0.06981055692713434, 0.007689884361652481, 0.03404847070863762,
    -0.05052047038546953, 0.04686703672200953, -0.03315952204448985, 0.018580741435540723,
    -0.008115195991691972, 0.0025236146415527198, -0.0003545663936239302, -0.00011020224719695,
    5.710408642120045e-05, -4.312651676428184e-06,
)
# NOTE: for |x| < 1, erf(x) = x * p(x^2): p is the Chebyshev interpolant of erf(x) / x on
# x^2 in [0, 1] (same recipe), so erf keeps full relative accuracy near 0 where 1 - erfc cannot.
_ERF64 = (
    1.1283791670955126, -0.3761263890318375, 0.11283791670954882, -0.026866170645077334,
    0.005223977624823223, -0.0008548326981129666, 0.00012055331122299266, -1.4925595519506043e-05,
    1.6461004480962034e-06, -1.6350354461959655e-07, 1.4660051998394848e-08,
    -1.1373902296430911e-09, 5.958930743134941e-11,
)
_ERF32 = (
    1.1283791670946952, -0.3761263888986928, 0.11283791313499399, -0.026866133625492238,
    0.0052237850070906595, -0.0008542670567732235, 0.00011956946823921661,
    -1.3911701148502928e-05, 1.0595275841880361e-06,
)


def _horner(s: np.ndarray, coefs: tuple[float, ...]) -> np.ndarray:
    p = np.full_like(s, coefs[-1])
    for c in coefs[-2::-1]:
        p *= s
        p += c
    return p


def _erfc_nonneg(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(erfc(a), exp(-a*a))`` for ``a >= 0``, in ``a``'s float dtype (NaN propagates)."""
    f64, shape = a.dtype == np.float64, a.shape
    # NOTE: erfc(40) underflows to 0 in float64; clipping there keeps s finite for a = inf.
    a = np.minimum(a, 40.0).reshape(-1)  # 1-d: in-place ufuncs need arrays, not 0-d scalars
    s = (a - 4.0) / (a + 4.0)
    h = _horner(s, _ERFCX64 if f64 else _ERFCX32)
    # NOTE: exp(-a^2) = exp(-hi^2) exp(-(a - hi)(a + hi)) with hi = a cut to 21 fractional bits
    # (8 in float32), so hi^2 is exact wherever erfc(a) has not underflowed (a < 27, a < 10): the
    # rounding of a*a would otherwise cost a relative error a^2 * eps (6e-14 at a = 26).
    m = 2.0**21 if f64 else 2.0**8
    hi = np.trunc(a * m)
    hi *= 1.0 / m
    lo = a - hi
    lo *= a + hi
    e = hi * hi
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.negative(lo, out=lo)
    np.exp(lo, out=lo)
    e *= lo
    h *= e
    h /= a + 0.5
    return h.reshape(shape), e.reshape(shape)


def erfc_array(x: np.ndarray) -> np.ndarray:
    """The complementary error function of a float ndarray, elementwise, in its dtype.

    >>> import numpy as np
    >>> float(erfc_array(np.array([1.0]))[0])
    0.15729920705028513
    """
    r, _ = _erfc_nonneg(np.abs(x))
    return np.where(x >= 0, r, 2.0 - r).astype(x.dtype, copy=False)


def erf_array(x: np.ndarray) -> np.ndarray:
    """The error function of a float ndarray, elementwise, in its dtype (NumPy has none).

    >>> import numpy as np
    >>> float(erf_array(np.array([0.5]))[0])
    0.5204998778130465
    """
    a = np.abs(x)
    r, _ = _erfc_nonneg(a)
    big = np.copysign(1.0 - r, x)
    xs = np.clip(x, -1.0, 1.0)  # the small-|x| form, evaluated where it is valid
    small = xs * _horner(xs * xs, _ERF64 if x.dtype == np.float64 else _ERF32)
    return np.where(a < 1.0, small, big).astype(x.dtype, copy=False)


# --- primitives ---

_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_PI = math.sqrt(2.0 / math.pi)
_GELU_KAPPA = 0.044715


class LeakyRelu(Function):
    @staticmethod
    def forward(ctx, x, negative_slope):
        pos = x > 0
        ctx.pos, ctx.slope = pos, negative_slope
        return np.where(pos, x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad):
        # NOTE: the slope at 0 is negative_slope (PyTorch's convention: x > 0 ? 1 : slope).
        return np.where(ctx.pos, grad, grad * ctx.slope), None


class Elu(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.x, ctx.alpha = x, alpha
        # NOTE: expm1 keeps the negative branch exact near 0; min(x, 0) keeps exp from
        # overflowing on the positive inputs np.where discards.
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))

    @staticmethod
    def backward(ctx, grad):
        # NOTE: elu'(0) = alpha (the left derivative, PyTorch's convention); alpha * exp(x) is
        # computed from x, not as y + alpha, which would cancel to 0 for very negative x.
        x = ctx.x
        return grad * np.where(x > 0, 1.0, ctx.alpha * np.exp(np.minimum(x, 0.0))), None


class Gelu(Function):
    @staticmethod
    def forward(ctx, x, approximate):
        ctx.x, ctx.approximate = x, approximate
        if approximate == "tanh":
            u = x * x
            u *= _GELU_KAPPA
            u += 1.0
            u *= x
            u *= _SQRT_2_PI
            t = np.tanh(u)
            ctx.t = t
            return 0.5 * x * (1.0 + t)
        # NOTE: Phi(x) = erfc(-x / sqrt 2) / 2, taken from the small erfc on whichever side it is
        # small, so gelu(-10) = -7.6e-23 rather than the 0 that x * (1 + erf(x / sqrt 2)) / 2
        # leaves after cancellation.
        r, e = _erfc_nonneg(np.abs(x) * _SQRT1_2)
        r *= 0.5
        cdf = np.where(x <= 0, r, 1.0 - r)
        ctx.cdf, ctx.e = cdf, e
        return x * cdf

    @staticmethod
    def backward(ctx, grad):
        x = ctx.x
        if ctx.approximate == "tanh":
            t = ctx.t
            du = _SQRT_2_PI * (1.0 + (3.0 * _GELU_KAPPA) * x * x)
            return grad * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du), None
        # NOTE: d/dx x Phi(x) = Phi(x) + x phi(x); e = exp(-x^2 / 2) was saved by forward.
        return grad * (ctx.cdf + x * (_INV_SQRT_2PI * ctx.e)), None


class Silu(Function):
    @staticmethod
    def forward(ctx, x):
        s = stable_sigmoid(x)
        ctx.x, ctx.s = x, s
        return x * s

    @staticmethod
    def backward(ctx, grad):
        x, s = ctx.x, ctx.s
        return grad * (s * (1.0 + x * (1.0 - s)))


class Softplus(Function):
    @staticmethod
    def forward(ctx, x, beta, threshold):
        bx = x * beta if beta != 1 else x
        # NOTE: log(1 + exp(bx)) = max(bx, 0) + log1p(exp(-|bx|)) never overflows, whatever the
        # threshold; above it PyTorch returns x itself (linear), and so do we.
        y = np.maximum(bx, 0.0) + np.log1p(np.exp(-np.abs(bx)))
        if beta != 1:
            y /= beta
        lin = bx > threshold
        ctx.bx, ctx.lin = bx, lin
        return np.where(lin, x, y)

    @staticmethod
    def backward(ctx, grad):
        return grad * np.where(ctx.lin, 1.0, stable_sigmoid(ctx.bx)), None, None


# --- public functions ---


def _float_input(input: Tensor, name: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point tensor, got {input.dtype} of shape "
                        f"{input.shape} (convert it with .float())")


def _apply(op, input: Tensor, inplace: bool, *args) -> Tensor:
    """``op(input, *args)``, or written over ``input`` (rebinding it to the op's node)."""
    return input._inplace(op, *args) if inplace else op(input, *args)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0) elementwise (PyTorch's ``F.relu``); ``inplace=True`` overwrites ``input``.

    >>> import chainrule
    >>> relu(chainrule.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    return _apply(_relu, input, inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, ``negative_slope * x`` otherwise.

    >>> import chainrule
    >>> leaky_relu(chainrule.tensor([-1.0, 2.0]), 0.1)
    tensor([-0.1,  2. ])
    """
    _float_input(input, "leaky_relu")
    return _apply(LeakyRelu.apply, input, inplace, float(negative_slope))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, ``alpha * (exp(x) - 1)`` otherwise.

    >>> import chainrule
    >>> elu(chainrule.tensor([0.0, 2.0]))
    tensor([0., 2.])
    """
    _float_input(input, "elu")
    return _apply(Elu.apply, input, inplace, float(alpha))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF; ``approximate='tanh'`` uses
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    >>> import chainrule
    >>> gelu(chainrule.tensor([0.0, 1.0]))
    tensor([0.    , 0.8413])
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    _float_input(input, "gelu")
    return Gelu.apply(input, approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish).

    >>> import chainrule
    >>> silu(chainrule.tensor([0.0]))
    tensor([0.])
    """
    _float_input(input, "silu")
    return _apply(Silu.apply, input, inplace)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, and x itself where ``beta * x > threshold``.

    >>> import chainrule
    >>> softplus(chainrule.tensor([0.0, 30.0]))
    tensor([ 0.6931, 30.    ])
    """
    _float_input(input, "softplus")
    return Softplus.apply(input, float(beta), float(threshold))
