"""The compiled max pooling (chainrule/ops/pool/_kernels.py) against the NumPy reference and
PyTorch: many geometries, both memory layouts, ties, -inf and NaN, float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import _jit
from chainrule.nn import functional as F
from chainrule.ops import _threads as threads
from chainrule.ops.pool.max import MaxPool

pytestmark = pytest.mark.usefixtures("fast_paths")

DTYPES = ["float32", "float64"]


def _channels_last(a: np.ndarray) -> np.ndarray:
    """a (N, C, H, W) laid out as (N, H, W, C) in memory, as convolutions return it."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def _data(shape, dtype, kind: str, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "distinct":
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.01 - n * 0.005).reshape(shape).astype(dtype)
    a = rng.integers(-2 if kind == "-inf" else -1, 2, shape).astype(dtype)  # many ties
    if kind == "-inf":
        a[a < 0] = -np.inf
    if len(a):
        a[0, 0] = 0.0  # whole windows of equal values
    return a


def _pool(x: np.ndarray, kw: dict, n: int, layout: str, grad_seed=1):
    """Forward and backward of max_pool{n}d on x: (output, indices or None, input gradient)."""
    if layout == "channels_last":
        x = _channels_last(x) if n == 2 else np.ascontiguousarray(
            x.transpose(0, 2, 1)).transpose(0, 2, 1)
    elif layout == "sliced":
        x = np.repeat(x, 2, axis=-1)[..., ::2]  # a view with gaps
    xt = cr.tensor(x, requires_grad=True)
    fn = F.max_pool2d if n == 2 else F.max_pool1d
    y = fn(xt, **kw)
    y, indices = y if kw.get("return_indices") else (y, None)
    g = np.random.default_rng(grad_seed).standard_normal(y.shape).astype(x.dtype)
    y.backward(cr.tensor(g))
    return y.numpy(), None if indices is None else indices.numpy(), xt.grad.numpy()


GEOMETRIES_2D = [
    dict(kernel_size=2),
    dict(kernel_size=2, ceil_mode=True),
    dict(kernel_size=3),
    dict(kernel_size=(2, 3)),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=2, stride=1),
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1), ceil_mode=True),
    dict(kernel_size=2, stride=3),
    dict(kernel_size=(3, 1), stride=(3, 1)),
    dict(kernel_size=2, padding=1),
    dict(kernel_size=3, dilation=2),
]
SHAPES_2D = [(2, 3, 9, 11), (3, 6, 8, 8), (1, 16, 7, 6)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "sliced"])
@pytest.mark.parametrize("kw", GEOMETRIES_2D, ids=[str(k) for k in GEOMETRIES_2D])
def test_max_pool2d_kernels_match_the_reference(compiled_vs_reference, kw, layout, dtype):
    for shape in SHAPES_2D:
        for kind in ("distinct", "ties"):
            x = _data(shape, dtype, kind)
            tol = 1e-6 if dtype == "float32" else 1e-13  # overlapping windows sum in any order
            fast, _ = compiled_vs_reference(lambda x=x: _pool(x, kw, 2, layout), rtol=tol,
                                            atol=tol)
            assert fast[0].dtype == np.dtype(dtype) and fast[2].dtype == np.dtype(dtype)
            fast, _ = compiled_vs_reference(
                lambda x=x: _pool(x, {**kw, "return_indices": True}, 2, layout), rtol=tol,
                atol=tol)
            assert fast[1].dtype == np.int64


GEOMETRIES_1D = [dict(kernel_size=2), dict(kernel_size=3), dict(kernel_size=2, stride=1),
                 dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                 dict(kernel_size=4, stride=3, padding=2, dilation=2, ceil_mode=True)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "sliced"])
@pytest.mark.parametrize("kw", GEOMETRIES_1D, ids=[str(k) for k in GEOMETRIES_1D])
def test_max_pool1d_kernels_match_the_reference(compiled_vs_reference, kw, layout, dtype):
    for kind in ("distinct", "ties"):
        x = _data((3, 5, 17), dtype, kind)
        for indices in (False, True):
            compiled_vs_reference(
                lambda x=x, i=indices: _pool(x, {**kw, "return_indices": i}, 1, layout),
                rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1),
                                dict(kernel_size=2, ceil_mode=True)])
def test_minus_infinity_without_padding(compiled_vs_reference, kw, layout):
    """Windows of -inf (some wholly) pass -inf on and give the gradient to their first element,
    in both paths (with padding the reference hands it to the padding instead, see below)."""
    x = _data((2, 4, 7, 9), "float32", "-inf")
    x[1, 1] = -np.inf
    fast, _ = compiled_vs_reference(lambda: _pool(x, kw, 2, layout), rtol=1e-6, atol=1e-6)
    assert np.isneginf(fast[0]).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0, 3, 8, 8), (2, 0, 8, 8)])
def test_empty_inputs(compiled_vs_reference, shape, dtype):
    x = np.zeros(shape, dtype)
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)):
        fast, _ = compiled_vs_reference(
            lambda kw=kw: _pool(x, {**kw, "return_indices": True}, 2, "contiguous"))
        assert fast[0].shape == (*shape[:2], 4, 4) and fast[2].shape == shape


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_chunks_on_threads(compiled_vs_reference, monkeypatch, kw, layout):
    monkeypatch.setattr(threads, "_CHUNK_BYTES", 64)
    monkeypatch.setattr(threads, "_PARALLEL_BYTES", 0)
    monkeypatch.setattr(threads, "_THREADS", 2)
    x = _data((5, 8, 10, 9), "float32", "ties")
    compiled_vs_reference(lambda: _pool(x, kw, 2, layout), rtol=1e-6, atol=1e-6)


def test_windows_larger_than_the_offset_byte_take_the_reference(compiled_vs_reference):
    x = _data((2, 3, 18, 17), "float64", "distinct")
    compiled_vs_reference(lambda: _pool(x, dict(kernel_size=17, stride=1), 2, "contiguous"))


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)])
def test_outputs_and_gradients_keep_the_input_layout(kw):
    """Channels-last in, channels-last out (and back): the ReLU and convolution around a
    pooling work on matching memory."""
    for channels_last in (False, True):
        x = _data((2, 8, 8, 8), "float32", "distinct")
        x = _channels_last(x) if channels_last else x
        y = F.max_pool2d(cr.tensor(x, requires_grad=True), **kw)
        g = np.ones(y.shape, np.float32)
        gx = MaxPool.backward(y.grad_fn, _channels_last(g) if channels_last else g)[0]
        for a in (y.numpy(), gx):
            assert (a.transpose(0, 2, 3, 1) if channels_last else a).flags.c_contiguous


# --- against PyTorch: NaN and -inf next to padding, where the reference differs ---

NAN_GEOMETRIES = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                  dict(kernel_size=2, stride=1), dict(kernel_size=(2, 3), dilation=(2, 1))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("kw", NAN_GEOMETRIES, ids=[str(k) for k in NAN_GEOMETRIES])
def test_nan_and_minus_infinity_as_in_pytorch(kw, layout, dtype):
    """A window holding NaN outputs NaN and its index and gradient go to its last NaN; a window
    of -inf next to padding gives them to its first element inside the input: PyTorch's rule,
    kept by the kernels (the NumPy reference loses the gradient of these windows)."""
    torch = pytest.importorskip("torch")
    assert _jit.enabled()
    x = _data((2, 3, 8, 9), dtype, "-inf")
    x.reshape(-1)[::23] = np.nan
    x = _channels_last(x) if layout == "channels_last" else x
    y, indices, gx = _pool(x, {**kw, "return_indices": True}, 2, "contiguous")
    xt = torch.tensor(x, requires_grad=True)
    yt, it = torch.nn.functional.max_pool2d(xt, **kw, return_indices=True)
    yt.backward(torch.tensor(np.random.default_rng(1).standard_normal(y.shape).astype(dtype)))
    assert np.isnan(y).any() and np.isneginf(y).any()
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(indices, it.numpy())
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_nan_outputs_match_the_reference(compiled_vs_reference):
    x = _data((2, 3, 8, 9), "float32", "distinct")
    x.reshape(-1)[::5] = np.nan
    for kw in NAN_GEOMETRIES:
        t = cr.tensor(x)
        compiled_vs_reference(lambda t=t, kw=kw: F.max_pool2d(t, **kw).numpy())
