"""dtype inference and type promotion, against PyTorch's rules."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule._dtype import result_type

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def tdtype(t) -> np.dtype:
    """A torch tensor's dtype as a NumPy dtype."""
    return t.detach().numpy().dtype


# --- inference from data ---


@pytest.mark.parametrize(
    "data, expected",
    [
        (1.5, np.float32),
        ([1.0, 2.0], np.float32),
        ([[1, 2], [3, 4]], np.int64),
        (3, np.int64),
        (True, np.bool_),
        ([True, False], np.bool_),
        ([1, 2.5], np.float32),
        (np.zeros(3), np.float64),
        (np.zeros(3, np.float32), np.float32),
        (np.arange(3, dtype=np.int32), np.int32),
        (np.arange(3), np.int64),
        (np.float64(2.5), np.float64),
    ],
)
def test_tensor_infers_dtype_like_torch(data, expected):
    assert cr.tensor(data).dtype == expected
    assert tdtype(torch.tensor(data)) == expected


def test_set_default_dtype_changes_what_python_floats_become():
    try:
        cr.set_default_dtype(cr.float64)
        assert cr.tensor([1.5]).dtype == np.float64
        assert cr.zeros(2).dtype == np.float64
        assert (cr.tensor([1, 2]) / 2).dtype == np.float64
    finally:
        cr.set_default_dtype(cr.float32)
    assert cr.tensor([1.5]).dtype == np.float32
    with pytest.raises(TypeError, match="float32 and float64"):
        cr.set_default_dtype(cr.int64)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.zeros(2),
        lambda m: m.ones(2, 3),
        lambda m: m.rand(2),
        lambda m: m.randn(2),
        lambda m: m.arange(3),
        lambda m: m.arange(3.0),
        lambda m: m.arange(0, 1, 0.25),
        lambda m: m.linspace(0, 1, 5),
        lambda m: m.eye(3),
        lambda m: m.full((2,), 1),
        lambda m: m.full((2,), 1.5),
        lambda m: m.full((2,), True),
        lambda m: m.randint(0, 5, (3,)),
        lambda m: m.randperm(4),
        lambda m: m.zeros_like(m.tensor([1, 2])),
        lambda m: m.ones_like(m.tensor([1.0])),
        lambda m: m.empty(2, dtype=m.float64),
    ],
)
def test_factory_dtypes_match_torch(make):
    assert cr_dtype(make(cr)) == tdtype(make(torch))


def cr_dtype(t) -> np.dtype:
    return t.numpy().dtype


# --- promotion ---


@pytest.mark.parametrize("da, db", list(itertools.product(DTYPES, DTYPES)))
def test_result_type_matches_torch_for_every_pair_and_ndim(da, db):
    for na, nb in itertools.product([0, 1, 2], [0, 1, 2]):
        a, b = np.ones((2,) * na, da), np.ones((2,) * nb, db)
        expected = torch.result_type(torch.from_numpy(a.copy()), torch.from_numpy(b.copy()))
        assert result_type(a, b) == tdtype(torch.empty(0, dtype=expected)), (da, na, db, nb)


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize(
    "scalar",
    [True, 2, 2.5, np.float64(2.5), np.int32(3)],
    ids=["bool", "int", "float", "np_float64", "np_int32"],
)
def test_a_python_scalar_never_changes_a_tensors_dtype_within_its_category(da, scalar):
    for nd in (0, 1):
        a = np.ones((2,) * nd, da)
        t = torch.from_numpy(a.copy())
        x = cr.from_numpy(a.copy())
        assert cr_dtype(x * scalar) == tdtype(t * scalar), (da, nd, scalar)
        assert cr_dtype(scalar * x) == tdtype(scalar * t), (da, nd, scalar)


@pytest.mark.parametrize(
    "expr",
    [
        lambda m: m.ones(2) + m.ones(2, dtype=m.float64),
        lambda m: m.ones(2, dtype=m.float64) * m.ones(2),
        lambda m: m.ones(2) + m.tensor(1.0, dtype=m.float64),  # zero-dim does not promote
        lambda m: m.tensor(1.0) + m.ones(2, dtype=m.float64),
        lambda m: m.tensor([1, 2]) + 1.5,
        lambda m: m.tensor([1, 2]) * 2,
        lambda m: m.tensor([1, 2]) / m.tensor([2, 4]),
        lambda m: m.tensor([1, 2]) / 2,
        lambda m: 1 / m.tensor([1, 2]),
        lambda m: m.tensor([1, 2]) // 2,
        lambda m: m.tensor([1, 2]) + m.tensor(1.5),
        lambda m: m.tensor([1, 2], dtype=m.int32) + m.tensor(5),
        lambda m: m.tensor([1, 2], dtype=m.int32) + m.tensor([5]),
        lambda m: m.tensor([1.0, 2.0]) ** 2,
        lambda m: m.tensor([1, 2]) ** 2,
        lambda m: 2 ** m.tensor([1, 2]),
        lambda m: 2.0 ** m.tensor([1, 2]),
        lambda m: m.tensor([True, False]) + m.tensor([True, True]),
        lambda m: m.tensor([True, False]) + 1,
        lambda m: m.tensor([True, False]) * 1.5,
        lambda m: m.tensor([True, False]).sum(),
        lambda m: m.tensor([1, 2], dtype=m.int32).sum(),
        lambda m: m.tensor([1.0, 2.0]) > 1,
        lambda m: m.tensor([1, 2]) == m.tensor([1.0, 2.0]),
        lambda m: ~m.tensor([True, False]),
        lambda m: m.tensor([True, False]) & m.tensor([True, True]),
        lambda m: m.tensor([True, False]) | m.tensor([False, False]),
        lambda m: m.tensor([1, 2]).float(),
        lambda m: m.tensor([1.5, 2.5]).long(),
        lambda m: m.tensor([1.5, 2.5]).double().half(),
        lambda m: m.tensor([0.0, 1.0]).bool(),
        lambda m: m.tensor([1, 2]).exp(),
        lambda m: m.tensor([1, 2]).sqrt(),
        lambda m: m.tensor([1, 2]).sigmoid(),
        lambda m: m.tensor([1, 2]).abs(),
        lambda m: m.tensor([-1, 2]).relu(),
        lambda m: m.tensor([1, 2]).clamp(0, 1),
        lambda m: m.tensor([1, 2]).clamp(0.5, 1.5),
        lambda m: m.tensor([1, 2]).max(),
        lambda m: m.tensor([1, 2]).argmax(),
        lambda m: m.tensor([[1, 2]]) @ m.tensor([[3], [4]]),
        lambda m: m.where(m.tensor([True, False]), m.tensor([1, 2]), 0.5),
        lambda m: m.where(m.tensor([True, False]), m.tensor([1.0, 2.0]), m.tensor([1, 2])),
        lambda m: m.cat([m.tensor([1, 2]), m.tensor([1.5])]),
        lambda m: m.stack([m.tensor([1.0], dtype=m.float64), m.tensor([1.5])]),
        lambda m: m.tensor([1.0, 2.0]).masked_fill(m.tensor([True, False]), 3),
    ],
)
def test_operation_dtypes_match_torch(expr):
    assert cr_dtype(expr(cr)) == tdtype(expr(torch))


def test_numpy_scalars_act_like_python_scalars():
    x = cr.ones(2)
    assert (x * np.float64(2.0)).dtype == np.float32
    assert (np.float64(2.0) * x).dtype == np.float32
    assert (cr.tensor([1, 2]) + np.int32(1)).dtype == np.int64


def test_an_ndarray_operand_promotes_like_a_tensor_of_its_dtype():
    x = cr.ones(3)
    y = np.ones(3) * x
    assert isinstance(y, cr.Tensor) and y.dtype == np.float64
    assert (np.ones(3, np.float32) + x).dtype == np.float32
    assert (np.arange(3) * x).dtype == np.float32  # int64 array, float32 tensor


def test_mean_of_an_integer_tensor_raises_like_torch():
    with pytest.raises(RuntimeError, match="mean.*int64"):
        cr.tensor([1, 2]).mean()
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).mean()


def test_only_floating_tensors_can_require_grad():
    with pytest.raises(RuntimeError, match="floating"):
        cr.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating"):
        cr.tensor([True]).requires_grad_()


def test_gradients_keep_the_dtype_of_their_leaf():
    x32 = cr.tensor([1.0, 2.0], requires_grad=True)
    x64 = cr.tensor(np.array([3.0, 4.0]), requires_grad=True)
    (x32 * x64).sum().backward()  # the product is float64; each gradient is cast back
    assert x32.grad.dtype == np.float32
    assert x64.grad.dtype == np.float64
    np.testing.assert_allclose(x32.grad.numpy(), [3.0, 4.0])


@pytest.mark.parametrize(
    "op",
    [
        lambda t: t.__iadd__(1.5),
        lambda t: t.__itruediv__(2),
        lambda t: t.mul_(2.5),
        lambda t: t.clamp_(0.5, 1.0),
    ],
)
def test_in_place_ops_cannot_change_an_integer_tensors_category(op):
    with pytest.raises(RuntimeError, match="can't be cast"):
        op(torch.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="can't be cast"):
        op(cr.tensor([1, 2]))


def test_in_place_ops_keep_the_tensors_dtype():
    for m in (cr, torch):
        i = m.tensor([1, 2])
        i *= 3
        i += m.tensor([1], dtype=m.int32)
        f = m.ones(2)
        f += m.ones(2, dtype=m.float64)  # float64 into float32: stays float32
        f *= 2
        f.add_(m.tensor([1, 2]))
        assert np.asarray(i).dtype == np.int64 and i.tolist() == [4, 7]
        assert np.asarray(f).dtype == np.float32 and f.tolist() == [5.0, 6.0]
