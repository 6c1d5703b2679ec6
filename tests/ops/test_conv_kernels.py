"""The compiled convolution kernels (ops/conv/_kernels.py) against the NumPy reference path:
conv1d/conv2d/conv_transpose1d/2d forward and all gradients, over strides, paddings
(asymmetric, 'same', larger than the kernel), dilations, groups, both column layouts, the
direct path for one input channel, float32 and float64, batches of 0 and 1, non-contiguous
inputs, and chunks on two threads."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F
from chainrule.ops import _threads
from chainrule.ops.conv import _im2col, _kernels

pytestmark = pytest.mark.usefixtures("fast_paths")

DTYPES = ["float32", "float64"]
KERNELS = ["im2col_last", "im2col_first", "col2im_last", "pad_planes", "direct_forward",
           "direct_weight_grad"]


@pytest.fixture
def calls(monkeypatch):
    """Counts the calls of each kernel, so a test can check which path the compiled side took."""
    counts = dict.fromkeys(KERNELS, 0)
    for name in KERNELS:
        fn = getattr(_kernels, name)

        def counted(*args, _fn=fn, _name=name):
            counts[_name] += 1
            return _fn(*args)

        monkeypatch.setattr(_kernels, name, counted)
    return counts


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Chunks of one sample on two threads for every size: the paths big inputs take."""
    monkeypatch.setattr(_threads, "_CHUNK_BYTES", 1)
    monkeypatch.setattr(_threads, "_PARALLEL_BYTES", 0)
    monkeypatch.setattr(_threads, "_THREADS", 2)


def _layout(x: np.ndarray, layout: str) -> np.ndarray:
    """x (N, C, *spatial) with the same values in another memory layout."""
    if layout == "channels_last":
        axes = (0, *range(2, x.ndim), 1)
        back = (0, x.ndim - 1, *range(1, x.ndim - 1))
        return np.ascontiguousarray(x.transpose(axes)).transpose(back)
    if layout == "strided":  # every other element of a larger array along the last axis
        big = np.zeros((*x.shape[:-1], 2 * x.shape[-1]), x.dtype)
        big[..., ::2] = x
        return big[..., ::2]
    if layout == "reversed":  # negative strides
        return np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    return x


def _run(op, x_shape, w_shape, kw, dtype, layout="contiguous", seed=0):
    """A function that runs op forward and backward on fixed data and returns the output and
    the gradients of input, weight and bias."""
    rng = np.random.default_rng(seed)
    x = _layout(rng.standard_normal(x_shape).astype(dtype), layout)
    w = rng.standard_normal(w_shape).astype(dtype)
    out_channels = w_shape[1] * kw.get("groups", 1) if "transpose" in op.__name__ else w_shape[0]
    b = rng.standard_normal(out_channels).astype(dtype)

    def fn():
        xt, wt, bt = (cr.tensor(a, requires_grad=True) for a in (x, w, b))
        y = op(xt, wt, bt, **kw)
        g = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
        y.backward(cr.tensor(g))
        return y.numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()

    return fn


def _tol(dtype):
    # NOTE: the kernels sum in another order than the reference's BLAS calls and strided adds
    # (sums of up to a few thousand float32 products: relative rounding near 1e-6).
    return dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)


CONV2D = [
    ((2, 3, 9, 11), (5, 3, 3, 3), {}),
    ((2, 3, 9, 11), (5, 3, 3, 3), dict(padding=1)),
    ((2, 4, 9, 11), (6, 4, 3, 2), dict(padding=(2, 1), stride=(2, 3))),
    ((2, 4, 8, 8), (6, 4, 2, 2), dict(padding="same")),  # asymmetric: extra at bottom/right
    ((2, 4, 9, 10), (6, 4, 3, 3), dict(padding="same", dilation=2)),
    ((2, 8, 9, 11), (6, 4, 3, 3), dict(padding=1, groups=2)),
    ((2, 6, 9, 11), (6, 1, 3, 3), dict(padding=1, stride=2, groups=6)),  # depthwise
    ((2, 8, 9, 11), (8, 4, 3, 2), dict(padding=(2, 1), stride=(2, 1), dilation=(2, 3),
                                       groups=2)),
    ((2, 12, 9, 11), (10, 12, 3, 3), dict(padding=1, stride=2)),
    ((2, 12, 9, 11), (10, 12, 3, 3), dict(padding=3, stride=2, dilation=2)),
    ((2, 3, 5, 6), (4, 3, 2, 2), dict(padding=3)),  # padding wider than the kernel
    ((2, 5, 7, 7), (4, 5, 1, 1), dict(stride=2)),
    ((2, 6, 14, 14), (16, 6, 5, 5), {}),  # LeNet's second layer
    ((3, 16, 6, 6), (9, 16, 3, 3), dict(padding=1)),  # the reference: a "full convolution"
]
DIRECT = [  # one input channel, stride 1: the direct kernels
    ((2, 1, 12, 12), (6, 1, 5, 5), dict(padding=2)),  # LeNet's first layer
    ((2, 1, 9, 11), (3, 1, 3, 2), dict(padding=(0, 3), dilation=(2, 1))),
    ((2, 1, 7, 8), (2, 1, 2, 3), dict(padding="same")),
    ((1, 1, 5, 5), (4, 1, 5, 5), {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, kw", CONV2D + DIRECT)
def test_conv2d_matches_the_reference(compiled_vs_reference, calls, x_shape, w_shape, kw, dtype):
    compiled_vs_reference(_run(F.conv2d, x_shape, w_shape, kw, dtype), **_tol(dtype))
    if (x_shape, w_shape, kw) in DIRECT:
        assert calls["direct_forward"] and calls["direct_weight_grad"], calls
    else:
        assert calls["im2col_last"] + calls["im2col_first"] >= 2, calls


@pytest.mark.parametrize("layout", ["channels_last", "strided", "reversed"])
@pytest.mark.parametrize("x_shape, w_shape, kw", [
    ((2, 3, 9, 11), (5, 3, 3, 3), dict(padding=1)),
    ((2, 8, 9, 11), (6, 4, 3, 3), dict(padding=1, stride=2, groups=2)),
    ((2, 6, 14, 14), (16, 6, 5, 5), {}),
    ((2, 1, 12, 12), (6, 1, 5, 5), dict(padding=2)),
])
def test_non_contiguous_inputs(compiled_vs_reference, x_shape, w_shape, kw, layout):
    compiled_vs_reference(_run(F.conv2d, x_shape, w_shape, kw, "float64", layout),
                          **_tol("float64"))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("x_shape, w_shape, kw", [
    ((2, 3, 7, 9), (4, 3, 3, 3), dict(padding=1, stride=(1, 2))),
    ((2, 4, 7, 6), (6, 2, 2, 3), dict(groups=2, dilation=(2, 1), padding=(0, 2))),
    ((2, 1, 9, 9), (3, 1, 3, 3), dict(padding=1)),
])
def test_both_column_layouts(compiled_vs_reference, monkeypatch, calls, x_shape, w_shape, kw,
                             channels_last):
    """Forcing a layout (and so no direct path) runs the matching im2col kernel."""
    monkeypatch.setattr(_im2col._Im2col, "force_channels_last", channels_last)
    compiled_vs_reference(_run(F.conv2d, x_shape, w_shape, kw, "float64"), **_tol("float64"))
    assert calls["im2col_last" if channels_last else "im2col_first"] >= 2, calls
    assert calls["direct_forward"] == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, kw", [
    ((3, 8, 9, 9), (10, 8, 3, 3), dict(padding=1)),
    ((3, 6, 14, 14), (16, 6, 5, 5), {}),
    ((3, 4, 9, 11), (6, 2, 3, 3), dict(padding=2, stride=2, dilation=2, groups=2)),
    ((3, 1, 12, 12), (6, 1, 5, 5), dict(padding=2)),
])
def test_chunks_on_two_threads(compiled_vs_reference, tiny_chunks, x_shape, w_shape, kw, dtype):
    compiled_vs_reference(_run(F.conv2d, x_shape, w_shape, kw, dtype), **_tol(dtype))


@pytest.mark.parametrize("batch", [0, 1])
@pytest.mark.parametrize("x_shape, w_shape, kw", [
    ((None, 3, 9, 11), (5, 3, 3, 3), dict(padding=1)),
    ((None, 8, 9, 11), (6, 4, 3, 3), dict(stride=2, groups=2)),
    ((None, 1, 8, 8), (6, 1, 5, 5), dict(padding=2)),
])
def test_batches_of_zero_and_one(compiled_vs_reference, x_shape, w_shape, kw, batch):
    fast, _ = compiled_vs_reference(_run(F.conv2d, (batch, *x_shape[1:]), w_shape, kw,
                                         "float32"), **_tol("float32"))
    assert fast[0].shape[0] == batch and fast[2].shape == w_shape
    if batch == 0:
        assert not fast[2].any() and not fast[3].any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, kw", [
    ((2, 4, 13), (6, 4, 3), dict(padding=1)),
    ((2, 4, 13), (6, 2, 3), dict(stride=2, padding="valid", groups=2)),
    ((2, 4, 13), (6, 4, 4), dict(padding="same", dilation=2)),
    ((2, 1, 13), (3, 1, 5), dict(padding=2)),  # direct
])
def test_conv1d(compiled_vs_reference, x_shape, w_shape, kw, dtype):
    compiled_vs_reference(_run(F.conv1d, x_shape, w_shape, kw, dtype), **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, kw", [
    ((2, 6, 5, 5), (6, 4, 3, 3), dict(stride=2)),
    ((2, 6, 5, 5), (6, 4, 3, 3), dict(padding=1)),
    ((2, 4, 5, 6), (4, 3, 3, 2), dict(stride=(2, 3), groups=2, output_padding=1)),
    ((2, 4, 5, 5), (4, 2, 3, 3), dict(stride=2, padding=1, dilation=2, output_padding=1)),
    ((2, 3, 5, 5), (3, 1, 3, 3), dict(padding=1)),  # one output channel: direct backward
])
def test_conv_transpose2d(compiled_vs_reference, calls, x_shape, w_shape, kw, dtype):
    compiled_vs_reference(_run(F.conv_transpose2d, x_shape, w_shape, kw, dtype), **_tol(dtype))
    assert calls["col2im_last"] >= 1, calls
    assert bool(calls["direct_forward"]) == (w_shape[1] == 1), calls


def test_conv_transpose1d(compiled_vs_reference):
    compiled_vs_reference(_run(F.conv_transpose1d, (2, 4, 7), (4, 3, 3),
                               dict(stride=2, padding=1, output_padding=1), "float32"),
                          **_tol("float32"))


def test_the_kernels_keep_float32(compiled_vs_reference):
    fast, _ = compiled_vs_reference(_run(F.conv2d, (2, 6, 14, 14), (16, 6, 5, 5), {},
                                         "float32"), **_tol("float32"))
    assert all(a.dtype == np.float32 for a in fast)


def test_float16_takes_the_reference_path(compiled_vs_reference, calls):
    """The kernels are compiled for float32 and float64 only; other dtypes run the NumPy code."""
    fast, _ = compiled_vs_reference(_run(F.conv2d, (2, 3, 6, 6), (4, 3, 3, 3), dict(padding=1),
                                         "float16"))
    assert fast[0].dtype == np.float16 and not any(calls.values()), calls
