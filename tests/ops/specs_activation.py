"""Spec rows for the activation primitives of ``ops/activation.py`` (see ``specs.py``)."""

from __future__ import annotations

from chainrule.nn import functional as F
from chainrule.ops import activation as act
from chainrule.ops import elementwise as ew
from tests.ops.specs import UB, Spec, U, nonzero, normal, off_grid


def _tf():
    import torch.nn.functional as tf

    return tf


def wide(rng, shape):
    """N(0, 4^2): reaches both tails of gelu's erfc (|x| / sqrt 2 up to ~8)."""
    return 4.0 * rng.standard_normal(shape)


def _row(name, prim, fn, torch_fn, gen=normal, **kw):
    return Spec(name=name, prims=(prim,), fn=fn, torch_fn=torch_fn,
                cases=tuple((s,) for s in U), big=UB, gens=(gen,), **kw)


SPECS: list[Spec] = [
    # NOTE: kinks (leaky_relu and elu at 0, softplus at its threshold) are kept away from by the
    # generators, so finite differences see one smooth piece.
    _row("leaky_relu", act.LeakyRelu, lambda x: F.leaky_relu(x),
         lambda x: _tf().leaky_relu(x), gen=nonzero),
    _row("leaky_relu_slope", act.LeakyRelu, lambda x: F.leaky_relu(x, 0.2),
         lambda x: _tf().leaky_relu(x, 0.2), gen=nonzero),
    _row("leaky_relu_inplace", act.LeakyRelu, lambda x: F.leaky_relu(x * 1, 0.3, inplace=True),
         lambda x: _tf().leaky_relu(x * 1, 0.3, inplace=True), gen=nonzero),
    _row("elu", act.Elu, lambda x: F.elu(x), lambda x: _tf().elu(x), gen=nonzero),
    _row("elu_alpha", act.Elu, lambda x: F.elu(3 * x, alpha=0.5),
         lambda x: _tf().elu(3 * x, alpha=0.5), gen=nonzero),
    _row("elu_inplace", act.Elu, lambda x: F.elu(x * 1, 1.5, True),
         lambda x: _tf().elu(x * 1, 1.5, True), gen=nonzero),
    _row("gelu", act.Gelu, lambda x: F.gelu(x), lambda x: _tf().gelu(x), gen=wide),
    _row("gelu_tanh", act.Gelu, lambda x: F.gelu(x, approximate="tanh"),
         lambda x: _tf().gelu(x, approximate="tanh"), gen=wide),
    _row("silu", act.Silu, lambda x: F.silu(3 * x), lambda x: _tf().silu(3 * x)),
    _row("silu_inplace", act.Silu, lambda x: F.silu(x * 1, inplace=True),
         lambda x: _tf().silu(x * 1, inplace=True)),
    _row("softplus", act.Softplus, lambda x: F.softplus(3 * x), lambda x: _tf().softplus(3 * x)),
    _row("softplus_beta_threshold", act.Softplus, lambda x: F.softplus(x, beta=2, threshold=3),
         lambda x: _tf().softplus(x, beta=2, threshold=3), gen=off_grid),
    _row("relu_inplace", ew.Relu, lambda x: F.relu(x * 1, inplace=True),
         lambda x: _tf().relu(x * 1, inplace=True), gen=nonzero),
]
