"""Reductions along a short last axis taken transposed (ops/_short_rows.py): the same values as
NumPy's own reduction (the same bits for max, NaN and inf included), and softmax, log-softmax
and cross-entropy on many short rows (the shapes that take that path) against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F
from chainrule.ops import _short_rows
from chainrule.ops._short_rows import reduce_keepdims

torch = pytest.importorskip("torch")

SHAPES = [(128, 10), (64, 2), (7, 20, 3), (2048, 64), (200, 16), (100, 65), (3, 10), (0, 10)]


def _transposed(x, ufunc):
    k = x.shape[-1] if x.ndim else 0
    return (1 < k <= _short_rows._MAX_K[ufunc] and x.size >= _short_rows._MIN_ROWS * k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_max_gives_numpys_bits_and_sum_its_values(shape, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    if x.size:
        x.reshape(-1)[[3, 17]] = [np.nan, np.inf]
        x.reshape(-1)[-1] = -np.inf
    for view in (x, x[..., ::-1], np.asfortranarray(x)):
        for axis in range(x.ndim):
            if view.shape[axis]:  # (NumPy's max of nothing raises)
                got = reduce_keepdims(np.maximum, view, axis)
                ref = np.maximum.reduce(view, axis=axis, keepdims=True)
                np.testing.assert_array_equal(got, ref)
                assert got.dtype == x.dtype
            got = reduce_keepdims(np.add, view, axis)
            ref = np.add.reduce(view, axis=axis, keepdims=True)
            # (sums of 16 values of about 10 in float32: an absolute error of 1e-5)
            np.testing.assert_allclose(got, ref, rtol=1e-6 if dtype == np.float32 else 1e-14,
                                       atol=2e-5 if dtype == np.float32 else 1e-12)
            assert got.shape == ref.shape and got.dtype == x.dtype
    assert _transposed(x, np.maximum) == (shape in [(128, 10), (64, 2), (7, 20, 3), (2048, 64),
                                                     (200, 16)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(128, 10), (300, 16), (64, 64)])
def test_softmax_family_on_many_short_rows_matches_pytorch(shape, dtype):
    assert _transposed(np.empty(shape), np.maximum)
    rng = np.random.default_rng(1)
    data = (rng.standard_normal(shape) * 5).astype(dtype)
    data[0] = [1e4] + [-1e4] * (shape[1] - 1)  # extreme logits stay finite
    target = rng.integers(0, shape[1], shape[0])
    up = rng.standard_normal(shape).astype(dtype)
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    for name in ("softmax", "log_softmax", "cross_entropy"):
        x, tx = cr.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        if name == "cross_entropy":
            y = F.cross_entropy(x, cr.tensor(target), label_smoothing=0.1)
            ty = torch.nn.functional.cross_entropy(tx, torch.tensor(target), label_smoothing=0.1)
            y.backward()
            ty.backward()
        else:
            y, ty = getattr(F, name)(x, dim=1), getattr(torch.nn.functional, name)(tx, dim=1)
            y.backward(cr.tensor(up))
            ty.backward(torch.tensor(up))
        assert y.dtype == x.dtype
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol, err_msg=name)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **tol, err_msg=name)
