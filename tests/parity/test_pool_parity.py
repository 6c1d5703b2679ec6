"""MaxPool1d, MaxPool2d, AvgPool2d and AdaptiveAvgPool2d against PyTorch: outputs, indices and
the input's gradient, float32 and float64, over many configurations, ties included."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import chainrule as cr
from chainrule import _jit, nn
from chainrule.nn import functional as F
from chainrule.ops import _threads as threads

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

DTYPES = ["float32", "float64"]


def _distinct(shape, dtype, seed=0):
    """All values different (no ties), in random order."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) * 0.01 - n * 0.005).reshape(shape).astype(
        dtype)


def check(fn_cr, fn_t, x, grad_seed=1):
    """Same input into both; outputs (and indices) equal; input gradients equal."""
    dtype = x.dtype
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yc, yt = fn_cr(xc), fn_t(xt)
    if isinstance(yt, tuple):
        (yc, ic), (yt, it) = yc, yt
        assert ic.dtype == np.int64 and not ic.requires_grad
        np.testing.assert_array_equal(ic.numpy(), it.numpy())
    assert yc.dtype == dtype and yc.shape == tuple(yt.shape)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(yc.numpy(), yt.detach().numpy(), **tol)
    g = np.random.default_rng(grad_seed).standard_normal(yc.shape).astype(dtype)
    yc.backward(cr.tensor(g))
    yt.backward(torch.tensor(g))
    assert xc.grad.dtype == dtype
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), **tol)


MAX2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1), ceil_mode=True),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=2, stride=1),
    dict(kernel_size=(3, 1), stride=(3, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("indices", [False, True])
@pytest.mark.parametrize("kw", MAX2D, ids=[str(k) for k in MAX2D])
def test_max_pool2d(kw, indices, dtype):
    x = _distinct((2, 3, 9, 11), dtype)
    check(nn.MaxPool2d(**kw, return_indices=indices), tnn.MaxPool2d(**kw, return_indices=indices),
          x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=2, stride=1)])
def test_max_pool2d_ties_go_to_the_first_maximum(kw, dtype):
    x = np.random.default_rng(0).integers(-1, 2, (2, 3, 8, 8)).astype(dtype)  # many ties
    x[0, 0] = 0.0  # whole windows of equal values
    check(nn.MaxPool2d(**kw, return_indices=True), tnn.MaxPool2d(**kw, return_indices=True), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [dict(kernel_size=3), dict(kernel_size=2, stride=1),
                                dict(kernel_size=4, stride=3, padding=2, dilation=2,
                                     ceil_mode=True)])
def test_max_pool1d(kw, dtype):
    x = _distinct((3, 2, 17), dtype)
    check(nn.MaxPool1d(**kw, return_indices=True), tnn.MaxPool1d(**kw, return_indices=True), x)
    check(nn.MaxPool1d(**kw), tnn.MaxPool1d(**kw), x)


def test_max_pool_unbatched():
    x = _distinct((3, 7, 6), "float64")
    check(nn.MaxPool2d(2, return_indices=True), tnn.MaxPool2d(2, return_indices=True), x)
    check(nn.MaxPool1d(2), tnn.MaxPool1d(2), x[0])


AVG2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=2, padding=(1, 1), ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(2, 3), divisor_override=5),
    dict(kernel_size=3, stride=1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", AVG2D, ids=[str(k) for k in AVG2D])
def test_avg_pool2d(kw, dtype):
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 10)).astype(dtype)
    check(nn.AvgPool2d(**kw), tnn.AvgPool2d(**kw), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, (3, 4), (None, 4), (5, None), (9, 10), (4, 7), (2, 10),
                                  (6, 3)])
def test_adaptive_avg_pool2d(size, dtype):
    x = np.random.default_rng(3).standard_normal((2, 3, 9, 10)).astype(dtype)
    check(nn.AdaptiveAvgPool2d(size), tnn.AdaptiveAvgPool2d(size), x)
    check(nn.AdaptiveAvgPool2d(size), tnn.AdaptiveAvgPool2d(size), x[0])  # unbatched


@pytest.mark.parametrize("dtype", DTYPES)
def test_pooling_channels_last_inputs(dtype):
    """Pooling a convolution's output (a channels-last view) and a gradient in the other
    layout (through a flatten) match PyTorch."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 10, 10)).astype(dtype)
    w = rng.standard_normal((8, 3, 3, 3)).astype(dtype)

    def model(lib, fn, xx, ww):
        h = fn.conv2d(xx, ww, padding=1)
        a = fn.max_pool2d(h, 2)
        b = fn.avg_pool2d(h, 3, 2, 1)
        c = fn.max_pool2d(h, 3, 2, 1, ceil_mode=True)
        return lib.cat([a.flatten(1), b.flatten(1), c.flatten(1)], 1)

    xc, wc = cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    yc, yt = model(cr, F, xc, wc), model(torch, TF, xt, wt)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(yc.numpy(), yt.detach().numpy(), **tol)
    g = rng.standard_normal(yc.shape).astype(dtype)
    yc.backward(cr.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), **tol)
    np.testing.assert_allclose(wc.grad.numpy(), wt.grad.numpy(), **tol)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)])
def test_chunked_threaded_pooling(monkeypatch, kw):
    """Batches cut into one-sample chunks on two threads (the path big inputs take)."""
    monkeypatch.setattr(threads, "_CHUNK_BYTES", 1)
    monkeypatch.setattr(threads, "_PARALLEL_BYTES", 0)
    monkeypatch.setattr(threads, "_THREADS", 2)
    x = _distinct((5, 3, 8, 9), "float64")
    check(nn.MaxPool2d(**kw), tnn.MaxPool2d(**kw), x)
    check(nn.AvgPool2d(**kw), tnn.AvgPool2d(**kw), x)


TILED = [dict(kernel_size=2), dict(kernel_size=(2, 3)), dict(kernel_size=3),
         dict(kernel_size=(1, 2), stride=(1, 2))]


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("kw", TILED, ids=[str(k) for k in TILED])
def test_tiled_max_pool_ties_in_both_layouts(monkeypatch, kw, threaded):
    """Windows that tile the input (kernel == stride) take the two-pass path: ties (whole
    windows of zeros, as after a ReLU) go to the first maximum in row-major order, for
    channels-first and channels-last inputs, cropped edges included."""
    if threaded:
        monkeypatch.setattr(threads, "_CHUNK_BYTES", 1)
        monkeypatch.setattr(threads, "_PARALLEL_BYTES", 0)
        monkeypatch.setattr(threads, "_THREADS", 2)
    x = np.random.default_rng(5).integers(-1, 2, (3, 4, 8, 9)).astype("float64")
    x[0, 0] = 0.0
    channels_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    for path in (_jit.reference, contextlib.nullcontext):  # the NumPy path, then the kernels
        with path():
            for inp in (x, channels_last):
                check(nn.MaxPool2d(**kw), tnn.MaxPool2d(**kw), inp)
                assert nn.MaxPool2d(**kw)(cr.tensor(inp, requires_grad=True)).grad_fn.tiled


def test_tiled_max_pool1d_and_the_general_path_agree():
    """max_pool1d with kernel == stride takes the tiled path; with return_indices the general
    one: same outputs and gradients, also with ties."""
    x = np.random.default_rng(6).integers(-1, 2, (2, 3, 11)).astype("float32")
    check(nn.MaxPool1d(2), tnn.MaxPool1d(2), x)
    check(nn.MaxPool1d(2, return_indices=True), tnn.MaxPool1d(2, return_indices=True), x)
    assert nn.MaxPool1d(2)(cr.tensor(x, requires_grad=True)).grad_fn.tiled
    assert not nn.MaxPool1d(2, return_indices=True)(
        cr.tensor(x, requires_grad=True))[0].grad_fn.tiled
