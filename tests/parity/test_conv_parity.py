"""Conv1d, Conv2d and ConvTranspose2d against PyTorch with copied weights: outputs, the input's
gradient and every parameter's gradient, float32 and float64, over many configurations; also
the chunked and threaded paths and both im2col layouts, forced on small inputs."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.ops import _threads as threads
from chainrule.ops.conv import _im2col as cv

torch = pytest.importorskip("torch")
tnn = torch.nn

DTYPES = ["float32", "float64"]


def _close(a, b, dtype, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != torch's {b.shape}"
    assert a.dtype == b.dtype == np.dtype(dtype), f"{what}: dtype {a.dtype}, torch {b.dtype}"
    scale = 1.0 + float(np.abs(b).max(initial=0.0))
    # NOTE: float32 sums of up to a few thousand products: relative rounding near 1e-6.
    tol = (1e-4, 1e-5 * scale) if dtype == "float32" else (1e-10, 1e-12 * scale)
    np.testing.assert_allclose(a, b, rtol=tol[0], atol=tol[1], err_msg=what)


def check_layer(m, t, x_shape, dtype, seed=0, call=None):
    """Copy t's weights into m, run both on the same input and upstream gradient, compare."""
    t = t.to(getattr(torch, dtype))
    m = m.to(np.dtype(dtype))
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    assert list(m.state_dict()) == list(t.state_dict())
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    call = call or (lambda layer, inp: layer(inp))
    yc, yt = call(m, xc), call(t, xt)
    _close(yc.numpy(), yt.detach().numpy(), dtype, "output")
    g = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    yc.backward(cr.tensor(g))
    yt.backward(torch.tensor(g))
    _close(xc.grad.numpy(), xt.grad.numpy(), dtype, "input gradient")
    for (name, p), (tname, q) in zip(m.named_parameters(), t.named_parameters(), strict=True):
        assert name == tname
        _close(p.grad.numpy(), q.grad.numpy(), dtype, f"gradient of {name}")
    return yc


CONV2D = [
    ((3, 8, 3), {}, (2, 3, 9, 9)),
    ((3, 8, (3, 5)), dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1), bias=False),
     (2, 3, 11, 12)),
    ((4, 6, 3), dict(groups=2, padding="same"), (1, 4, 7, 6)),
    ((4, 4, 3), dict(groups=4, stride=2, padding=1), (2, 4, 9, 8)),
    ((6, 5, 1), {}, (3, 6, 5, 5)),
    ((6, 5, 1), dict(stride=2), (3, 6, 5, 7)),
    ((2, 3, (2, 4)), dict(padding="same", dilation=2), (2, 2, 8, 9)),
    ((3, 4, 5), dict(padding="valid"), (1, 3, 7, 5)),
    ((3, 4, 3), dict(padding=2, stride=3), (2, 3, 10, 10)),
    ((16, 8, 3), dict(padding=1), (2, 16, 6, 6)),  # many channels: channels-last columns
    ((3, 5, 3), {}, (3, 9, 9)),  # unbatched
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("args, kw, shape", CONV2D, ids=[str(c[:2]) for c in CONV2D])
def test_conv2d(args, kw, shape, dtype):
    check_layer(nn.Conv2d(*args, **kw), tnn.Conv2d(*args, **kw), shape, dtype)


CONV1D = [
    ((4, 6, 3), {}, (2, 4, 10)),
    ((4, 6, 5), dict(stride=2, padding=2, dilation=2, groups=2), (3, 4, 17)),
    ((3, 2, 4), dict(padding="same", bias=False), (2, 3, 9)),
    ((3, 2, 1), {}, (2, 3, 5)),
    ((3, 2, 3), {}, (3, 8)),  # unbatched
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("args, kw, shape", CONV1D, ids=[str(c[:2]) for c in CONV1D])
def test_conv1d(args, kw, shape, dtype):
    check_layer(nn.Conv1d(*args, **kw), tnn.Conv1d(*args, **kw), shape, dtype)


CONV_T = [
    ((4, 3, 3), {}, (2, 4, 5, 5)),
    ((4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2), (2, 4, 5, 4)),
    ((3, 2, (2, 3)), dict(stride=(2, 3), dilation=(1, 2), bias=False), (1, 3, 4, 3)),
    ((3, 2, 3), dict(dilation=2, output_padding=1, padding=1), (2, 3, 4, 5)),
    ((16, 8, 3), dict(padding=1), (2, 16, 5, 5)),
    ((3, 2, 3), dict(stride=2), (3, 4, 4)),  # unbatched
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("args, kw, shape", CONV_T, ids=[str(c[:2]) for c in CONV_T])
def test_conv_transpose2d(args, kw, shape, dtype):
    check_layer(nn.ConvTranspose2d(*args, **kw), tnn.ConvTranspose2d(*args, **kw), shape, dtype)


@pytest.mark.parametrize("size", [(9, 11), (10, 12), (9, 12)])
def test_conv_transpose2d_output_size(size):
    def call(layer, x):
        return layer(x, output_size=size)

    y = check_layer(nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1),
                    tnn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), (2, 3, 5, 6), "float64",
                    call=call)
    assert y.shape[2:] == size


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Chunks of one sample and threads for every size: the paths big inputs take."""
    monkeypatch.setattr(threads, "_CHUNK_BYTES", 1)
    monkeypatch.setattr(threads, "_PARALLEL_BYTES", 0)
    monkeypatch.setattr(threads, "_THREADS", 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer, args, kw, shape", [
    ("Conv2d", (8, 12, 3), dict(padding=1), (5, 8, 7, 7)),
    ("Conv2d", (12, 6, 3), dict(padding=1), (5, 12, 7, 7)),
    ("Conv2d", (12, 6, 3), dict(stride=2, padding=1), (5, 12, 9, 9)),
    ("Conv2d", (2, 4, 3), dict(stride=2, padding=1, groups=2), (5, 2, 9, 9)),
    ("Conv2d", (3, 4, 5), dict(padding=2), (5, 3, 12, 12)),
    ("Conv1d", (4, 6, 3), dict(padding=1), (5, 4, 9)),
    ("ConvTranspose2d", (6, 4, 3), dict(stride=2), (5, 6, 4, 4)),
    ("ConvTranspose2d", (6, 4, 3), dict(padding=1), (5, 6, 4, 4)),
])
def test_chunked_threaded_paths_match_torch(tiny_chunks, layer, args, kw, shape, dtype):
    """Every input-gradient route: channels-first col2im (few input channels), the full
    convolution (stride 1) and channels-last col2im (strided), chunked on two threads."""
    check_layer(getattr(nn, layer)(*args, **kw), getattr(tnn, layer)(*args, **kw), shape, dtype)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("layer, args, kw, shape", [
    ("Conv2d", (3, 4, 3), dict(padding=1, stride=(1, 2)), (2, 3, 7, 9)),
    ("Conv2d", (4, 6, (2, 3)), dict(groups=2, dilation=(2, 1), padding=(0, 2)), (2, 4, 7, 6)),
    ("Conv2d", (4, 6, 1), {}, (2, 4, 3, 5)),
    ("ConvTranspose2d", (4, 6, 3), dict(groups=2, padding=1), (2, 4, 5, 5)),
])
def test_both_im2col_layouts_match_torch(monkeypatch, channels_last, layer, args, kw, shape):
    """The channels-first and channels-last column layouts (normally chosen by channel count)."""
    monkeypatch.setattr(cv._Im2col, "force_channels_last", channels_last)
    check_layer(getattr(nn, layer)(*args, **kw), getattr(tnn, layer)(*args, **kw), shape,
                "float64")


@pytest.mark.parametrize("dtype", DTYPES)
def test_small_cnn_end_to_end(dtype):
    """Layers chained (channels-last views flowing between them) match PyTorch."""
    def build(lib):
        return lib.Sequential(
            lib.Conv2d(3, 8, 3, padding=1), lib.ReLU(), lib.MaxPool2d(2),
            lib.Conv2d(8, 8, 3, padding="same", groups=2), lib.ReLU(),
            lib.ConvTranspose2d(8, 4, 2, stride=2), lib.AvgPool2d(3, 2, 1),
            lib.Conv2d(4, 6, 1), lib.AdaptiveAvgPool2d((3, None)),
            lib.Flatten(), lib.Linear(6 * 3 * 6, 5))

    check_layer(build(nn), build(tnn), (4, 3, 12, 12), dtype)


def _conv_in_child(queue):
    x = np.ones((4, 2, 6, 6))
    y = cv._conv_forward(x, np.ones((3, 2, 3, 3)), None, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    queue.put(float(y[:, :, 2:4, 2:4].mean()))


def test_threads_work_in_a_forked_child(tiny_chunks):
    """A child forked after the thread pool started makes its own pool (no deadlock)."""
    import multiprocessing

    cv._conv_forward(np.ones((4, 2, 6, 6)), np.ones((3, 2, 3, 3)), None, (1, 1), (1, 1, 1, 1),
                     (1, 1), 1)
    assert threads._pool is not None
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_conv_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert queue.get(timeout=1) == 18.0


def test_openblas_threads_are_restored():
    if not threads._OpenBLAS.found():
        pytest.skip("NumPy does not use OpenBLAS here: nothing to switch")
    get = threads._OpenBLAS._fns[0]
    before = get()
    with threads._OpenBLAS.single_threaded():
        with threads._OpenBLAS.single_threaded():
            assert get() == 1
        assert get() == 1
    assert get() == before


@pytest.mark.parametrize("frozen", ["weight", "bias"])
def test_weight_and_bias_gradients_each_alone(tiny_chunks, frozen):
    """The bias gradient is summed with the weight gradient's GEMMs, or alone when the weight
    needs none; the weight gradient reuses the padded input of the forward."""
    m, t = nn.Conv2d(4, 6, 3, padding=1, groups=2), tnn.Conv2d(4, 6, 3, padding=1, groups=2)
    getattr(m, frozen).requires_grad_(False)
    getattr(t, frozen).requires_grad_(False)
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(7).standard_normal((3, 4, 6, 5)).astype("float32")
    yc, yt = m(cr.tensor(x)), t(torch.tensor(x))
    g = np.random.default_rng(8).standard_normal(yc.shape).astype("float32")
    yc.backward(cr.tensor(g))
    yt.backward(torch.tensor(g))
    live = "bias" if frozen == "weight" else "weight"
    assert getattr(m, frozen).grad is None
    _close(getattr(m, live).grad.numpy(), getattr(t, live).grad.numpy(), "float32", live)
