"""Random-direction checks at realistic sizes, in float64.

For random directions ``v`` (in input space) and ``u`` (in output space), the backward pass
gives ``<J^T u, v>`` and central differences give ``<(f(x + eps v) - f(x - eps v)) / 2 eps, u>``.
The full Jacobian of a (64, 128) op has 67 million entries; this costs three forward passes.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import chainrule as cr
from tests.ops.specs import all_specs

SPECS = all_specs()


def _float_outputs(out) -> list:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if o.dtype.kind == "f"]


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_random_direction(spec):
    arrays = spec.inputs(spec.big, np.float64)
    needs = spec.needs_grad(arrays)
    rng = np.random.default_rng(zlib.crc32(spec.name.encode()))
    xs = [cr.tensor(a, requires_grad=n) for a, n in zip(arrays, needs)]
    outs = _float_outputs(spec.fn(*xs))
    us = [rng.standard_normal(o.shape) for o in outs]
    vs = [rng.standard_normal(a.shape) if n else None for a, n in zip(arrays, needs)]
    wrt = [x for x, n in zip(xs, needs) if n]
    grads = cr.autograd.grad(outs, wrt, [cr.tensor(u) for u in us], allow_unused=True)
    lhs = sum(
        float(np.sum(g.numpy() * v))
        for g, v in zip(grads, [v for v in vs if v is not None])
        if g is not None
    )

    def f(sign: float) -> float:
        shifted = [
            cr.tensor(a + sign * spec.eps * v if v is not None else a) for a, v in zip(arrays, vs)
        ]
        with cr.no_grad():
            outs = _float_outputs(spec.fn(*shifted))
        return sum(float(np.sum(o.numpy() * u)) for o, u in zip(outs, us))

    rhs = (f(1.0) - f(-1.0)) / (2 * spec.eps)
    # NOTE: rounding in f is about 1e-16 * sum|o * u|, divided by 2 eps in the difference.
    scale = sum(float(np.sum(np.abs(o.numpy() * u))) for o, u in zip(outs, us))
    assert rhs == pytest.approx(lhs, rel=spec.fd_rtol, abs=1e-8 * scale + 1e-10), (
        f"{spec.name}: backward gives {lhs}, finite differences {rhs}"
    )
