"""The spec table covers every primitive: each Function subclass under chainrule.ops has a row,
and each row really runs the primitives it claims."""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np

import chainrule as cr
import chainrule.ops
from chainrule.autograd import Function
from tests.ops.specs import all_specs

SPECS = all_specs()


def primitives() -> set[type]:
    """Every Function subclass defined in a module of the chainrule.ops package, once: a class
    counts only in the module that defines it, not in a package ``__init__`` re-exporting it."""
    found = set()
    for info in pkgutil.walk_packages(chainrule.ops.__path__, "chainrule.ops."):
        mod = importlib.import_module(info.name)
        for obj in vars(mod).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, Function)
                and obj is not Function
                and obj.__module__ == mod.__name__
            ):
                found.add(obj)
    return found


def _graph_types(out) -> set[type]:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    stack = [o.grad_fn for o in outs if o.grad_fn is not None]
    seen: set = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(
            p.grad_fn for p in node._parents if isinstance(p, cr.Tensor) and p.grad_fn is not None
        )
    return {type(n) for n in seen}


def test_the_walk_finds_the_engine_primitives():
    names = {p.__name__ for p in primitives()}
    assert {"Add", "MatMul", "Sum", "Reshape", "Index", "Cast"} <= names


def test_the_walk_finds_each_primitive_in_one_module_and_its_family():
    prims = primitives()
    assert len({p.__name__ for p in prims}) == len(prims)
    shape = {p.__name__ for p in prims if family(p) == "shape"}
    assert {"Reshape", "Index", "Gather", "Cat", "Pad"} <= shape


def test_every_primitive_has_a_row():
    covered = {p for s in SPECS for p in s.prims}
    missing = sorted(f"{p.__module__}.{p.__name__}" for p in primitives() - covered)
    assert not missing, f"primitives without a row in tests/ops/specs*.py: {missing}"


def test_row_names_are_unique():
    names = [s.name for s in SPECS]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_rows_make_inputs_of_the_shapes_they_declare():
    for s in SPECS:
        assert s.cases and s.big, f"{s.name}: needs small cases and a realistic size"
        for shapes in (*s.cases, s.big):
            got = tuple(a.shape for a in s.inputs(shapes))
            assert got == tuple(shapes), f"{s.name}: inputs of shapes {got}, declared {shapes}"


def family(p: type) -> str:
    """The op family of a primitive: ``chainrule.ops.<family>`` or ``chainrule.ops.<family>.<part>``
    (a family split into a package, as ``shape``)."""
    return p.__module__.split(".")[2]


CORE = ("elementwise", "reduction", "shape", "linalg")
NO_SCALAR = {  # core primitives that cannot take a 0-d input, and why
    "MatMul": "matmul needs at least one dimension",
    "Linear": "the input's last dim is in_features",
    "LinearReLU": "the input's last dim is in_features",
    "Cat": "0-d tensors cannot be concatenated",
    "Pad": "padding needs as many dims as pad pairs",
}
BINARY = {"Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum", "Where", "MatMul"}


def test_core_primitives_have_scalar_size_one_and_broadcast_cases():
    """A 0-d case, a case with a size-1 axis and, for binary ops, inputs of different shapes."""
    problems = []
    for p in primitives():
        if family(p) not in CORE:
            continue
        cases = [c for s in SPECS if p in s.prims for c in s.cases]
        if p.__name__ not in NO_SCALAR and not any(() in c for c in cases):
            problems.append(f"{p.__name__}: no 0-d case")
        if not any(1 in shape for c in cases for shape in c):
            problems.append(f"{p.__name__}: no size-1 axis")
        if p.__name__ in BINARY and not any(len(set(c)) > 1 for c in cases):
            problems.append(f"{p.__name__}: no broadcast pair")
    assert not problems, problems


def test_each_row_runs_the_primitives_it_claims():
    wrong = []
    for s in SPECS:
        seen: set[type] = set()
        for shapes in s.cases:
            arrays = s.inputs(shapes, np.float32)
            xs = [cr.tensor(a, requires_grad=n) for a, n in zip(arrays, s.needs_grad(arrays))]
            seen |= _graph_types(s.fn(*xs))
        if not set(s.prims) <= seen:
            wrong.append((s.name, sorted(p.__name__ for p in set(s.prims) - seen)))
    assert not wrong, f"rows that never run a primitive they claim: {wrong}"
