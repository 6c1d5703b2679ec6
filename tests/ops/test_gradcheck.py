"""Every row of the spec table passes a float64 finite-difference gradcheck at small shapes."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import gradcheck
from tests.ops.specs import all_specs, shape_id, small_cases

CASES = small_cases(all_specs())


@pytest.mark.parametrize("spec, shapes", CASES, ids=[f"{s.name}-{shape_id(c)}" for s, c in CASES])
def test_gradcheck(spec, shapes):
    arrays = spec.inputs(shapes, np.float64)
    needs = spec.needs_grad(arrays)
    assert any(needs), f"{spec.name}: no input requires grad"
    xs = [cr.tensor(a, requires_grad=n) for a, n in zip(arrays, needs)]
    assert gradcheck(spec.fn, xs, eps=spec.eps)
