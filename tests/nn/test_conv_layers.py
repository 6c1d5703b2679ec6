"""Convolution and pooling layers: repr, parameters and state_dict keys as PyTorch's, default
initialisation statistics, and errors that name the layer and the shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")
tnn = torch.nn

LAYERS = [
    ("Conv1d", (4, 8, 3), {}),
    ("Conv1d", (4, 8, 3), dict(padding="same", dilation=2, groups=2, bias=False)),
    ("Conv1d", (4, 8, 5), dict(stride=3, padding=1)),
    ("Conv2d", (3, 16, 3), {}),
    ("Conv2d", (3, 16, 3), dict(padding="same", bias=False)),
    ("Conv2d", (3, 16, 3), dict(padding="valid")),
    ("Conv2d", (4, 8, (3, 5)), dict(stride=2, padding=(1, 2), dilation=2, groups=2)),
    ("ConvTranspose2d", (4, 8, 3), dict(stride=2, output_padding=1)),
    ("ConvTranspose2d", (4, 8, (2, 3)), dict(padding=1, groups=4, dilation=(1, 2), bias=False)),
    ("MaxPool1d", (3,), {}),
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", ((2, 3),), dict(stride=1, padding=1, dilation=2, return_indices=True,
                                  ceil_mode=True)),
    ("AvgPool2d", (2,), {}),
    ("AvgPool2d", (3, 2, 1), dict(ceil_mode=True, count_include_pad=False, divisor_override=2)),
    ("AdaptiveAvgPool2d", ((None, 3),), {}),
    ("AdaptiveAvgPool2d", (1,), {}),
]
IDS = [f"{name}{args}{kw}" for name, args, kw in LAYERS]


@pytest.mark.parametrize("name, args, kw", LAYERS, ids=IDS)
def test_repr_and_state_matches_torch(name, args, kw):
    m, t = getattr(nn, name)(*args, **kw), getattr(tnn, name)(*args, **kw)
    assert repr(m) == repr(t)
    assert list(m.state_dict()) == list(t.state_dict())
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in t.named_parameters()]
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                 "groups", "output_padding", "transposed", "padding_mode", "ceil_mode",
                 "return_indices", "count_include_pad", "divisor_override", "output_size"):
        if hasattr(t, attr):
            assert getattr(m, attr) == getattr(t, attr), attr


@pytest.mark.parametrize("name, args, fan_in", [
    ("Conv2d", (32, 64, 5), 32 * 25),
    ("Conv2d", (32, 64, 5, 1, 0, 1, 4), 8 * 25),
    ("Conv1d", (64, 128, 7), 64 * 7),
    ("ConvTranspose2d", (64, 32, 5), 32 * 25),
])
def test_default_init_is_pytorchs(name, args, fan_in):
    """Weight and bias uniform on +-1/sqrt(fan_in) (kaiming_uniform_ with a=sqrt(5))."""
    cr.manual_seed(0)
    m = getattr(nn, name)(*args)
    bound = 1 / math.sqrt(fan_in)
    w, b = m.weight.numpy(), m.bias.numpy()
    assert w.dtype == b.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert abs(w.mean()) < 0.05 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.8 * bound


def test_dtype_argument_and_double():
    m = nn.Conv2d(2, 3, 3, dtype=cr.float64)
    assert m.weight.dtype == np.float64 and m.bias.dtype == np.float64
    m = nn.ConvTranspose2d(2, 3, 3).double()
    assert m(cr.ones(1, 2, 4, 4, dtype=cr.float64)).dtype == np.float64


def _raises(exc, call, *fragments):
    with pytest.raises(exc) as info:
        call()
    for f in fragments:
        assert f in str(info.value), (f, str(info.value))


def test_constructor_errors():
    _raises(ValueError, lambda: nn.Conv2d(4, 6, 3, groups=4), "Conv2d", "out_channels=6",
            "groups=4")
    _raises(ValueError, lambda: nn.Conv2d(3, 6, 3, groups=2), "in_channels=3", "groups=2")
    _raises(ValueError, lambda: nn.Conv2d(3, 6, 3, groups=0), "groups")
    _raises(ValueError, lambda: nn.Conv2d(3, 6, 3, stride=2, padding="same"), "padding='same'",
            "strided")
    _raises(ValueError, lambda: nn.Conv2d(3, 6, 3, padding="full"), "'full'")
    _raises(ValueError, lambda: nn.Conv2d(3, 6, 3, padding_mode="mirror"), "padding_mode")
    _raises(NotImplementedError, lambda: nn.Conv2d(3, 6, 3, padding_mode="reflect"), "reflect")
    _raises(ValueError, lambda: nn.ConvTranspose2d(3, 6, 3, padding_mode="circular"), "zeros")
    _raises(ValueError, lambda: nn.Conv2d(3, 6, (3, 3, 3)), "kernel_size", "2 ints")
    _raises(ValueError, lambda: nn.Conv1d(3, 6, 0), "kernel_size", "at least 1")


def test_forward_errors_name_the_layer_and_shapes():
    conv = nn.Conv2d(3, 8, 3)
    _raises(ValueError, lambda: conv(cr.ones(2, 3, 4, 4, 4)), "Conv2d(3, 8", "(2, 3, 4, 4, 4)")
    _raises(ValueError, lambda: conv(cr.ones(2, 1, 8, 8)), "Conv2d(3, 8", "(2, 1, 8, 8)",
            "1 channels", "expects 3")
    _raises(ValueError, lambda: conv(cr.ones(2, 3, 2, 8)), "Conv2d(3, 8", "(2, 3, 2, 8)",
            "output size (0, 6)")
    _raises(TypeError, lambda: conv(cr.ones(1, 3, 5, 5, dtype=cr.float64)), "float64", "float32")
    _raises(ValueError, lambda: nn.Conv1d(2, 4, 3)(cr.ones(1, 2, 4, 4)), "Conv1d(2, 4",
            "(1, 2, 4, 4)")
    up = nn.ConvTranspose2d(4, 2, 3, stride=2)
    _raises(ValueError, lambda: up(cr.ones(1, 3, 5, 5)), "ConvTranspose2d(4, 2", "3 channels")
    _raises(ValueError, lambda: up(cr.ones(1, 4, 5, 5), output_size=(20, 20)), "(20, 20)",
            "(11, 11) to (12, 12)")
    _raises(ValueError, lambda: nn.MaxPool2d(3)(cr.ones(1, 1, 2, 2)), "MaxPool2d(kernel_size=3",
            "(1, 1, 2, 2)", "output size")
    _raises(ValueError, lambda: nn.MaxPool2d(2, padding=2)(cr.ones(1, 1, 8, 8)), "padding",
            "half")
    _raises(ValueError, lambda: nn.MaxPool1d(2)(cr.ones(8)), "MaxPool1d", "(8,)")
    _raises(ValueError, lambda: nn.AvgPool2d(2)(cr.ones(4, 4)), "AvgPool2d", "(4, 4)")
    _raises(ValueError, lambda: nn.AdaptiveAvgPool2d((2, 3, 4))(cr.ones(1, 1, 4, 4)),
            "AdaptiveAvgPool2d", "output_size")


def test_functional_errors_name_the_function():
    from chainrule.nn import functional as F

    x, w = cr.ones(1, 4, 6, 6), cr.ones(6, 2, 3, 3)
    _raises(ValueError, lambda: F.conv2d(x, w, groups=3), "conv2d", "groups=3")
    _raises(ValueError, lambda: F.conv2d(x, w, bias=cr.ones(5), groups=2), "bias of shape (5,)")
    _raises(ValueError, lambda: F.conv2d(x, cr.ones(6, 4, 3)), "conv2d", "weight", "(6, 4, 3)")
    _raises(ValueError, lambda: F.conv_transpose2d(x, cr.ones(4, 2, 3, 3), output_padding=1),
            "conv_transpose2d", "output_padding")
    _raises(ValueError, lambda: F.avg_pool2d(x, 2, divisor_override=0), "divisor_override")
    _raises(TypeError, lambda: F.max_pool2d(cr.ones(1, 1, 4, 4, dtype=cr.int64), 2),
            "max_pool2d", "int64")


def test_layers_train_a_few_steps():
    """A small CNN's loss goes down with plain SGD (gradients reach every parameter)."""
    cr.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 2))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].sum(axis=(1, 2)) > 0).astype(np.int64)
    xt, yt = cr.tensor(x), cr.tensor(y)
    losses = []
    for _ in range(60):
        model.zero_grad()
        loss = nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        losses.append(loss.item())
        with cr.no_grad():
            for p in model.parameters():
                assert p.grad is not None and p.grad.shape == p.shape
                p -= 0.2 * p.grad
    assert losses[-1] < 0.6 * losses[0]


@pytest.mark.parametrize("name, args, shape", [
    ("Conv2d", (3, 4, 3), (0, 3, 5, 5)), ("Conv1d", (3, 4, 3), (0, 3, 5)),
    ("ConvTranspose2d", (3, 4, 3), (0, 3, 5, 5)), ("MaxPool2d", (2,), (0, 3, 4, 4)),
    ("AvgPool2d", (2,), (0, 3, 4, 4)), ("AdaptiveAvgPool2d", (2,), (0, 3, 4, 4)),
])
def test_empty_batch(name, args, shape):
    m, t = getattr(nn, name)(*args), getattr(tnn, name)(*args)
    x = cr.zeros(*shape, requires_grad=True)
    y = m(x)
    assert y.shape == tuple(t(torch.zeros(*shape)).shape)
    y.sum().backward()
    assert x.grad.shape == shape
    for p in m.parameters():
        assert p.grad.shape == p.shape and not p.grad.numpy().any()
