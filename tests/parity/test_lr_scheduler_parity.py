"""Learning-rate schedules against torch.optim.lr_scheduler: the lr (and cycled momentum) of
every param group after every step, for 40 steps, and state_dict round trips both ways."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr

STEPS = 40

SCHEDULES = [
    ("StepLR", dict(step_size=7)),
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 30], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=15, eta_min=1e-3)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.5, total_iters=20)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=25)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=STEPS)),
    ("OneCycleLR", dict(max_lr=[0.5, 2.0], epochs=4, steps_per_epoch=10, pct_start=0.25,
                        anneal_strategy="linear")),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=STEPS + 5, three_phase=True,
                        base_momentum=[0.8, 0.7], max_momentum=0.9, div_factor=10.0,
                        final_div_factor=100.0)),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=STEPS, cycle_momentum=False)),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SCHEDULES)]


def optimizers(kind="SGD"):
    """The same two-group optimizer in both frameworks (no gradients: steps change nothing)."""
    def groups(lib):
        a = lib.nn.Parameter(lib.zeros(2))
        b = lib.nn.Parameter(lib.zeros(3))
        return [{"params": [a]}, {"params": [b], "lr": 0.5}]

    if kind == "SGD":
        return (torch.optim.SGD(groups(torch), lr=0.1, momentum=0.9),
                cr.optim.SGD(groups(cr), lr=0.1, momentum=0.9))
    return (torch.optim.Adam(groups(torch), lr=0.1), cr.optim.Adam(groups(cr), lr=0.1))


def snapshot(opt):
    """What a schedule changes: every group's lr and momentum (or beta1)."""
    return [(g["lr"], g.get("momentum", g.get("betas", (None,))[0])) for g in opt.param_groups]


def assert_same_schedule(t_state, c_state):
    assert len(t_state) == len(c_state)
    for (tl, tm), (cl, cm) in zip(t_state, c_state):
        assert cl == pytest.approx(tl, rel=1e-12, abs=1e-15)
        assert cm == pytest.approx(tm, rel=1e-12, abs=1e-15)


def run(topt, copt, tsched, csched, steps, metrics=None):
    for i in range(steps):
        topt.step()
        copt.step()
        if metrics is None:
            tsched.step()
            csched.step()
        else:
            tsched.step(metrics[i])
            csched.step(metrics[i])
        assert_same_schedule(snapshot(topt), snapshot(copt))
        np.testing.assert_allclose(csched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)


@pytest.mark.parametrize("kind", ["SGD", "Adam"])
@pytest.mark.parametrize(("name", "kwargs"), SCHEDULES, ids=IDS)
def test_schedule_matches_torch(name, kwargs, kind):
    topt, copt = optimizers(kind)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    csched = getattr(cr.optim.lr_scheduler, name)(copt, **kwargs)
    assert_same_schedule(snapshot(topt), snapshot(copt))
    assert csched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
    run(topt, copt, tsched, csched, STEPS if name != "OneCycleLR" else kwargs.get(
        "total_steps", STEPS))
    assert csched.last_epoch == tsched.last_epoch
    assert copt.param_groups[0]["initial_lr"] == pytest.approx(
        topt.param_groups[0]["initial_lr"], rel=1e-15)


@pytest.mark.parametrize(("name", "kwargs"), SCHEDULES, ids=IDS)
def test_state_dict_round_trip_and_torch_state_continue(name, kwargs):
    total = kwargs.get("total_steps", STEPS)
    topt, copt = optimizers()
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    csched = getattr(cr.optim.lr_scheduler, name)(copt, **kwargs)
    run(topt, copt, tsched, csched, 12)
    assert sorted(csched.state_dict()) == sorted(tsched.state_dict())

    saved = [copy.deepcopy(csched.state_dict()), copy.deepcopy(tsched.state_dict())]
    opt_state = copy.deepcopy(copt.state_dict())
    expected = []
    for _ in range(total - 12):
        topt.step()
        tsched.step()
        expected.append((snapshot(topt), list(tsched.get_last_lr())))

    # resume in chainrule from chainrule's saved state, and from torch's
    for source in saved:
        _, fresh_opt = optimizers()
        fresh = getattr(cr.optim.lr_scheduler, name)(fresh_opt, **kwargs)
        fresh_opt.load_state_dict(opt_state)
        fresh.load_state_dict(source)
        assert fresh.get_last_lr() == pytest.approx(csched.get_last_lr(), rel=1e-15)
        for t_snapshot, t_last in expected:
            fresh_opt.step()
            fresh.step()
            assert_same_schedule(t_snapshot, snapshot(fresh_opt))
            np.testing.assert_allclose(fresh.get_last_lr(), t_last, rtol=1e-12)


def test_cosine_annealing_goes_past_t_max_like_torch():
    topt, copt = optimizers()
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=4, eta_min=0.01)
    csched = cr.optim.lr_scheduler.CosineAnnealingLR(copt, T_max=4, eta_min=0.01)
    run(topt, copt, tsched, csched, 30)  # several rises and falls, through lr == eta_min
    lrs = [csched.get_last_lr()[0]]
    assert min(lrs) >= 0.01 - 1e-12


def test_schedules_compose_like_torch():
    """Chainable schedules update the current lr, so two of them multiply, as in torch."""
    topt, copt = optimizers()
    t1 = torch.optim.lr_scheduler.ExponentialLR(topt, gamma=0.9)
    t2 = torch.optim.lr_scheduler.StepLR(topt, step_size=4, gamma=0.5)
    c1 = cr.optim.lr_scheduler.ExponentialLR(copt, gamma=0.9)
    c2 = cr.optim.lr_scheduler.StepLR(copt, step_size=4, gamma=0.5)
    for _ in range(STEPS):
        topt.step()
        copt.step()
        for t, c in ((t1, c1), (t2, c2)):
            t.step()
            c.step()
        assert_same_schedule(snapshot(topt), snapshot(copt))


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(mode="max", factor=0.5, patience=2, threshold=0.05, threshold_mode="abs"),
    dict(factor=0.5, patience=1, cooldown=2, min_lr=[0.02, 0.1]),
    dict(factor=0.2, patience=0, threshold=0.1, min_lr=0.001, eps=1e-3),
])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    rng = np.random.default_rng(0)
    metrics = list(np.concatenate([np.linspace(1.0, 0.5, 8), 0.5 + 0.05 * rng.random(32),
                                   np.linspace(0.5, 0.9, 10)]))
    metrics[20] = torch.tensor(0.1)  # a 0-dim tensor works too (both sides)
    topt, copt = optimizers()
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    csched = cr.optim.lr_scheduler.ReduceLROnPlateau(copt, **kwargs)
    c_metrics = [cr.tensor(0.1) if i == 20 else m for i, m in enumerate(metrics)]
    for i in range(len(metrics)):
        tsched.step(metrics[i])
        csched.step(c_metrics[i])
        assert_same_schedule(snapshot(topt), snapshot(copt))
        assert (csched.num_bad_epochs, csched.cooldown_counter) == \
            (tsched.num_bad_epochs, tsched.cooldown_counter)
    assert csched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
    assert csched.get_last_lr() != [0.1, 0.5]  # the schedule did reduce
    state = csched.state_dict()
    assert sorted(state) == sorted(tsched.state_dict())
    _, fresh_opt = optimizers()
    fresh = cr.optim.lr_scheduler.ReduceLROnPlateau(fresh_opt)
    fresh.load_state_dict(copy.deepcopy(tsched.state_dict()))
    assert (fresh.best, fresh.mode, fresh.patience) == (tsched.best, tsched.mode, tsched.patience)


def test_closed_form_with_epoch_matches_torch():
    topt, copt = optimizers()
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=3, gamma=0.5)
    csched = cr.optim.lr_scheduler.StepLR(copt, step_size=3, gamma=0.5)
    topt.step()
    copt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tsched.step(10)
    with pytest.warns(UserWarning, match="epoch parameter"):
        csched.step(10)
    assert csched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)


def test_warns_when_stepped_before_the_optimizer():
    _, copt = optimizers()
    sched = cr.optim.lr_scheduler.ExponentialLR(copt, gamma=0.5)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        copt.step()
        sched.step()


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda o: cr.optim.lr_scheduler.StepLR(object(), 3), TypeError, "is not an Optimizer"),
    (lambda o: cr.optim.lr_scheduler.LinearLR(o, start_factor=0.0), ValueError,
     "Starting multiplicative factor"),
    (lambda o: cr.optim.lr_scheduler.LinearLR(o, end_factor=1.5), ValueError,
     "Ending multiplicative factor"),
    (lambda o: cr.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0), ValueError,
     "total_steps OR"),
    (lambda o: cr.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError,
     "positive integer total_steps"),
    (lambda o: cr.optim.lr_scheduler.OneCycleLR(o, max_lr=[1.0], total_steps=5), ValueError,
     "max_lr must have the same length as optimizer.param_groups"),
    (lambda o: cr.optim.lr_scheduler.OneCycleLR(o, 1.0, 10, pct_start=1.5), ValueError,
     "pct_start"),
    (lambda o: cr.optim.lr_scheduler.OneCycleLR(o, 1.0, 10, anneal_strategy="exp"),
     ValueError, "anneal_strategy"),
    (lambda o: cr.optim.lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError,
     "Factor should be < 1.0"),
    (lambda o: cr.optim.lr_scheduler.ReduceLROnPlateau(o, mode="up"), ValueError, "unknown"),
    (lambda o: cr.optim.lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError,
     "expected 2 min_lrs, got 1"),
    (lambda o: cr.optim.lr_scheduler.StepLR(o, 3, last_epoch=4), KeyError, "initial_lr"),
])
def test_bad_arguments_raise(make, error, match):
    _, copt = optimizers()
    with pytest.raises(error, match=match):
        make(copt)


def test_one_cycle_needs_momentum_and_stops_at_total_steps():
    p = cr.nn.Parameter(cr.zeros(1))
    with pytest.raises(ValueError, match="momentum or beta1"):
        cr.optim.lr_scheduler.OneCycleLR(cr.optim.Adagrad([p]), max_lr=1.0, total_steps=5)
    opt = cr.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = cr.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(2):
        opt.step()
        sched.step()
    assert math.isclose(opt.param_groups[0]["lr"], 1.0 / 25 / 1e4)  # the end of the cycle
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)
    sched.step()  # PyTorch allows one step past the end
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        sched.step()


def test_get_lr_outside_step_warns_like_torch():
    _, copt = optimizers()
    sched = cr.optim.lr_scheduler.StepLR(copt, step_size=2)
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()
