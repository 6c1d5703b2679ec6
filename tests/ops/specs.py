"""The spec table: one row per way of calling a primitive, driving every op test.

A row (:class:`Spec`) names the ``Function`` subclasses it exercises, a chainrule callable and the
equivalent torch callable, small input shapes for the finite-difference gradcheck (a scalar case,
a size-1 axis and, for binary ops, a broadcast pair wherever the op allows them) and one realistic
size for the random-direction check. Inputs come from generators that respect each op's domain
(positive for log/sqrt, away from zero for division, no ties for max/min, away from the kinks of
abs/relu/clamp).

Three test modules read the table (``test_gradcheck.py``, ``test_directional.py`` and
``tests/parity/test_ops_parity.py``) and ``test_meta.py`` fails if a primitive under
``chainrule.ops`` has no row. Other families add rows in their own ``tests/ops/specs_*.py``
module holding a list named ``SPECS``; :func:`all_specs` finds them. A row looks like::

    Spec(name="gather", prims=(sh.Gather,), fn=lambda x, i: x.gather(1, i),
         cases=(((3, 4), (3, 6)), ((1, 4), (1, 2))), big=((64, 128), (64, 300)),
         gens=(normal, ints(0, 4)))

(``fn`` is used for torch too when the expression reads the same in both; integer and bool
inputs never require grad; pass ``grads=`` to choose otherwise.)
"""

from __future__ import annotations

import importlib
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.ops import elementwise as ew
from chainrule.ops import linalg as la
from chainrule.ops import reduction as red
from chainrule.ops import shape as sh

Shape = tuple[int, ...]
Gen = Callable[[np.random.Generator, Shape], np.ndarray]


@dataclass(frozen=True, kw_only=True)
class Spec:
    """One row of the table.

    ``fn(*inputs)`` and ``torch_fn(*inputs)`` get one tensor per generated input and return a
    tensor or a tuple of tensors. ``torch_fn`` defaults to ``fn`` (for expressions written with
    operators and methods, which read the same in both). ``cases`` holds, per small case, one shape
    per input; ``big`` the shapes at a realistic size. ``gens`` makes each input (float64 for
    floats; integer and bool arrays are indices and masks and never need grad).
    """

    name: str
    prims: tuple[type, ...]
    fn: Callable
    torch_fn: Callable | None = None
    cases: tuple[tuple[Shape, ...], ...]
    big: tuple[Shape, ...]
    gens: tuple[Gen, ...] | None = None
    grads: tuple[bool, ...] | None = None  # which inputs require grad (default: the floats)
    keeps_dtype: bool = True  # float32 in -> float32 out (False only for explicit casts)
    eps: float = 1e-6  # finite-difference step (gradcheck and the directional check)
    fd_rtol: float = 1e-6  # relative tolerance of the directional check
    tol32: tuple[float, float] = (1e-5, 1e-5)  # (rtol, atol) for float32 parity

    @property
    def torch(self) -> Callable:
        return self.torch_fn or self.fn

    def needs_grad(self, arrays: list[np.ndarray]) -> list[bool]:
        if self.grads is not None:
            return list(self.grads)
        return [a.dtype.kind == "f" for a in arrays]

    def inputs(self, shapes: tuple[Shape, ...], dtype=np.float64) -> list[np.ndarray]:
        """The row's inputs for one case: floats in ``dtype``, the same on every call."""
        rng = np.random.default_rng(zlib.crc32(f"{self.name}{shapes}".encode()))
        gens = self.gens or (normal,) * len(shapes)
        arrays = []
        for gen, shape in zip(gens, shapes, strict=True):
            a = np.asarray(gen(rng, shape))
            arrays.append(a.astype(dtype) if a.dtype.kind == "f" else a)
        return arrays


# --- input generators ---


def normal(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def nonzero(rng, shape):
    """|x| in [0.5, 2]: away from the poles of 1/x and the kinks of abs, relu and sign."""
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def distinct(rng, shape):
    """All values different and at least 0.05 apart: no ties for max, min and their indices."""
    n = math.prod(shape)
    return ((rng.permutation(n) - n / 2) * 0.05 + 0.01).reshape(shape)


def off_grid(rng, shape):
    """k + 0.25 or k + 0.75 (+-0.1): at least 0.15 from every integer and half-integer."""
    base = rng.integers(-3, 3, shape) + rng.choice([0.25, 0.75], shape)
    return base + rng.uniform(-0.1, 0.1, shape)


def unit(rng, shape):
    """+1 or -1: divisors that keep an off-grid numerator's quotient off the grid."""
    return rng.choice([-1.0, 1.0], shape)


def even_grid(rng, shape):
    """Multiples of 0.2; paired with :func:`odd_grid` two inputs are never within 0.1."""
    return 0.2 * rng.integers(-10, 10, shape)


def odd_grid(rng, shape):
    return 0.2 * rng.integers(-10, 10, shape) + 0.1


def near_one(rng, shape):
    """Signed values with |x| in [0.7, 1.3], so that long products stay moderate."""
    return rng.uniform(0.7, 1.3, shape) * rng.choice([-1.0, 1.0], shape)


def with_zeros(rng, shape):
    """Like :func:`near_one` with about a third of the entries exactly 0 (prod's zero path)."""
    x = near_one(rng, shape)
    return np.where(rng.random(shape) < 0.3, 0.0, x)


def ints(low: int, high: int) -> Gen:
    """Integer (int64) indices in ``[low, high)``."""
    return lambda rng, shape: rng.integers(low, high, shape).astype(np.int64)


def perm_rows(rng, shape):
    """An int64 index without repeats along the last axis (safe for index assignment)."""
    n = shape[-1] if shape else 1
    return rng.permutation(max(n, 4))[:n].reshape(shape).astype(np.int64)


def bools(rng, shape):
    return rng.random(shape) < 0.5


def _put(x, key, v):
    """``y = x * 1; y[key] = v``: item assignment on a non-leaf, in either framework."""
    y = x * 1
    y[key] = v
    return y


# --- the table ---

U = ((3, 4), (), (1, 5), (2, 1, 3))  # shapes for unary ops: matrix, scalar, size-1 axes
UB = ((64, 128),)  # the realistic size
BIN = (
    ((3, 4), (3, 4)),
    ((), ()),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (4,)),
    ((), (2, 3)),
    ((1, 5), (1, 5)),
)
BINB = ((64, 128), (128,))


def _unary(name, prim, fn, torch_fn=None, gen=normal, **kw):
    return Spec(
        name=name,
        prims=(prim,),
        fn=fn,
        torch_fn=torch_fn,
        cases=tuple((s,) for s in U),
        big=UB,
        gens=(gen,),
        **kw,
    )


def _binary(name, prim, fn, torch_fn=None, gens=(normal, normal), **kw):
    return Spec(
        name=name, prims=(prim,), fn=fn, torch_fn=torch_fn, cases=BIN, big=BINB, gens=gens, **kw
    )


def _t():
    import torch

    return torch


SPECS: list[Spec] = [
    # --- elementwise: binary arithmetic ---
    _binary("add", ew.Add, lambda a, b: a + b),
    _binary("add_alpha", ew.Add, lambda a, b: a.add(b, alpha=2.5)),
    _binary("add_scalar", ew.Add, lambda a, b: (a + 1.5) + (2 + b)),
    _binary("sub", ew.Sub, lambda a, b: a - b),
    _binary("sub_scalar", ew.Sub, lambda a, b: (1.5 - a) - (b - 2)),
    _binary("mul", ew.Mul, lambda a, b: a * b),
    _binary("mul_scalar", ew.Mul, lambda a, b: (a * 1.5) * (b * 2)),
    _binary("div", ew.Div, lambda a, b: a / b, gens=(normal, nonzero)),
    _binary("rdiv_scalar", ew.Div, lambda a, b: 2.0 / b + a / 4, gens=(normal, nonzero)),
    _binary(
        "floor_divide",
        ew.Step,
        lambda a, b: a // b,
        lambda a, b: a.div(b, rounding_mode="floor"),
        gens=(off_grid, unit),
    ),
    _binary(
        "div_trunc", ew.Step, lambda a, b: a.div(b, rounding_mode="trunc"), gens=(off_grid, unit)
    ),
    _binary("remainder", ew.Step, lambda a, b: a % b, gens=(off_grid, unit)),
    _binary("pow_tensor", ew.Pow, lambda a, b: a**b, gens=(positive, normal)),
    _unary("pow_float", ew.Pow, lambda x: x**2.5, gen=positive),
    _unary("pow_int", ew.Pow, lambda x: x**3),
    _unary("pow_negative", ew.Pow, lambda x: x**-1.5, gen=positive),
    _unary("pow_zero", ew.Pow, lambda x: x**0),
    _unary("rpow", ew.Pow, lambda x: 2.0**x),
    _binary("maximum", ew.Maximum, lambda a, b: a.maximum(b), gens=(even_grid, odd_grid)),
    _binary("minimum", ew.Minimum, lambda a, b: a.minimum(b), gens=(even_grid, odd_grid)),
    # --- elementwise: unary maths ---
    _unary("neg", ew.Neg, lambda x: -x),
    _unary("exp", ew.Exp, lambda x: cr.exp(x), lambda x: _t().exp(x)),
    _unary("log", ew.Log, lambda x: cr.log(x), lambda x: _t().log(x), gen=positive),
    _unary("log1p", ew.Log1p, lambda x: x.log1p(), gen=positive),
    _unary("expm1", ew.Expm1, lambda x: x.expm1()),
    _unary("sqrt", ew.Sqrt, lambda x: cr.sqrt(x), lambda x: _t().sqrt(x), gen=positive),
    _unary("rsqrt", ew.Div, lambda x: x.rsqrt(), gen=positive),
    _unary("abs", ew.Abs, lambda x: x.abs(), gen=nonzero),
    _unary("sin", ew.Sin, lambda x: x.sin()),
    _unary("cos", ew.Cos, lambda x: x.cos()),
    _unary("tanh", ew.Tanh, lambda x: cr.tanh(x), lambda x: _t().tanh(x)),
    _unary("sigmoid", ew.Sigmoid, lambda x: (3 * x).sigmoid()),
    _unary("relu", ew.Relu, lambda x: cr.relu(x), lambda x: _t().relu(x), gen=nonzero),
    _unary("square", ew.Mul, lambda x: x.square()),
    _unary("reciprocal", ew.Div, lambda x: x.reciprocal(), gen=nonzero),
    _unary("clamp", ew.Clamp, lambda x: x.clamp(-0.5, 0.5), gen=off_grid),
    _unary("clamp_min", ew.Clamp, lambda x: x.clamp(min=0.5), gen=off_grid),
    _unary("clamp_max", ew.Clamp, lambda x: x.clamp_max(-0.5), gen=off_grid),
    Spec(
        name="clamp_tensor_bounds",
        prims=(ew.Clamp,),
        fn=lambda x, lo: cr.clamp(x, lo, lo + 1),
        torch_fn=lambda x, lo: _t().clamp(x, lo, lo + 1),
        cases=(((3, 4), (3, 4)), ((3, 4), (4,)), ((), ())),
        big=((64, 128), (128,)),
        gens=(off_grid, lambda rng, s: np.full(s, -0.5)),
        grads=(True, False),
    ),
    Spec(
        name="clamp_tensor_bounds_grad",
        prims=(sh.Where,),
        fn=lambda x, lo, hi: cr.clamp(x, lo, hi),
        torch_fn=lambda x, lo, hi: _t().clamp(x, lo, hi),
        cases=(((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), ()), ((), (), ())),
        big=((64, 128), (128,), (64, 1)),
        gens=(
            normal,
            lambda rng, s: rng.uniform(-1, -0.2, s),
            lambda rng, s: rng.uniform(0.2, 1, s),
        ),
    ),
    _unary("sign", ew.Step, lambda x: x.sign(), gen=off_grid),
    _unary("floor", ew.Step, lambda x: x.floor(), gen=off_grid),
    _unary("ceil", ew.Step, lambda x: x.ceil(), gen=off_grid),
    _unary("round", ew.Step, lambda x: x.round(), gen=off_grid),
    _unary("trunc", ew.Step, lambda x: x.trunc(), gen=off_grid),
    _unary("clone", ew.Clone, lambda x: x.clone()),
    _unary(
        "cast_double", ew.Cast, lambda x: x.double() * 1, keeps_dtype=False, eps=1e-3, fd_rtol=1e-3
    ),
    _unary(
        "cast_roundtrip",
        ew.Cast,
        lambda x: x.float().double(),
        keeps_dtype=False,
        eps=1e-3,
        fd_rtol=1e-3,
    ),
    # --- reductions ---
    _unary("sum", red.Sum, lambda x: x.sum()),
    _unary("sum_dim", red.Sum, lambda x: x.sum(-1)),
    _unary("sum_dim_keepdim", red.Sum, lambda x: x.sum(dim=0, keepdim=True)),
    Spec(
        name="sum_dims",
        prims=(red.Sum,),
        fn=lambda x: x.sum(dim=(0, 2)),
        cases=(((2, 3, 4),), ((1, 3, 1),)),
        big=((16, 64, 32),),
    ),
    _unary("mean", red.Mean, lambda x: x.mean()),
    _unary("mean_dim", red.Mean, lambda x: x.mean(-1)),
    _unary("mean_dim_keepdim", red.Mean, lambda x: x.mean(dim=0, keepdim=True)),
    Spec(
        name="mean_dims",
        prims=(red.Mean,),
        fn=lambda x: x.mean(dim=(-1, 0), keepdim=True),
        cases=(((2, 3, 4),), ((1, 3, 1),)),
        big=((16, 64, 32),),
    ),
    Spec(
        name="var",
        prims=(red.Var,),
        fn=lambda x: x.var(),
        cases=(((3, 4),), ((5,),), ((2, 1, 3),)),
        big=UB,
    ),
    Spec(
        name="var_dim",
        prims=(red.Var,),
        fn=lambda x: x.var(dim=1),
        cases=(((3, 4),), ((1, 5),), ((2, 3, 1),)),
        big=UB,
    ),
    Spec(
        name="var_correction0",
        prims=(red.Var,),
        fn=lambda x: x.var(0, keepdim=True, correction=0),
        cases=(((3, 4),), ((1, 5),), ((2, 3, 1),), ((),)),
        big=UB,
    ),
    Spec(
        name="var_unbiased_false",
        prims=(red.Var,),
        fn=lambda x: x.var(-1, unbiased=False),
        cases=(((3, 4),), ((5,),)),
        big=UB,
    ),
    Spec(
        name="std",
        prims=(red.Var, ew.Sqrt),
        fn=lambda x: x.std(dim=0),
        cases=(((3, 4),), ((2, 1, 3),)),
        big=UB,
    ),
    Spec(
        name="std_all",
        prims=(red.Var, ew.Sqrt),
        fn=lambda x: x.std(),
        cases=(((3, 4),), ((6,),)),
        big=UB,
    ),
    Spec(
        name="prod",
        prims=(red.Prod,),
        fn=lambda x: x.prod(),
        cases=(((3, 4),), ((),), ((1, 5),)),
        big=((4, 8),),
        gens=(near_one,),
    ),
    _unary("prod_dim", red.Prod, lambda x: x.prod(-1), gen=near_one),
    _unary("prod_dim_keepdim", red.Prod, lambda x: x.prod(0, keepdim=True), gen=near_one),
    Spec(
        name="prod_zeros",
        prims=(red.Prod,),
        fn=lambda x: x.prod(1),
        cases=(((4, 5),), ((3, 1),)),
        big=((64, 16),),
        gens=(with_zeros,),
    ),
    Spec(
        name="prod_zeros_all",
        prims=(red.Prod,),
        fn=lambda x: x.prod(),
        cases=(((2, 3),),),
        big=((3, 4),),
        gens=(lambda rng, s: np.arange(math.prod(s)).reshape(s) * 0.5 - 0.5,),
    ),
    _unary("max_all", red.AMax, lambda x: x.max(), gen=distinct),
    _unary("min_all", red.AMax, lambda x: x.min(), gen=distinct),
    _unary("amax", red.AMax, lambda x: x.amax(-1), gen=distinct),
    Spec(
        name="amin_dims",
        prims=(red.AMax,),
        fn=lambda x: x.amin((0, 1), keepdim=True),
        cases=(((2, 3, 4),), ((1, 3, 1),)),
        big=((16, 64, 32),),
        gens=(distinct,),
    ),
    _unary("max_dim", red.MaxDim, lambda x: x.max(dim=-1), gen=distinct),
    _unary("min_dim_keepdim", red.MaxDim, lambda x: x.min(0, keepdim=True), gen=distinct),
    Spec(
        name="max_dim_values",
        prims=(red.MaxDim,),
        fn=lambda x: x.max(1).values * 2,
        cases=(((3, 4),), ((2, 1, 3),)),
        big=UB,
        gens=(distinct,),
    ),
    _unary("softmax", red.Softmax, lambda x: x.softmax(-1)),
    _unary(
        "softmax_dim0",
        red.Softmax,
        lambda x: cr.softmax(x * 3, dim=0),
        lambda x: _t().softmax(x * 3, dim=0),
    ),
    _unary("log_softmax", red.LogSoftmax, lambda x: x.log_softmax(-1)),
    _unary(
        "log_softmax_dim0",
        red.LogSoftmax,
        lambda x: cr.log_softmax(x * 3, 0),
        lambda x: _t().log_softmax(x * 3, 0),
    ),
    _unary("logsumexp", red.LogSumExp, lambda x: x.logsumexp(-1)),
    Spec(
        name="logsumexp_dims",
        prims=(red.LogSumExp,),
        fn=lambda x: cr.logsumexp(x, (0, 2), keepdim=True),
        torch_fn=lambda x: _t().logsumexp(x, (0, 2), keepdim=True),
        cases=(((2, 3, 4),), ((1, 3, 1),)),
        big=((16, 64, 32),),
    ),
    _unary("cumsum", red.CumSum, lambda x: x.cumsum(-1)),
    _unary("cumsum_dim0", red.CumSum, lambda x: cr.cumsum(x, 0), lambda x: _t().cumsum(x, 0)),
    Spec(
        name="norm",
        prims=(red.Sum, ew.Sqrt),
        fn=lambda x: x.norm(),
        cases=(((3, 4),), ((5,),)),
        big=UB,
    ),
    Spec(
        name="norm_p1_dim",
        prims=(red.Sum, ew.Abs),
        fn=lambda x: x.norm(p=1, dim=1),
        cases=(((3, 4),), ((2, 1, 3),)),
        big=UB,
        gens=(nonzero,),
    ),
    Spec(
        name="norm_p3",
        prims=(red.Sum, ew.Pow),
        fn=lambda x: x.norm(p=3),
        cases=(((3, 4),), ((5,),)),
        big=UB,
        gens=(nonzero,),
    ),
    # --- linalg ---
    Spec(
        name="matmul",
        prims=(la.MatMul,),
        fn=lambda a, b: a @ b,
        cases=(
            ((3, 4), (4, 5)),
            ((1, 4), (4, 1)),
            ((4,), (4, 5)),
            ((3, 4), (4,)),
            ((4,), (4,)),
            ((2, 3, 4), (4, 5)),
            ((2, 3, 4), (2, 4, 5)),
            ((2, 1, 3, 4), (3, 4, 2)),
            ((4,), (2, 4, 3)),
            ((2, 3, 4), (4,)),
            ((3, 4), (2, 4, 5)),
        ),
        big=((64, 128), (128, 32)),
        tol32=(1e-5, 1e-4),
    ),
    Spec(
        name="matmul_batched_big",
        prims=(la.MatMul,),
        fn=lambda a, b: a @ b,
        cases=(((2, 3, 4), (4, 5)),),
        big=((8, 64, 128), (128, 32)),
        tol32=(1e-5, 1e-4),
    ),
    Spec(
        name="mm",
        prims=(la.MatMul,),
        fn=lambda a, b: a.mm(b),
        cases=(((3, 4), (4, 5)), ((1, 1), (1, 1))),
        big=((64, 128), (128, 32)),
        tol32=(1e-5, 1e-4),
    ),
    Spec(
        name="bmm",
        prims=(la.MatMul,),
        fn=lambda a, b: a.bmm(b),
        cases=(((2, 3, 4), (2, 4, 5)), ((1, 1, 3), (1, 3, 1))),
        big=((8, 64, 128), (8, 128, 32)),
        tol32=(1e-5, 1e-4),
    ),
    Spec(
        name="dot",
        prims=(la.MatMul,),
        fn=lambda a, b: a.dot(b),
        cases=(((4,), (4,)), ((1,), (1,))),
        big=((8192,), (8192,)),
        tol32=(1e-5, 1e-4),
    ),
    Spec(
        name="outer",
        prims=(la.MatMul,),
        fn=lambda a, b: cr.outer(a, b),
        torch_fn=lambda a, b: _t().outer(a, b),
        cases=(((3,), (4,)), ((1,), (2,))),
        big=((64,), (128,)),
    ),
    Spec(
        name="linear",
        prims=(la.Linear,),
        fn=lambda x, w, b: la.linear(x, w, b),
        torch_fn=lambda x, w, b: _t().nn.functional.linear(x, w, b),
        cases=(
            ((3, 4), (5, 4), (5,)),
            ((4,), (5, 4), (5,)),
            ((2, 3, 4), (5, 4), (5,)),
            ((1, 1), (1, 1), (1,)),
        ),
        big=((64, 128), (32, 128), (32,)),
        tol32=(1e-5, 1e-4),
    ),
    Spec(
        name="linear_no_bias",
        prims=(la.Linear,),
        fn=lambda x, w: la.linear(x, w),
        torch_fn=lambda x, w: _t().nn.functional.linear(x, w),
        cases=(((3, 4), (5, 4)), ((2, 1, 4), (1, 4))),
        big=((8, 64, 128), (32, 128)),
        tol32=(1e-5, 1e-4),
    ),
    Spec(
        name="linear_relu",
        prims=(la.LinearReLU,),
        fn=lambda x, w, b: la.linear_relu(x, w, b),
        torch_fn=lambda x, w, b: _t().relu(_t().nn.functional.linear(x, w, b)),
        cases=(
            ((3, 4), (5, 4), (5,)),
            ((2, 3, 4), (5, 4), (5,)),
            ((1, 1), (1, 1), (1,)),
        ),
        # 8M multiply-adds: MKL's two halves, each rectified by its thread
        big=((128, 256), (256, 256), (256,)),
        tol32=(1e-5, 1e-4),
    ),
    Spec(
        name="linear_relu_no_bias",
        prims=(la.LinearReLU,),
        fn=lambda x, w: la.linear_relu(x, w),
        torch_fn=lambda x, w: _t().relu(_t().nn.functional.linear(x, w)),
        cases=(((3, 4), (5, 4)), ((2, 1, 4), (1, 4))),
        big=((8, 64, 128), (32, 128)),
        tol32=(1e-5, 1e-4),
    ),
    # --- shape: views ---
    _unary("reshape", sh.Reshape, lambda x: x.reshape(-1)),
    Spec(
        name="reshape_shape",
        prims=(sh.Reshape,),
        fn=lambda x: x.reshape(4, -1, 2),
        cases=(((2, 12),), ((1, 8),)),
        big=((64, 128),),
    ),
    Spec(
        name="view",
        prims=(sh.Reshape,),
        fn=lambda x: x.view((3, 2, -1)),
        cases=(((6, 4),), ((3, 2, 1),)),
        big=((3, 2, 1024),),
    ),
    Spec(
        name="flatten",
        prims=(sh.Reshape,),
        fn=lambda x: x.flatten(),
        cases=(((2, 3, 4),), ((),), ((1, 3),)),
        big=((16, 64, 32),),
    ),
    Spec(
        name="flatten_start",
        prims=(sh.Reshape,),
        fn=lambda x: x.flatten(1),
        cases=(((2, 3, 4),), ((2, 1, 1),)),
        big=((16, 64, 32),),
    ),
    Spec(
        name="squeeze",
        prims=(sh.Reshape,),
        fn=lambda x: x.squeeze(),
        cases=(((2, 1, 3),), ((1,),), ((1, 1, 4, 1),)),
        big=((64, 1, 128),),
    ),
    Spec(
        name="squeeze_dim",
        prims=(sh.Reshape,),
        fn=lambda x: x.squeeze(1),
        cases=(((2, 1, 3),), ((1, 1),)),
        big=((64, 1, 128),),
    ),
    _unary("unsqueeze", sh.Reshape, lambda x: x.unsqueeze(0)),
    _unary("unsqueeze_last", sh.Reshape, lambda x: x.unsqueeze(-1)),
    Spec(
        name="permute",
        prims=(sh.Permute,),
        fn=lambda x: x.permute(2, 0, 1),
        cases=(((2, 3, 4),), ((1, 3, 1),)),
        big=((16, 64, 32),),
    ),
    Spec(
        name="permute_negative",
        prims=(sh.Permute,),
        fn=lambda x: x.permute((-1, -2)),
        cases=(((3, 4),), ((1, 5),)),
        big=UB,
    ),
    Spec(
        name="permute_scalar",
        prims=(sh.Permute,),
        fn=lambda x: x.permute(()),
        cases=(((),),),
        big=((),),
    ),
    Spec(
        name="transpose",
        prims=(sh.Permute,),
        fn=lambda x: x.transpose(0, -1),
        cases=(((2, 3, 4),), ((1, 3),)),
        big=((16, 64, 32),),
    ),
    Spec(name="T", prims=(sh.Permute,), fn=lambda x: x.T, cases=(((3, 4),), ((1, 4),)), big=UB),
    Spec(
        name="mT",
        prims=(sh.Permute,),
        fn=lambda x: x.mT,
        cases=(((2, 3, 4),), ((3, 1),)),
        big=((16, 64, 32),),
    ),
    Spec(name="t", prims=(sh.Permute,), fn=lambda x: x.t(), cases=(((3, 4),), ((2, 1),)), big=UB),
    Spec(
        name="expand",
        prims=(sh.Expand,),
        fn=lambda x: x.expand(2, 3, 4),
        cases=(((3, 1),), ((1, 4),), ((),), ((2, 3, 4),), ((4,),)),
        big=((3, 1),),
    ),
    Spec(
        name="expand_minus_one",
        prims=(sh.Expand,),
        fn=lambda x: x.expand(5, -1, -1),
        cases=(((1, 3, 4),), ((1, 1, 2),)),
        big=((1, 64, 128),),
    ),
    Spec(
        name="expand_as",
        prims=(sh.Expand,),
        fn=lambda x, y: x.expand_as(y) * y,
        cases=(((3, 1), (3, 4)), ((), (2, 2))),
        big=((64, 1), (64, 128)),
    ),
    Spec(
        name="repeat",
        prims=(sh.Repeat,),
        fn=lambda x: x.repeat(2, 3),
        cases=(((2, 3),), ((3,),), ((),), ((1, 1),)),
        big=((64, 128),),
    ),
    Spec(
        name="repeat_lead",
        prims=(sh.Repeat,),
        fn=lambda x: x.repeat(2, 1, 3),
        cases=(((2, 3),), ((1, 1, 2),)),
        big=((32, 64),),
    ),
    Spec(
        name="flip",
        prims=(sh.Flip,),
        fn=lambda x: x.flip(0),
        cases=(((3, 4),), ((1, 5),), ((2, 1, 3),), ((),)),
        big=UB,
    ),
    Spec(
        name="flip_dims",
        prims=(sh.Flip,),
        fn=lambda x: x.flip((0, -1)),
        cases=(((3, 4),), ((2, 1, 3),)),
        big=UB,
    ),
    # --- shape: indexing ---
    Spec(
        name="index_int",
        prims=(sh.Index,),
        fn=lambda x: x[1],
        cases=(((3, 4),), ((2, 1, 3),), ((3,),)),
        big=UB,
    ),
    Spec(
        name="index_negative",
        prims=(sh.Index,),
        fn=lambda x: x[-1, 1:-1],
        cases=(((3, 4),), ((2, 3, 1),)),
        big=UB,
    ),
    Spec(
        name="index_step",
        prims=(sh.Index,),
        fn=lambda x: x[::2, 1::3],
        cases=(((5, 7),), ((1, 2),), ((3, 4, 2),)),
        big=UB,
    ),
    Spec(
        name="index_none_ellipsis",
        prims=(sh.Index,),
        fn=lambda x: x[None, ..., 0],
        cases=(((3, 4),), ((2, 1, 3),), ((2,),)),
        big=UB,
    ),
    Spec(
        name="index_scalar",
        prims=(sh.Index,),
        fn=lambda x: x[...] * x[None],
        cases=(((),), ((3,),)),
        big=UB,
    ),
    Spec(
        name="index_int_array",
        prims=(sh.Index,),
        fn=lambda x, i: x[i],
        cases=(((4, 5), (6,)), ((4,), (2, 3)), ((4, 1), ())),
        big=((64, 128), (300,)),
        gens=(normal, ints(-4, 4)),
    ),
    Spec(
        name="index_two_arrays",
        prims=(sh.Index,),
        fn=lambda x, i, j: x[i, j],
        cases=(((4, 5), (6,), (6,)), ((4, 5), (2, 1), (1, 3)), ((4, 5, 2), (3,), (3,))),
        big=((64, 128), (1000,), (1000,)),
        gens=(normal, ints(0, 4), ints(0, 4)),
    ),
    Spec(
        name="index_mixed",
        prims=(sh.Index,),
        fn=lambda x, i: x[:, i] + x[i, 1:2],
        cases=(((4, 4), (4,)), ((4, 4), (1,))),
        big=((128, 128), (128,)),
        gens=(normal, ints(0, 4)),
    ),
    Spec(
        name="index_bool_mask",
        prims=(sh.Index,),
        fn=lambda x, m: x[m],
        cases=(((4, 5), (4, 5)), ((4, 5), (4,)), ((), ())),
        big=((64, 128), (64, 128)),
        gens=(normal, bools),
    ),
    Spec(
        name="index_select",
        prims=(sh.Index,),
        fn=lambda x, i: x.index_select(1, i),
        cases=(((3, 4), (6,)), ((1, 4), (1,))),
        big=((64, 128), (300,)),
        gens=(normal, ints(0, 4)),
    ),
    Spec(
        name="narrow",
        prims=(sh.Index,),
        fn=lambda x: x.narrow(1, 1, 2),
        cases=(((3, 4),), ((1, 3),)),
        big=UB,
    ),
    Spec(
        name="split",
        prims=(sh.Index,),
        fn=lambda x: x.split(2, dim=1),
        cases=(((3, 5),), ((1, 4),)),
        big=UB,
    ),
    Spec(
        name="split_sizes",
        prims=(sh.Index,),
        fn=lambda x: x.split([1, 3], 0),
        cases=(((4, 2),), ((4,),)),
        big=((4, 128),),
    ),
    Spec(
        name="chunk",
        prims=(sh.Index,),
        fn=lambda x: x.chunk(3, -1),
        cases=(((2, 7),), ((3, 3),)),
        big=UB,
    ),
    Spec(
        name="unbind",
        prims=(sh.Index,),
        fn=lambda x: x.unbind(1),
        cases=(((3, 4),), ((2, 1),)),
        big=((128, 8),),
    ),
    Spec(
        name="iterate",
        prims=(sh.Index,),
        fn=lambda x: tuple(r * (k + 1) for k, r in enumerate(x)),
        cases=(((3, 4),), ((1,),)),
        big=((8, 128),),
    ),
    Spec(
        name="setitem_slice",
        prims=(sh.IndexPut,),
        fn=lambda x, v: _put(x, (slice(None), slice(1, 3)), v),
        cases=(((3, 4), (3, 2)), ((3, 4), (2,)), ((3, 4), ()), ((1, 4), (1, 1))),
        big=((64, 128), (64, 2)),
    ),
    Spec(
        name="setitem_int",
        prims=(sh.IndexPut,),
        fn=lambda x, v: _put(x, 1, v),
        cases=(((3, 4), (4,)), ((2, 1, 3), (1, 3)), ((3,), ())),
        big=((64, 128), (128,)),
    ),
    Spec(
        name="setitem_scalar",
        prims=(sh.IndexPut,),
        fn=lambda x, v: _put(x, ..., v),
        cases=(((), ()), ((3, 4), (4,))),
        big=((64, 128), (128,)),
    ),
    Spec(
        name="setitem_index_array",
        prims=(sh.IndexPut,),
        fn=_put,
        cases=(((5, 3), (4,), (4, 3)), ((5,), (2,), ()), ((5, 3), (3,), (3,))),
        big=((128, 64), (64,), (64, 64)),
        gens=(normal, perm_rows, normal),
    ),
    Spec(
        name="setitem_mask",
        prims=(sh.IndexPut,),
        fn=_put,
        cases=(((4, 5), (4, 5), ()), ((4, 5), (4,), (5,))),
        big=((64, 128), (64,), (128,)),
        gens=(normal, bools, normal),
    ),
    Spec(
        name="gather",
        prims=(sh.Gather,),
        fn=lambda x, i: x.gather(1, i),
        # (an index of one column: each position picked at most once, the backward assigns)
        cases=(((3, 4), (3, 6)), ((1, 4), (1, 2)), ((4, 4), (2, 3)), ((2, 4, 2), (2, 5, 1)),
               ((5, 4), (5, 1)), ((2, 4, 3), (2, 1, 3))),
        big=((64, 128), (64, 300)),
        gens=(normal, ints(0, 4)),
    ),
    Spec(
        name="gather_scalar",
        prims=(sh.Gather,),
        fn=lambda x, i: x.gather(0, i),
        cases=(((), ()),),
        big=((), ()),
        gens=(normal, ints(0, 1)),
    ),
    Spec(
        name="gather_dim0",
        prims=(sh.Gather,),
        fn=lambda x, i: x.gather(0, i),
        cases=(((4, 3), (6, 3)), ((4,), (2,)), ((4, 3), (1, 3))),
        big=((128, 64), (300, 64)),
        gens=(normal, ints(0, 4)),
    ),
    Spec(
        name="masked_fill",
        prims=(sh.MaskedFill,),
        fn=lambda x, m: x.masked_fill(m, 0.5),
        cases=(((3, 4), (3, 4)), ((3, 4), (4,)), ((), ()), ((1, 4), (3, 1, 4))),
        big=((64, 128), (64, 128)),
        gens=(normal, bools),
    ),
    Spec(
        name="where",
        prims=(sh.Where,),
        fn=lambda c, a, b: cr.where(c, a, b),
        torch_fn=lambda c, a, b: _t().where(c, a, b),
        cases=(
            ((3, 4), (3, 4), (3, 4)),
            ((3, 1), (1, 4), (3, 4)),
            ((), (), ()),
            ((2, 3), (), (3,)),
        ),
        big=((64, 128), (64, 128), (128,)),
        gens=(bools, normal, normal),
    ),
    Spec(
        name="where_scalar",
        prims=(sh.Where,),
        fn=lambda c, a: a.where(c, 0.5),
        cases=(((3, 4), (3, 4)), ((4,), (3, 4))),
        big=((64, 128), (64, 128)),
        gens=(bools, normal),
    ),
    # --- shape: joins and padding ---
    Spec(
        name="cat",
        prims=(sh.Cat,),
        fn=lambda a, b, c: cr.cat([a, b, c], dim=1),
        torch_fn=lambda a, b, c: _t().cat([a, b, c], dim=1),
        cases=(((2, 3), (2, 1), (2, 4)), ((1, 1), (1, 1), (1, 2)), ((2, 0), (2, 2), (2, 1))),
        big=((64, 128), (64, 32), (64, 1)),
    ),
    Spec(
        name="cat_dim0",
        prims=(sh.Cat,),
        fn=lambda a, b: cr.cat((a, b)),
        torch_fn=lambda a, b: _t().cat((a, b)),
        cases=(((2, 3), (1, 3)), ((3,), (2,))),
        big=((64, 128), (32, 128)),
    ),
    Spec(
        name="stack",
        prims=(sh.Stack,),
        fn=lambda a, b: cr.stack([a, b]),
        torch_fn=lambda a, b: _t().stack([a, b]),
        cases=(((2, 3), (2, 3)), ((), ()), ((1,), (1,))),
        big=((64, 128), (64, 128)),
    ),
    Spec(
        name="stack_last",
        prims=(sh.Stack,),
        fn=lambda a, b, c: cr.stack([a, b, c], -1),
        torch_fn=lambda a, b, c: _t().stack([a, b, c], -1),
        cases=(((2, 3), (2, 3), (2, 3)), ((), (), ())),
        big=((64, 128),) * 3,
    ),
    Spec(
        name="pad",
        prims=(sh.Pad,),
        fn=lambda x: sh.pad(x, (1, 2)),
        torch_fn=lambda x: _t().nn.functional.pad(x, (1, 2)),
        cases=(((3, 4),), ((1,),), ((2, 1, 3),)),
        big=UB,
    ),
    Spec(
        name="pad_2d_value",
        prims=(sh.Pad,),
        fn=lambda x: sh.pad(x, (0, 1, 2, 0), value=0.5),
        torch_fn=lambda x: _t().nn.functional.pad(x, (0, 1, 2, 0), value=0.5),
        cases=(((3, 4),), ((2, 1, 1),)),
        big=((4, 64, 128),),
    ),
]


def all_specs() -> list[Spec]:
    """Rows of every ``tests/ops/specs*.py`` module (each holds a list named ``SPECS``)."""
    rows = []
    for path in sorted(Path(__file__).parent.glob("specs*.py")):
        mod = importlib.import_module(f"{__package__}.{path.stem}")
        rows.extend(mod.SPECS)
    return rows


def shape_id(shapes: tuple[Shape, ...]) -> str:
    return ",".join("x".join(map(str, s)) if s else "s" for s in shapes)


def small_cases(specs: list[Spec]) -> list[tuple[Spec, tuple[Shape, ...]]]:
    return [(s, c) for s in specs for c in s.cases]
