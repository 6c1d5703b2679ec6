"""The Optimizer base and the optimizers' contracts: groups, zero_grad, closure, errors,
state_dict checks, dtypes, and what a step must leave alone."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import _jit
from chainrule.optim import optimizer as optimizer_module
from chainrule.optim.adam import adam_
from chainrule.optim.sgd import sgd_

ALL = [
    (cr.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    (cr.optim.Adam, dict(lr=0.1, amsgrad=True, weight_decay=0.1, maximize=True)),
    (cr.optim.AdamW, dict(lr=0.1)),
    (cr.optim.RMSprop, dict(lr=0.1, centered=True, momentum=0.5, weight_decay=0.1)),
    (cr.optim.Adagrad, dict(lr=0.1, weight_decay=0.1, maximize=True)),
]
ALL_IDS = [cls.__name__ for cls, _ in ALL]


def param(values, dtype=np.float32):
    return cr.nn.Parameter(cr.tensor(np.asarray(values, dtype)))


def with_grad(values, grad, dtype=np.float32):
    p = param(values, dtype)
    p.grad = cr.tensor(np.asarray(grad, dtype))
    return p


@pytest.mark.parametrize(("cls", "kwargs"), ALL, ids=ALL_IDS)
def test_step_keeps_dtype_and_leaves_grad_alone(cls, kwargs):
    for dtype in (np.float32, np.float64):
        p = with_grad([[1.0, -2.0, 3.0]], [[0.5, 0.25, -1.0]], dtype)
        grad_before = p.grad.numpy().copy()
        grad_array = p.grad.numpy()
        before = p.numpy().copy()
        opt = cls([p], **kwargs)
        for _ in range(3):
            opt.step()
        assert p.dtype == dtype and p.shape == (1, 3)
        assert p.grad.numpy() is grad_array
        np.testing.assert_array_equal(p.grad.numpy(), grad_before)
        assert not np.array_equal(p.numpy(), before)
        for key, value in opt.state[p].items():
            assert isinstance(value, cr.Tensor)
            expected = np.float32 if key == "step" else dtype
            assert value.dtype == expected, key


@pytest.mark.parametrize(("cls", "kwargs"), ALL, ids=ALL_IDS)
def test_params_without_grad_are_skipped(cls, kwargs):
    a, b = with_grad([1.0, 2.0], [0.3, -0.2]), param([3.0, 4.0])
    opt = cls([a, b], **kwargs)
    opt.step()
    np.testing.assert_array_equal(b.numpy(), [3.0, 4.0])
    if cls is not cr.optim.Adagrad:  # Adagrad's state exists from construction
        assert b not in opt.state
    assert not np.array_equal(a.numpy(), [1.0, 2.0])


def test_zero_grad_set_to_none_and_zero_fill():
    a, b = with_grad([1.0, 2.0], [0.1, 0.2]), with_grad([3.0], [0.3])
    c = param([5.0])
    opt = cr.optim.SGD([a, b, c], lr=0.1)
    opt.zero_grad(set_to_none=False)
    assert a.grad is not None and b.grad is not None and c.grad is None
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0])
    assert a.grad.dtype == np.float32
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_zero_filled_grad_accumulates_again():
    w = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    opt = cr.optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.zero_grad(set_to_none=False)
    (w * 3.0).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 3.0])


def test_closure_runs_once_with_grad_enabled_and_its_loss_is_returned():
    w = cr.nn.Parameter(cr.tensor([1.0, -2.0]))
    opt = cr.optim.SGD([w], lr=0.5)
    calls = []

    def closure():
        calls.append(cr.is_grad_enabled())
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with cr.no_grad():
        loss = opt.step(closure)
    assert calls == [True]
    assert loss.item() == pytest.approx(5.0)
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0])  # w - 0.5 * 2w
    assert opt.step() is None


def test_param_groups_take_defaults_and_their_own_options():
    a, b = param([1.0]), param([2.0])
    opt = cr.optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    g0, g1 = opt.param_groups
    assert g0["lr"] == 0.1 and g0["momentum"] == 0 and g0["params"] == [a]
    assert g1["lr"] == 0.5 and g1["momentum"] == 0.9 and g1["params"][0] is b
    c = param([3.0])
    opt.add_param_group({"params": [c], "weight_decay": 0.1})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["weight_decay"] == 0.1


def test_named_parameters_are_accepted():
    net = cr.nn.Linear(2, 3)
    opt = cr.optim.Adam(net.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.param_groups[0]["params"][0] is net.weight
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


def test_repr_lists_groups_like_torch():
    opt = cr.optim.SGD([param([1.0])], lr=0.1)
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n")
    assert "    lr: 0.1\n" in text and "    momentum: 0\n" in text and text.endswith(")")


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda p: cr.optim.SGD(p, lr=-1.0), ValueError, "Invalid learning rate: -1.0"),
    (lambda p: cr.optim.SGD(p, momentum=-0.1), ValueError, "Invalid momentum value: -0.1"),
    (lambda p: cr.optim.SGD(p, weight_decay=-1), ValueError, "Invalid weight_decay value"),
    (lambda p: cr.optim.SGD(p, nesterov=True), ValueError,
     "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: cr.optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "Nesterov momentum requires"),
    (lambda p: cr.optim.Adam(p, lr=-1e-3), ValueError, "Invalid learning rate"),
    (lambda p: cr.optim.Adam(p, eps=-1e-8), ValueError, "Invalid epsilon value"),
    (lambda p: cr.optim.Adam(p, betas=(1.0, 0.999)), ValueError,
     "Invalid beta parameter at index 0: 1.0"),
    (lambda p: cr.optim.Adam(p, betas=(0.9, -0.1)), ValueError,
     "Invalid beta parameter at index 1: -0.1"),
    (lambda p: cr.optim.AdamW(p, weight_decay=-0.1), ValueError, "Invalid weight_decay value"),
    (lambda p: cr.optim.Adam(p, differentiable=True), NotImplementedError, "differentiable"),
    (lambda p: cr.optim.RMSprop(p, alpha=-0.5), ValueError, "Invalid alpha value"),
    (lambda p: cr.optim.RMSprop(p, momentum=-0.5), ValueError, "Invalid momentum value"),
    (lambda p: cr.optim.RMSprop(p, eps=-1.0), ValueError, "Invalid epsilon value"),
    (lambda p: cr.optim.Adagrad(p, lr_decay=-1.0), ValueError, "Invalid lr_decay value"),
    (lambda p: cr.optim.Adagrad(p, initial_accumulator_value=-1.0), ValueError,
     "Invalid initial_accumulator_value value"),
    (lambda p: cr.optim.Adagrad(p, eps=-1.0), ValueError, "Invalid epsilon value"),
])
def test_bad_hyper_parameters_raise_torchs_errors(make, error, match):
    with pytest.raises(error, match=match):
        make([param([1.0])])


def test_bad_params_raise():
    p = param([1.0])
    with pytest.raises(ValueError, match="empty parameter list"):
        cr.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="ordered"):
        cr.optim.SGD({p}, lr=0.1)
    with pytest.raises(TypeError, match="Tensors or dicts"):
        cr.optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors, but one of the params is"):
        cr.optim.SGD([p, 3.0], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        cr.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        cr.optim.SGD([p * 2], lr=0.1)
    opt = cr.optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})
    with pytest.raises(TypeError, match="param_group must be a dict"):
        opt.add_param_group([p])


def test_gradient_of_wrong_shape_raises():
    p = param([1.0, 2.0])
    p.grad = cr.tensor([1.0])
    with pytest.raises(RuntimeError, match=r"SGD.step: a parameter of shape \(2,\) has a "
                                           r"gradient of shape \(1,\)"):
        cr.optim.SGD([p], lr=0.1).step()


def test_load_state_dict_checks_groups_and_shapes():
    a, b = with_grad([1.0, 2.0], [0.1, 0.2]), with_grad([3.0], [0.3])
    opt = cr.optim.Adam([a, b], lr=0.1)
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        cr.optim.Adam([{"params": [a]}, {"params": [b]}]).load_state_dict(saved)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        cr.optim.Adam([a]).load_state_dict(saved)
    swapped = cr.optim.Adam([b, a])
    with pytest.raises(ValueError, match=r"state\[0\]\['exp_avg'\] has shape \(2,\), but "
                                         r"parameter 0 has shape \(1,\)"):
        swapped.load_state_dict(saved)


def test_load_state_dict_copies_casts_and_restores_options():
    p = with_grad([1.0, 2.0], [0.1, 0.2], np.float32)
    opt = cr.optim.Adam([p], lr=0.1, betas=(0.5, 0.6))
    opt.step()
    saved = opt.state_dict()
    saved["state"][0]["exp_avg"] = saved["state"][0]["exp_avg"].numpy().astype(np.float64)
    saved["state"][0]["step"] = 1.0  # a float step, as older PyTorch wrote it
    fresh = cr.optim.Adam([p])
    fresh.load_state_dict(saved)
    state = fresh.state[p]
    assert state["exp_avg"].dtype == np.float32
    assert state["step"].dtype == np.float32 and state["step"].item() == 1.0
    assert state["exp_avg_sq"].numpy() is not opt.state[p]["exp_avg_sq"].numpy()
    assert fresh.param_groups[0]["lr"] == 0.1 and fresh.param_groups[0]["betas"] == (0.5, 0.6)
    assert fresh.param_groups[0]["params"][0] is p
    fresh.step()
    assert state["step"].item() == 2.0


def test_load_state_dict_accepts_string_indices():
    p = with_grad([1.0], [0.5])
    opt = cr.optim.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    saved = opt.state_dict()
    saved["state"] = {str(k): v for k, v in saved["state"].items()}  # as JSON would keep them
    fresh = cr.optim.SGD([p], lr=0.1, momentum=0.9)
    fresh.load_state_dict(saved)
    assert fresh.state[p]["momentum_buffer"].item() == pytest.approx(0.5)


def test_sgd_without_momentum_keeps_no_state():
    p = with_grad([1.0], [0.5])
    opt = cr.optim.SGD([p], lr=0.1)
    opt.step()
    assert opt.state_dict()["state"] == {}
    assert p.item() == pytest.approx(0.95)


def test_adagrad_state_exists_before_the_first_step():
    p = param([1.0, 2.0])
    opt = cr.optim.Adagrad([p], initial_accumulator_value=0.25)
    state = opt.state_dict()["state"][0]
    assert state["step"].item() == 0.0
    np.testing.assert_array_equal(state["sum"].numpy(), [0.25, 0.25])


def test_update_functions_work_in_place_on_chunks():
    rng = np.random.default_rng(0)
    p, g = rng.standard_normal(10), rng.standard_normal(10)
    m, v = np.zeros(10), np.zeros(10)
    whole = [a.copy() for a in (p, m, v)]
    hyper = dict(step=1.0, lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1,
                 decoupled_weight_decay=False, amsgrad=False, maximize=False)
    adam_(whole[0], g, whole[1], whole[2], None, np.empty(10), np.empty(10), **hyper)
    for lo, hi in [(0, 4), (4, 10)]:  # elementwise: any split gives the same bits
        adam_(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], None, np.empty(hi - lo),
              np.empty(hi - lo), **hyper)
    for a, b in zip((p, m, v), whole):
        np.testing.assert_array_equal(a, b)
    buf = np.empty(10)
    sgd_(p, g, buf, np.empty(10), np.empty(10), first_step=True, lr=0.1, momentum=0.9,
         dampening=0.5, weight_decay=0.0, nesterov=False, maximize=False)
    np.testing.assert_array_equal(buf, g)  # no dampening on the first step


def _three_steps(cls, kwargs, values, grads):
    """Three steps of ``cls`` on fresh parameters (the fourth made non-contiguous), by the
    NumPy update functions (the compiled kernels: tests/optim/test_optim_kernels.py)."""
    ps = [with_grad(v, g) for v, g in zip(values, grads)]
    ps[3]._data = np.asfortranarray(ps[3]._data)  # a non-contiguous parameter
    opt = cls(ps, **kwargs)
    with _jit.reference():
        for _ in range(3):
            opt.step()
    return ps, opt


@pytest.mark.parametrize(("cls", "kwargs"), ALL, ids=ALL_IDS)
def test_large_parameters_updated_in_pieces_give_the_same_bits(cls, kwargs, monkeypatch):
    """Big parameters are updated in pieces (a non-contiguous one whole): the same bits as
    whole-array updates."""
    rng = np.random.default_rng(1)
    shapes = [(100, 700), (700,), (5, 3), (200, 100)]
    values = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]

    def run(piece):
        monkeypatch.setattr(optimizer_module, "_PIECE", piece)
        return _three_steps(cls, kwargs, values, grads)

    pieces, opt = run(1 << 14)
    whole, reference = run(1 << 30)
    for p, q in zip(pieces, whole):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
        for key, value in opt.state[p].items():
            np.testing.assert_array_equal(value.numpy(), reference.state[q][key].numpy())


def test_a_parameter_listed_twice_warns_and_is_updated_twice():
    p = with_grad(np.ones(300_000), np.ones(300_000))
    with pytest.warns(UserWarning, match="more than once"):
        opt = cr.optim.SGD([p, p], lr=0.1)
    opt.step()
    np.testing.assert_allclose(p.numpy(), 0.8, rtol=1e-6)


THREADED = [c for c in ALL if c[0] in (cr.optim.Adam, cr.optim.AdamW)]


@pytest.mark.parametrize(("cls", "kwargs"), THREADED, ids=[c.__name__ for c, _ in THREADED])
def test_updates_shared_by_two_threads_give_the_same_bits(cls, kwargs, monkeypatch):
    """Adam's large steps are shared out between two threads: the same bits as one thread."""
    from chainrule.ops import _threads

    rng = np.random.default_rng(2)
    shapes = [(300, 400), (300,), (7, 3), (400, 300), (2, 70_001)]
    values = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    slots = set()
    scratch_for = optimizer_module.Optimizer._scratch_for

    def recording(self, array, slot=0):
        slots.add(slot)
        return scratch_for(self, array, slot)

    monkeypatch.setattr(optimizer_module.Optimizer, "_scratch_for", recording)

    def run(threads):
        monkeypatch.setattr(_threads, "_THREADS", threads)
        return _three_steps(cls, kwargs, values, grads)

    alone, reference = run(1)
    assert slots == {0}
    shared, opt = run(2)
    if _threads._OpenBLAS.found():
        assert slots == {0, 1}
    for p, q in zip(shared, alone):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
        for key, value in opt.state[p].items():
            np.testing.assert_array_equal(value.numpy(), reference.state[q][key].numpy())
