"""The Module system: registration, traversal, modes, hooks, state_dict, repr, summary."""

from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.register_buffer("stat", cr.zeros(4))
        self.register_buffer("scratch", cr.zeros(2), persistent=False)
        self.scale = nn.Parameter(cr.ones(1))

    def forward(self, x):
        return self.fc(x) * self.scale + self.stat


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.alpha = nn.Parameter(cr.zeros(2))
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Sequential(OrderedDict(proj=nn.Linear(4, 2), out=nn.Identity()))

    def forward(self, x):
        for b in self.blocks:
            x = b(x)[:, :3]
        return self.head(nn.functional.pad(x, (0, 1)))


def test_state_dict_order_params_then_buffers_then_children():
    keys = list(Net().state_dict())
    assert keys == [
        "alpha",
        "blocks.0.scale", "blocks.0.stat", "blocks.0.fc.weight", "blocks.0.fc.bias",
        "blocks.1.scale", "blocks.1.stat", "blocks.1.fc.weight", "blocks.1.fc.bias",
        "head.proj.weight", "head.proj.bias",
    ]


def test_parameters_order_and_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["alpha", "blocks.0.scale", "blocks.0.fc.weight", "blocks.0.fc.bias",
                     "blocks.1.scale", "blocks.1.fc.weight", "blocks.1.fc.bias",
                     "head.proj.weight", "head.proj.bias"]
    assert [n for n, _ in net.named_buffers()] == ["blocks.0.stat", "blocks.0.scratch",
                                                   "blocks.1.stat", "blocks.1.scratch"]
    assert len(list(net.parameters())) == 9


def test_shared_parameter_yielded_once_but_saved_under_both_names():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, nn.Identity(), a)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    tied = nn.Module()
    tied.enc = nn.Linear(3, 3)
    tied.dec = nn.Linear(3, 3)
    tied.dec.weight = tied.enc.weight
    assert len(list(tied.parameters())) == 3


def test_modules_children_and_named_modules():
    net = Net()
    names = [n for n, _ in net.named_modules()]
    assert names == ["", "blocks", "blocks.0", "blocks.0.fc", "blocks.1", "blocks.1.fc",
                     "head", "head.proj", "head.out"]
    assert [n for n, _ in net.named_children()] == ["blocks", "head"]
    assert net.get_submodule("blocks.1.fc") is net.blocks[1].fc
    assert net.get_parameter("head.proj.bias") is net.head.proj.bias


def test_assigning_registers_and_reassigning_replaces():
    m = nn.Module()
    m.w = nn.Parameter(cr.ones(2))
    assert "w" in m._parameters
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = cr.ones(2)
    m.w = None
    assert list(m.parameters()) == []
    m.sub = nn.Linear(1, 1)
    del m.sub
    assert list(m.children()) == []


def test_assigning_before_init_raises():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)
            super().__init__()

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_train_eval_propagate():
    net = Net()
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_requires_grad():
    net = Net()
    net(cr.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p is not net.alpha)
    net.zero_grad(set_to_none=False)
    assert all(float(np.abs(p.grad.numpy()).sum()) == 0 for p in net.parameters()
               if p.grad is not None)
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_apply_visits_children_first():
    seen = []
    Net().apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.index("Linear") < seen.index("Block")


def test_forward_hooks_and_pre_hooks_and_removal():
    lin = nn.Linear(2, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: calls.append("pre") or (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda m, args, out: calls.append("post") or out + 1)
    y = lin(cr.ones(1, 2))
    assert calls == ["pre", "post"]
    np.testing.assert_allclose(y.numpy(), lin.bias.numpy()[None] + 1, rtol=1e-6)
    h1.remove()
    h2.remove()
    lin(cr.ones(1, 2))
    assert calls == ["pre", "post"]


def test_load_state_dict_round_trip_and_errors():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and np.array_equal(va.numpy(), vb.numpy())
    sd = a.state_dict()
    sd.pop("alpha")
    sd["extra.weight"] = cr.zeros(3)
    sd["head.proj.weight"] = cr.zeros(5, 5)
    with pytest.raises(RuntimeError) as e:
        b.load_state_dict(sd)
    msg = str(e.value)
    assert '"alpha"' in msg and '"extra.weight"' in msg
    assert "size mismatch for head.proj.weight" in msg and "(5, 5)" in msg and "(2, 4)" in msg
    sd["head.proj.weight"] = a.head.proj.weight
    res = b.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["alpha"] and res.unexpected_keys == ["extra.weight"]


def test_load_state_dict_copies_in_place():
    lin = nn.Linear(2, 2)
    w = lin.weight
    lin.load_state_dict({"weight": cr.ones(2, 2), "bias": cr.zeros(2)})
    assert lin.weight is w and w.numpy().tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_double_and_float_convert_parameters_and_buffers():
    net = Net().double()
    assert all(p.dtype == cr.float64 for p in net.parameters())
    assert all(b.dtype == cr.float64 for b in net.buffers())
    y = net(cr.randn(2, 3, dtype=cr.float64))
    assert y.dtype == cr.float64
    net.to(cr.float32)
    assert all(p.dtype == cr.float32 for p in net.parameters())
    assert net.to("cpu") is net
    with pytest.raises(RuntimeError, match="CPU only"):
        net.to("cuda")


def test_repr_like_pytorch():
    net = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 2, bias=False)))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=3, out_features=4, bias=True)\n"
        "  (1): Sequential(\n"
        "    (0): Linear(in_features=4, out_features=2, bias=False)\n"
        "  )\n"
        ")"
    )


def test_containers_behave_like_python_collections():
    seq = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4), nn.Linear(4, 5))
    assert len(seq) == 3 and isinstance(seq[1], nn.Linear)
    assert isinstance(seq[1:], nn.Sequential) and len(seq[1:]) == 2
    assert seq(cr.ones(1, 2)).shape == (1, 5)
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.append(nn.Linear(1, 2))
    ml.extend([nn.Linear(2, 2)])
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "Linear", "Linear", "Linear"]
    assert list(ml.state_dict())[:2] == ["1.weight", "1.bias"]
    md = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.Identity()})
    md["c"] = nn.Linear(2, 2)
    assert list(md.keys()) == ["a", "b", "c"] and "b" in md
    assert list(md.state_dict()) == ["a.weight", "a.bias", "c.weight", "c.bias"]


def test_flatten_unflatten_identity():
    x = cr.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    assert nn.Identity(54, unused="x")(x) is x


def test_summary_rows_and_totals():
    net = nn.Sequential(nn.Linear(4, 8), nn.Sequential(nn.Linear(8, 8)), nn.Linear(8, 2))
    net.train()
    s = net.summary((3, 4))
    assert s.total_params == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 2 + 2
    assert s.trainable_params == s.total_params and s.non_trainable_params == 0
    rows = {r["name"]: r for r in s.rows}
    assert rows["0"]["output_shape"] == "[3, 8]" and rows["0"]["params"] == 40
    assert rows["1.0"]["depth"] == 1 and rows["2"]["output_shape"] == "[3, 2]"
    text = str(s)
    assert "Total params: 130" in text and "Linear" in text
    assert net.training and all(m.training for m in net.modules())
    net[0].requires_grad_(False)
    assert nn.summary(net, (1, 4)).non_trainable_params == 40


def test_parameter_shares_memory_and_repr():
    t = cr.zeros(3)
    p = nn.Parameter(t)
    p.numpy()[0] = 5
    assert t.numpy()[0] == 5
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert isinstance(p, cr.Tensor) and p.requires_grad and p.is_leaf


def _grad_fns(out):
    """The types of the autograd nodes behind ``out``."""
    seen, stack = [], [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node not in seen:
            seen.append(node)
            stack.extend(p.grad_fn for p in node._parents if isinstance(p, cr.Tensor))
    return {type(n).__name__ for n in seen}


def _mlp(linear=nn.Linear, relu=nn.ReLU):
    cr.manual_seed(0)
    return nn.Sequential(linear(6, 5), relu(), nn.Linear(5, 4), relu(), linear(4, 3))


def test_sequential_runs_linear_then_relu_as_one_primitive_with_the_same_results():
    x0 = np.random.default_rng(0).standard_normal((7, 6))
    results = []
    for fused in (True, False):
        net = _mlp().double()
        if not fused:  # a hook on every ReLU: each module runs as written
            for m in net:
                if isinstance(m, nn.ReLU):
                    m.register_forward_hook(lambda mod, args, out: None)
        x = cr.tensor(x0, requires_grad=True)
        y = net(x)
        assert ("LinearReLU" in _grad_fns(y)) == fused
        assert ("Relu" in _grad_fns(y)) != fused
        (y * cr.arange(3.0)).sum().backward()
        results.append([y.numpy(), x.grad.numpy()] + [p.grad.numpy() for p in net.parameters()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_sequential_does_not_fuse_hooked_or_subclassed_layers():
    class MyLinear(nn.Linear):
        def forward(self, input):
            return super().forward(input) + 1

    class MyReLU(nn.ReLU):
        pass

    x = cr.ones(2, 6)
    assert "LinearReLU" not in _grad_fns(_mlp(relu=MyReLU)(x))
    # (the plain Linear(5, 4) and ReLU in the middle still run fused)
    assert {"Relu", "LinearReLU"} <= _grad_fns(_mlp(linear=MyLinear)(x))
    net = _mlp()
    calls = []
    net[0].register_forward_hook(lambda mod, args, out: calls.append(out.shape))
    net[2].register_forward_pre_hook(lambda mod, args: calls.append(args[0].shape))
    net(x)
    assert calls == [(2, 5), (2, 5)]  # both hooks saw their layer run on its own
    net = _mlp(linear=MyLinear)
    np.testing.assert_array_equal(net(x).numpy(), net[4](net[3](net[2](
        net[1](net[0](x))))).numpy())  # MyLinear's forward ran, +1 included


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sequential_runs_a_convolution_and_its_relu_as_one_primitive(dtype):
    def cnn():
        cr.manual_seed(1)
        return nn.Sequential(
            nn.Conv2d(1, 4, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # the direct kernel
            nn.Conv2d(4, 6, 3, groups=2), nn.ReLU(), nn.Flatten(),
            nn.Unflatten(1, (6, 36)), nn.Conv1d(6, 5, 3, bias=False), nn.ReLU(), nn.Flatten(),
            nn.Linear(5 * 34, 3),
        ).to(getattr(cr, dtype))

    x0 = np.random.default_rng(1).standard_normal((3, 1, 16, 16)).astype(dtype)
    results = []
    for fused in (True, False):
        net = cnn()
        if not fused:
            for m in net:
                if isinstance(m, nn.ReLU):
                    m.register_forward_hook(lambda mod, args, out: None)
        x = cr.tensor(x0, requires_grad=True)
        y = net(x)
        kinds = _grad_fns(y)
        assert ("ConvReLU" in kinds) == fused and ("Relu" in kinds) != fused
        (y * cr.arange(3.0, dtype=y.dtype)).sum().backward()
        results.append([y.numpy(), x.grad.numpy()] + [p.grad.numpy() for p in net.parameters()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
