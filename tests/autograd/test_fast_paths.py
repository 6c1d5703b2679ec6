"""The engine's fast paths give the same results as the general ones.

Each test drives a shortcut taken for speed (in-place leaf sums, operands that need no cast,
in-place arithmetic written straight into the array, reduction gradients, lazy imports) and checks
values, dtypes and memory ownership against the plain rule. No timings: benchmarks/ measures those.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr


def test_a_leaf_reached_many_times_sums_every_path_and_owns_its_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor([3.0, 4.0], requires_grad=True)
    y = x * 2 + x * 3 + x * 4 + x + w  # four paths into x: the sum is updated in place
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [10.0, 10.0])
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 1.0])
    assert x.grad.dtype == cr.float32
    assert not np.shares_memory(x.grad.numpy(), w.grad.numpy())
    assert x.grad.numpy().flags.writeable and x.grad.numpy().flags.c_contiguous


@pytest.mark.parametrize("a_dtype, b, expected", [
    (np.float32, 2.5, np.float32),  # a float tensor with a Python number: no cast
    (np.float32, 2, np.float32),
    (np.float32, True, np.float32),
    (np.float64, 2.5, np.float64),
    (np.int64, 2.5, np.float32),  # the general path: integers meet a float
    (np.int64, 2, np.int64),
])
def test_binary_ops_with_a_python_number_keep_torchs_dtypes(a_dtype, b, expected):
    a = cr.tensor(np.array([1, 2], a_dtype))
    assert (a * b).dtype == expected
    assert (b * a).dtype == expected
    assert (a + b).dtype == expected


def test_binary_ops_between_tensors_promote_only_when_dtypes_differ():
    f32 = cr.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    f64 = cr.tensor(np.array([3.0, 4.0], np.float64), requires_grad=True)
    same = f32 * f32
    assert same.dtype == cr.float32
    mixed = f32 * f64
    assert mixed.dtype == cr.float64
    mixed.sum().backward()
    assert f32.grad.dtype == cr.float32 and f64.grad.dtype == cr.float64


def test_in_place_arithmetic_under_no_grad_writes_into_the_same_array():
    p = cr.tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
    g = cr.tensor(np.array([10.0, 20.0, 30.0], np.float32))
    memory = p.numpy()
    with cr.no_grad():
        p -= 0.1 * g
        p += 1
        p *= g
        p /= 2.0
    assert p.numpy() is memory
    np.testing.assert_allclose(memory, [5.0, 10.0, 15.0], rtol=1e-6)
    assert p.dtype == cr.float32 and p.is_leaf and p.requires_grad


def test_in_place_arithmetic_that_needs_a_broadcast_or_a_cast_still_works():
    x = cr.zeros(2, 3)
    x += cr.tensor([1.0, 2.0, 3.0])  # broadcast operand
    x.add_(cr.tensor(np.ones((2, 3))), alpha=2)  # float64 operand and alpha
    np.testing.assert_allclose(x.numpy(), [[3.0, 4.0, 5.0]] * 2)
    assert x.dtype == cr.float32
    i = cr.tensor([1, 2])
    i += 1
    assert i.tolist() == [2, 3] and i.dtype == cr.int64


def test_in_place_arithmetic_on_a_tensor_in_the_graph_is_recorded():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y -= cr.tensor([1.0, 1.0])
    y *= y
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (3 * x.numpy() - 1) * 3)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (0, False), (1, True), ((0, 2), False)])
def test_reduction_gradients_are_new_writable_arrays_of_the_input_shape(reduce, dim, keepdim):
    x = cr.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4), requires_grad=True)
    y = getattr(x, reduce)(dim, keepdim) if dim is not None else getattr(x, reduce)()
    y.backward(cr.ones(*y.shape) if y.ndim else None)
    n = 1 if reduce == "sum" else x.numel() // max(y.numel(), 1)
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3, 4), 1.0 / n), rtol=1e-6)
    assert x.grad.dtype == cr.float32
    assert x.grad.numpy().flags.writeable and x.grad.numpy().flags.c_contiguous


def test_the_default_generator_is_made_lazily_but_seeds_the_same_way():
    cr.manual_seed(123)
    a = cr.rand(4)
    state = cr.default_generator.get_state()
    b = cr.rand(4)
    cr.default_generator.set_state(state)
    assert cr.rand(4).tolist() == b.tolist()
    cr.manual_seed(123)
    assert cr.rand(4).tolist() == a.tolist()
    assert cr.Generator().manual_seed(5).initial_seed() == 5


def test_importing_chainrule_leaves_rarely_used_modules_unloaded():
    code = ("import sys, chainrule; print(sorted(m for m in "
            "('numpy.random', 'concurrent.futures', 'numba', 'threading') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("sa, sb", [
    ((4, 3, 5), (5, 2)),
    ((2, 4, 3, 5), (5, 6)),
    ((2, 3, 5), (5,)),
    ((0, 3, 5), (5, 2)),  # empty batch
    ((2, 3, 0), (0, 4)),  # empty inner dim: once broke the weight gradient's reshape
    ((2, 3, 5), (5, 0)),
])
def test_a_batch_times_one_matrix_is_one_gemm_with_torchs_values_and_gradients(sa, sb):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    ca, cb = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    y, ty = ca @ cb, ta @ tb
    g = rng.standard_normal(tuple(ty.shape))
    y.backward(cr.tensor(g))
    ty.backward(torch.tensor(g))
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ca.grad.numpy(), ta.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cb.grad.numpy(), tb.grad.numpy(), rtol=1e-12, atol=1e-12)
