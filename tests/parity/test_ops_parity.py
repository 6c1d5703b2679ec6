"""Every row of the spec table against PyTorch, in float32 and float64: values, every input's
gradient, shapes and dtypes (and float32 stays float32)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from tests.ops.specs import all_specs, shape_id
from tests.parity.helpers import check_parity

pytest.importorskip("torch")

SPECS = all_specs()
CASES = [(s, c) for s in SPECS for c in (*s.cases, s.big)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("spec, shapes", CASES, ids=[f"{s.name}-{shape_id(c)}" for s, c in CASES])
def test_parity(spec, shapes, dtype):
    arrays = spec.inputs(shapes, dtype)
    tol = spec.tol32 if dtype == np.float32 else (None, None)
    outs, _ = check_parity(
        spec.fn, spec.torch, arrays, spec.needs_grad(arrays), rtol=tol[0], atol=tol[1]
    )
    if spec.keeps_dtype:
        for k, o in enumerate(outs):
            if o.dtype.kind == "f":
                assert o.dtype == dtype, f"{spec.name}: output {k} is {o.dtype} for {dtype} inputs"


def _outputs_by_node(outs) -> dict:
    """Every node behind ``outs``, with the (shape, dtype) of each of its outputs by index."""
    meta: dict = {}
    stack = [o for o in outs if isinstance(o, cr.Tensor)]
    while stack:
        t = stack.pop()
        fn = t.grad_fn
        if fn is None:
            continue
        first = fn not in meta
        meta.setdefault(fn, {})[t._out_index] = (t.shape, t.dtype)
        if first:
            stack.extend(p for p in fn._parents if isinstance(p, cr.Tensor))
    return meta


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_backward_rules_keep_float32(spec):
    """Each rule, called on float32 gradients, returns its inputs' dtypes: no float64 inside
    (the engine would cast it back, hiding the cost)."""
    for shapes in (spec.cases[0], spec.big):
        arrays = spec.inputs(shapes, np.float32)
        xs = [cr.tensor(a, requires_grad=n) for a, n in zip(arrays, spec.needs_grad(arrays))]
        out = spec.fn(*xs)
        for node, outs in _outputs_by_node(out if isinstance(out, tuple) else [out]).items():
            metas = node._out_meta or (outs[0],)
            grads = [np.ones(s, d) if d.kind == "f" else None for s, d in metas]
            got = type(node).backward(node, *grads)
            got = got if isinstance(got, tuple) else (got,)
            for p, g in zip(node._parents, got):
                if isinstance(p, cr.Tensor) and g is not None and p.dtype.kind == "f":
                    assert np.asarray(g).dtype == p.dtype, (
                        f"{node.name()} returns a {np.asarray(g).dtype} gradient for a "
                        f"{p.dtype} input of shape {p.shape}"
                    )
