"""Optimizers against PyTorch: the same MLP, weights, data and loss; parameters and optimizer
state compared after every optimizer's trajectory, and state moved both ways mid-training."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import chainrule as cr

STEPS = 25
RNG = np.random.default_rng(0)
X = RNG.standard_normal((16, 6))
Y = RNG.standard_normal((16, 3))

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("SGD", dict(lr=0.01, momentum=0.5, dampening=0.1, weight_decay=0.01, maximize=True)),
    ("SGD", dict(lr=0.1, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.5, 0.99), maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.005, alpha=0.9, eps=1e-6)),
    ("RMSprop", dict(lr=0.005, centered=True)),
    ("RMSprop", dict(lr=0.005, momentum=0.9)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.005, weight_decay=0.01, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, eps=1e-3, maximize=True)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
       for name, kw in CONFIGS]


def make_models(dtype=torch.float64, seed=0):
    """A 2-layer MLP in torch and the same one (copied weights) in chainrule."""
    torch.manual_seed(seed)
    tm = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(),
                             torch.nn.Linear(12, 3)).to(dtype)
    cm = cr.nn.Sequential(cr.nn.Linear(6, 12), cr.nn.Tanh(), cr.nn.Linear(12, 3))
    cm = cm.double() if dtype == torch.float64 else cm
    cm.load_state_dict(tm.state_dict())
    return tm, cm


def torch_step(model, opt, x=X, y=Y):
    opt.zero_grad()
    xt = torch.tensor(x, dtype=next(model.parameters()).dtype)
    yt = torch.tensor(y, dtype=xt.dtype)
    loss = ((model(xt) - yt) ** 2).mean()
    loss.backward()
    opt.step()
    return loss.item()


def cr_step(model, opt, x=X, y=Y):
    opt.zero_grad()
    dtype = next(model.parameters()).dtype
    loss = ((model(cr.tensor(x.astype(dtype))) - cr.tensor(y.astype(dtype))) ** 2).mean()
    loss.backward()
    opt.step()
    return loss.item()


def assert_params_close(tm, cm, rtol=1e-6, atol=1e-9):
    for (name, tp), cp in zip(tm.named_parameters(), cm.parameters()):
        assert cp.dtype == tp.detach().numpy().dtype, name
        np.testing.assert_allclose(cp.numpy(), tp.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=name)


def assert_state_close(topt, copt, rtol=1e-6, atol=1e-9):
    ts, cs = topt.state_dict(), copt.state_dict()
    assert sorted(ts["state"]) == sorted(cs["state"])
    for i, tstate in ts["state"].items():
        cstate = cs["state"][i]
        assert list(cstate) == list(tstate), f"state keys of param {i}"
        for key, tv in tstate.items():
            cv = cstate[key]
            assert isinstance(cv, cr.Tensor), (i, key)
            assert cv.dtype == tv.numpy().dtype and cv.shape == tuple(tv.shape), (i, key)
            np.testing.assert_allclose(cv.numpy(), tv.numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"state[{i}][{key}]")
    assert cs["param_groups"] == ts["param_groups"]


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_trajectory_matches_torch(name, kwargs):
    tm, cm = make_models()
    topt = getattr(torch.optim, name)(tm.parameters(), **kwargs)
    copt = getattr(cr.optim, name)(cm.parameters(), **kwargs)
    for _ in range(STEPS):
        tl, cl = torch_step(tm, topt), cr_step(cm, copt)
        assert cl == pytest.approx(tl, rel=1e-6, abs=1e-9)
    assert_params_close(tm, cm)
    assert_state_close(topt, copt)


@pytest.mark.parametrize(("name", "kwargs"), [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
])
def test_float32_trajectory_keeps_float32(name, kwargs):
    tm, cm = make_models(torch.float32)
    topt = getattr(torch.optim, name)(tm.parameters(), **kwargs)
    copt = getattr(cr.optim, name)(cm.parameters(), **kwargs)
    for _ in range(STEPS):
        torch_step(tm, topt)
        cr_step(cm, copt)
    assert_params_close(tm, cm, rtol=1e-4, atol=1e-5)
    for p in cm.parameters():
        assert p.dtype == np.float32
        for key, value in copt.state[p].items():
            assert value.dtype == np.float32, key
    assert_state_close(topt, copt, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_param_groups_with_their_own_options(name):
    tm, cm = make_models()
    extra = {"SGD": dict(momentum=0.9), "Adam": dict(betas=(0.5, 0.9)),
             "RMSprop": dict(centered=True), "Adagrad": dict(lr_decay=0.1)}[name]

    def groups(model):
        first, second = model[0], model[2]
        return [{"params": first.parameters(), "lr": 0.05, **extra},
                {"params": second.parameters()}]

    topt = getattr(torch.optim, name)(groups(tm), lr=0.01)
    copt = getattr(cr.optim, name)(groups(cm), lr=0.01)
    for _ in range(STEPS):
        torch_step(tm, topt)
        cr_step(cm, copt)
    assert [g["lr"] for g in copt.param_groups] == [0.05, 0.01]
    assert_params_close(tm, cm)
    assert_state_close(topt, copt)


def test_add_param_group_mid_training_matches_torch():
    tm, cm = make_models()
    topt = torch.optim.Adam(tm[0].parameters(), lr=0.01)
    copt = cr.optim.Adam(cm[0].parameters(), lr=0.01)
    for step in range(STEPS):
        if step == 10:
            topt.add_param_group({"params": tm[2].parameters(), "lr": 0.03})
            copt.add_param_group({"params": cm[2].parameters(), "lr": 0.03})
        torch_step(tm, topt)
        cr_step(cm, copt)
    assert_params_close(tm, cm)
    assert_state_close(topt, copt)


def to_numpy_state(state_dict):
    """An optimizer state_dict with every tensor (either framework's) as a NumPy array copy."""
    def conv(v):
        if isinstance(v, torch.Tensor):
            return v.detach().numpy().copy()
        if isinstance(v, cr.Tensor):
            return v.numpy().copy()
        return copy.deepcopy(v)

    return {"state": {i: {k: conv(v) for k, v in s.items()} for i, s in
                      state_dict["state"].items()},
            "param_groups": copy.deepcopy(state_dict["param_groups"])}


@pytest.mark.parametrize(("name", "kwargs"), [
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.2)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
])
def test_state_dict_round_trip_continues_identically(name, kwargs):
    _, reference = make_models()
    ref_opt = getattr(cr.optim, name)(reference.parameters(), **kwargs)
    for _ in range(2 * 10):
        cr_step(reference, ref_opt)

    _, first = make_models()
    opt = getattr(cr.optim, name)(first.parameters(), **kwargs)
    for _ in range(10):
        cr_step(first, opt)
    saved_model = {k: v.numpy().copy() for k, v in first.state_dict().items()}
    _, resumed = make_models(seed=1)
    resumed.load_state_dict(saved_model)
    new_opt = getattr(cr.optim, name)(resumed.parameters(), **kwargs)
    new_opt.load_state_dict(opt.state_dict())
    # both go on: had the loaded state aliased the live one, each would corrupt the other
    for _ in range(10):
        cr_step(first, opt)
        cr_step(resumed, new_opt)
    for p, q, r in zip(reference.parameters(), resumed.parameters(), first.parameters()):
        np.testing.assert_array_equal(q.numpy(), p.numpy())
        np.testing.assert_array_equal(r.numpy(), p.numpy())


@pytest.mark.parametrize(("name", "kwargs"), [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
])
def test_torch_state_moves_to_chainrule_and_continues(name, kwargs):
    tm, _ = make_models()
    topt = getattr(torch.optim, name)(tm.parameters(), **kwargs)
    for _ in range(10):
        torch_step(tm, topt)
    _, cm = make_models(seed=1)
    cm.load_state_dict(tm.state_dict())
    copt = getattr(cr.optim, name)(cm.parameters(), **kwargs)
    copt.load_state_dict(to_numpy_state(topt.state_dict()))
    assert_state_close(topt, copt, rtol=0, atol=0)
    for _ in range(15):
        torch_step(tm, topt)
        cr_step(cm, copt)
    assert_params_close(tm, cm)
    assert_state_close(topt, copt)


@pytest.mark.parametrize(("name", "kwargs"), [
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("Adam", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.005, momentum=0.5)),
    ("Adagrad", dict(lr=0.1)),
])
def test_chainrule_state_loads_into_torch(name, kwargs):
    tm, cm = make_models()
    copt = getattr(cr.optim, name)(cm.parameters(), **kwargs)
    for _ in range(10):
        cr_step(cm, copt)
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in cm.state_dict().items()})
    topt = getattr(torch.optim, name)(tm.parameters(), **kwargs)
    sd = to_numpy_state(copt.state_dict())
    sd["state"] = {i: {k: torch.tensor(v) for k, v in s.items()} for i, s in sd["state"].items()}
    topt.load_state_dict(sd)
    for _ in range(10):
        torch_step(tm, topt)
        cr_step(cm, copt)
    assert_params_close(tm, cm)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_fresh_state_dict_layout_matches_torch(name):
    tm, cm = make_models()
    topt = getattr(torch.optim, name)(tm.parameters(), lr=0.01)
    copt = getattr(cr.optim, name)(cm.parameters(), lr=0.01)
    ts, cs = topt.state_dict(), copt.state_dict()
    assert cs["param_groups"] == ts["param_groups"]
    assert list(cs["param_groups"][0]) == list(ts["param_groups"][0])
    assert sorted(cs["state"]) == sorted(ts["state"])  # Adagrad's state exists from the start
    for i in ts["state"]:
        assert list(cs["state"][i]) == list(ts["state"][i])


def test_closure_matches_torch():
    tm, cm = make_models()
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    copt = cr.optim.SGD(cm.parameters(), lr=0.1, momentum=0.9)
    xt, yt = torch.tensor(X), torch.tensor(Y)
    xc, yc = cr.tensor(X), cr.tensor(Y)

    def t_closure():
        topt.zero_grad()
        loss = ((tm(xt) - yt) ** 2).mean()
        loss.backward()
        return loss

    def c_closure():
        copt.zero_grad()
        loss = ((cm(xc) - yc) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(10):
        tl = topt.step(t_closure)
        with cr.no_grad():  # step's closure runs with gradients enabled regardless
            cl = copt.step(c_closure)
        assert isinstance(cl, cr.Tensor)
        assert cl.item() == pytest.approx(tl.item(), rel=1e-10)
    assert_params_close(tm, cm)
