"""relu over large arrays runs chunk by chunk on a few threads: every memory layout (dense
channels-last views, slices with gaps, broadcast gradients) gives exactly the plain result."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import _threads as threads


@pytest.fixture
def tiny_blocks(monkeypatch):
    monkeypatch.setattr(threads, "_CHUNK_BYTES", 1)
    monkeypatch.setattr(threads, "_PARALLEL_BYTES", 0)
    monkeypatch.setattr(threads, "_THREADS", 2)


def _layouts(dtype):
    a = np.random.default_rng(0).integers(-2, 3, (3, 4, 5, 6)).astype(dtype)  # zeros included
    return {"contiguous": a,
            "channels_last": np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "slice"])
def test_relu_blocks_match_the_plain_rule(tiny_blocks, layout, dtype):
    full = _layouts(dtype)["contiguous" if layout == "slice" else layout]
    leaf = cr.tensor(full, requires_grad=True)
    x, a = (leaf[:, ::2, 1:], full[:, ::2, 1:]) if layout == "slice" else (leaf, full)
    y = cr.relu(x)
    np.testing.assert_array_equal(y.numpy(), np.maximum(a, 0))
    assert y.dtype == np.dtype(dtype)
    g = np.random.default_rng(1).standard_normal(a.shape).astype(dtype)
    y.backward(cr.tensor(g))
    expected = np.zeros_like(full)
    (expected[:, ::2, 1:] if layout == "slice" else expected)[...] = g * (a > 0)  # relu'(0) = 0
    np.testing.assert_array_equal(leaf.grad.numpy(), expected)
    assert leaf.grad.dtype == np.dtype(dtype)


def test_relu_blocks_with_a_broadcast_gradient(tiny_blocks):
    a = _layouts("float32")["channels_last"]
    x = cr.tensor(a, requires_grad=True)
    cr.relu(x).sum().backward()  # the gradient reaches relu as a broadcast (stride 0) array
    np.testing.assert_array_equal(x.grad.numpy(), (a > 0).astype(np.float32))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "slice"])
@pytest.mark.parametrize("blocks", ["one", "tiny"])
def test_relu_kernels_match_the_numpy_reference(compiled_vs_reference, monkeypatch, layout,
                                                 dtype, blocks):
    if blocks == "tiny":
        monkeypatch.setattr(threads, "_CHUNK_BYTES", 64)
        monkeypatch.setattr(threads, "_PARALLEL_BYTES", 0)
        monkeypatch.setattr(threads, "_THREADS", 2)
    full = _layouts(dtype)["contiguous" if layout == "slice" else layout].copy()
    full.flat[::7] = np.nan  # NaN passes through relu, as in np.maximum and PyTorch
    g = np.random.default_rng(1).standard_normal(full.shape).astype(dtype)

    def run():
        leaf = cr.tensor(full, requires_grad=True)
        x = leaf[:, ::2, 1:] if layout == "slice" else leaf
        y = cr.relu(x)
        y.backward(cr.tensor(g[:, ::2, 1:] if layout == "slice" else g))
        return y.numpy(), leaf.grad.numpy(), y.numpy().strides

    fast, _ = compiled_vs_reference(run)
    assert np.isnan(fast[0]).sum() > 0


@pytest.mark.parametrize("size", [12, 5000, 70000])  # NumPy's, the kernel's, shared or threaded
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relu_gradient_at_nan_inf_and_zero_is_pytorchs(size, dtype):
    # PyTorch's threshold_backward: 0 where the output is <= 0 (also for an infinite gradient,
    # which a product with a 0/1 mask would turn into NaN), the gradient where it is NaN
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    a = rng.standard_normal(size).astype(dtype)
    a[:6] = [np.nan, 0.0, -0.0, np.inf, -np.inf, -1.0]
    g = rng.standard_normal(size).astype(dtype)
    g[6:12] = [np.inf, -np.inf, np.nan, np.inf, np.inf, -np.inf]
    a[6:12] = [-1.0, 0.0, -2.0, 3.0, np.nan, 1.0]
    x, tx = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = cr.relu(x), torch.relu(tx)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    y.backward(cr.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
