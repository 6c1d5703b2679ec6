"""Linear, containers and nested modules against PyTorch: keys, order, values, gradients."""

from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")
tnn = torch.nn


def _pair(builder_cr, builder_t):
    m, t = builder_cr(), builder_t()
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return m, t


def _nested(lib):
    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.embed = lib.Linear(5, 6)
            self.blocks = lib.ModuleList([lib.Linear(6, 6) for _ in range(2)])
            self.heads = lib.ModuleDict({"a": lib.Linear(6, 3), "b": lib.Linear(6, 1, bias=False)})
            self.seq = lib.Sequential(OrderedDict(l1=lib.Linear(3, 4), id=lib.Identity()))
            self.register_buffer("offset", (cr if lib is nn else torch).zeros(6))
            self.gain = lib.Parameter((cr if lib is nn else torch).ones(6))

        def forward(self, x):
            h = self.embed(x) * self.gain + self.offset
            for b in self.blocks:
                h = b(h).tanh()
            return self.seq(self.heads["a"](h)), self.heads["b"](h)

    return Net()


def test_nested_model_keys_order_and_parameter_order_match_torch():
    m, t = _nested(nn), _nested(tnn)
    assert list(m.state_dict()) == list(t.state_dict())
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in m.named_modules()] == [n for n, _ in t.named_modules()]
    assert [tuple(p.shape) for p in m.parameters()] == [tuple(p.shape) for p in t.parameters()]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nested_model_forward_backward_match_torch(dtype):
    m, t = _nested(nn), _nested(tnn)
    if dtype == "float64":
        m.double()
        t.double()
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(dtype)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (ya, yb), (ta, tb) = m(xc), t(xt)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ya.numpy(), ta.detach().numpy(), **tol)
    ((ya * ya).sum() + yb.sum()).backward()
    ((ta * ta).sum() + tb.sum()).backward()
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), **tol)
    assert xc.grad.dtype == np.dtype(dtype)
    for (n, p), (_, q) in zip(m.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), **tol, err_msg=n)
        assert p.grad.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(7, 5), (2, 3, 5), (5,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(dtype, shape, bias):
    m, t = _pair(lambda: nn.Linear(5, 4, bias=bias).to(np.dtype(dtype)),
                 lambda: tnn.Linear(5, 4, bias=bias).to(getattr(torch, dtype)))
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    g = np.random.default_rng(2).standard_normal(shape[:-1] + (4,)).astype(dtype)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yc, yt = m(xc), t(xt)
    yc.backward(cr.tensor(g))
    yt.backward(torch.tensor(g))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(yc.numpy(), yt.detach().numpy(), **tol)
    assert yc.dtype == np.dtype(dtype) and yc.shape == tuple(yt.shape)
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), **tol)
    np.testing.assert_allclose(m.weight.grad.numpy(), t.weight.grad.numpy(), **tol)
    if bias:
        np.testing.assert_allclose(m.bias.grad.numpy(), t.bias.grad.numpy(), **tol)


def test_weights_move_both_ways():
    m = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    t = tnn.Sequential(tnn.Linear(3, 4), tnn.Linear(4, 2))
    t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(m(cr.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_linear_repr_and_errors_match_torch_wording():
    assert repr(nn.Linear(3, 4)) == repr(tnn.Linear(3, 4))
    assert repr(nn.Linear(3, 4, bias=False)) == repr(tnn.Linear(3, 4, bias=False))
    with pytest.raises(RuntimeError, match=r"\(2, 7\).*\(4, 3\)"):
        nn.Linear(3, 4)(cr.ones(2, 7))


def test_linear_default_init_matches_pytorch_formula():
    cr.manual_seed(0)
    m = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    w, b = m.weight.numpy(), m.bias.numpy()
    assert w.dtype == np.float32 and np.abs(w).max() <= bound
    # U(-a, a) has std a / sqrt(3)
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01 * bound
    assert abs(w.mean()) < 0.01 * bound and np.abs(b).max() <= bound
    t = tnn.Linear(400, 300)
    assert abs(w.std() - t.weight.detach().numpy().std()) < 0.02 * bound


@pytest.mark.parametrize("name,kwargs,std", [
    ("xavier_uniform_", {}, np.sqrt(2.0 / (200 + 300))),
    ("xavier_normal_", {"gain": 2.0}, 2.0 * np.sqrt(2.0 / (200 + 300))),
    ("kaiming_uniform_", {"nonlinearity": "relu"}, np.sqrt(2.0 / 200)),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}, np.sqrt(2.0 / 300)),
    ("kaiming_uniform_", {"a": np.sqrt(5)}, np.sqrt(2.0 / 6) / np.sqrt(200)),
    ("normal_", {"std": 0.02}, 0.02),
])
def test_init_statistics(name, kwargs, std):
    w = cr.empty(300, 200)
    getattr(nn.init, name)(w, **kwargs)
    tw = torch.empty(300, 200)
    getattr(torch.nn.init, name)(tw, **kwargs)
    assert abs(w.numpy().std() - std) < 0.02 * std
    assert abs(tw.numpy().std() - std) < 0.02 * std


def test_init_gains_fans_orthogonal_and_constants():
    for nl, p in [("relu", None), ("tanh", None), ("leaky_relu", 0.2), ("sigmoid", None),
                  ("linear", None), ("selu", None), ("conv2d", None)]:
        assert nn.init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p))
    w = cr.empty(8, 3, 5, 5)
    assert nn.init._calculate_fan_in_and_fan_out(w) == (75, 200)
    q = cr.empty(6, 10)
    nn.init.orthogonal_(q, gain=2.0)
    np.testing.assert_allclose(q.numpy() @ q.numpy().T, 4 * np.eye(6), atol=1e-5)
    z = cr.ones(3, 3)
    nn.init.zeros_(z)
    assert z.numpy().sum() == 0
    nn.init.constant_(z, 0.5)
    assert np.all(z.numpy() == 0.5)
    with pytest.raises(ValueError, match="fewer than 2"):
        nn.init.xavier_uniform_(cr.empty(3))
