"""The compiled update kernels (chainrule.optim._kernels) against the NumPy update functions:
20-step trajectories over every option, both dtypes, param groups, gradients that come and go,
non-contiguous and empty parameters, and updates shared out between two threads."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import _threads
from chainrule.optim import _kernels

pytestmark = pytest.mark.usefixtures("fast_paths")

STEPS = 20


def _configs():
    sgd = [dict(momentum=m, dampening=d, nesterov=n, weight_decay=w, maximize=x)
           for m, d, n, w, x in itertools.product((0.0, 0.9), (0.0, 0.3), (False, True),
                                                  (0.0, 0.1), (False, True))
           if not n or (m > 0 and d == 0)]
    adam = [dict(amsgrad=a, weight_decay=w, maximize=x, decoupled_weight_decay=d)
            for a, w, x, d in itertools.product((False, True), (0.0, 0.1), (False, True),
                                                (False, True))]
    adamw = [dict(amsgrad=a, weight_decay=w, maximize=x, betas=(0.8, 0.95))
             for a, w, x in itertools.product((False, True), (0.0, 0.1), (False, True))]
    rmsprop = [dict(centered=c, momentum=m, weight_decay=w, maximize=x, alpha=0.9)
               for c, m, w, x in itertools.product((False, True), (0.0, 0.5), (0.0, 0.1),
                                                   (False, True))]
    adagrad = [dict(lr_decay=d, weight_decay=w, maximize=x, initial_accumulator_value=a)
               for d, w, x, a in itertools.product((0.0, 0.05), (0.0, 0.1), (False, True),
                                                   (0.0, 0.5))]
    return ([("SGD", dict(lr=0.05, **k)) for k in sgd]
            + [("Adam", dict(lr=0.01, **k)) for k in adam]
            + [("AdamW", dict(lr=0.01, **k)) for k in adamw]
            + [("RMSprop", dict(lr=0.005, **k)) for k in rmsprop]
            + [("Adagrad", dict(lr=0.1, **k)) for k in adagrad])


CONFIGS = _configs()
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items() if k != 'lr')}"
       for name, kw in CONFIGS]

# two larger parameters (above _PARALLEL_SIZE together, so shared out between two threads with
# a cut inside one of them), odd sizes, a scalar-like one and an empty one
SHAPES = [(60, 61), (3001,), (7, 3), (1,), (0, 4)]


@pytest.fixture(autouse=True)
def _small_parallel_size(monkeypatch):
    """Updates of a few thousand elements are shared out between threads (the bits must not
    depend on where the cut falls)."""
    monkeypatch.setattr(_kernels, "_PARALLEL_SIZE", 1 << 12)


def _trajectory(name, kwargs, dtype, shapes=SHAPES, steps=STEPS, skip=2, layout=None,
                split_groups=False):
    """``steps`` updates of fresh parameters by ``name``, with other gradients every step (the
    parameter ``skip`` has none on odd steps); the parameters and every state array."""
    rng = np.random.default_rng(0)
    params, grads = [], []
    for shape in shapes:
        value = rng.standard_normal(shape).astype(dtype)
        p = cr.nn.Parameter(cr.tensor(value))
        if layout is not None:
            p._data = layout(p._data)
        params.append(p)
        grads.append([rng.standard_normal(shape) for _ in range(3)])
    if split_groups:  # the second group takes other options
        groups = [{"params": params[::2]},
                  {"params": params[1::2], "lr": kwargs["lr"] * 0.5, "weight_decay": 0.05}]
        opt = getattr(cr.optim, name)(groups, **kwargs)
    else:
        opt = getattr(cr.optim, name)(params, **kwargs)
    for step in range(steps):
        for k, p in enumerate(params):
            if k == skip and step % 2:
                p.grad = None
            else:
                g = (grads[k][step % 3] * (1.0 + step)).astype(dtype)
                p.grad = cr.tensor(g if layout is None else layout(g))
        opt.step()
    out = []
    for p in params:
        out.append(p.numpy().copy())
        out += [value.numpy().copy() for value in opt.state[p].values()]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_compiled_trajectory_matches_the_reference(compiled_vs_reference, name, kwargs, dtype):
    fast, _ = compiled_vs_reference(lambda: _trajectory(name, kwargs, dtype))
    assert all(a.dtype == dtype for a in fast if a.ndim)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_param_groups_with_their_own_options(compiled_vs_reference, name):
    kwargs = dict(lr=0.01, weight_decay=0.01)
    if name in ("SGD", "RMSprop"):
        kwargs["momentum"] = 0.9
    compiled_vs_reference(lambda: _trajectory(name, kwargs, np.float32, split_groups=True))


@pytest.mark.parametrize("layout", [np.asfortranarray, lambda a: a.T.copy().T],
                         ids=["fortran", "transposed"])
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_non_contiguous_parameters_and_gradients(compiled_vs_reference, name, layout):
    """Non-contiguous arrays take the reference update; the results are the same."""
    kwargs = dict(lr=0.01, momentum=0.5) if name in ("SGD", "RMSprop") else dict(lr=0.01)
    shapes = [(40, 30), (30, 50), (5,)]
    compiled_vs_reference(lambda: _trajectory(name, kwargs, np.float64, shapes, layout=layout))


def test_a_non_contiguous_gradient_on_a_contiguous_parameter(compiled_vs_reference):
    def run():
        p = cr.nn.Parameter(cr.tensor(np.arange(12.0).reshape(3, 4)))
        opt = cr.optim.Adam([p], lr=0.1)
        for k in range(STEPS):
            p.grad = cr.tensor(np.full((4, 3), float(k)).T)  # a transposed view
            assert not p.grad._data.flags.c_contiguous
            opt.step()
        return p.numpy().copy(), opt.state[p]["exp_avg"].numpy().copy()

    compiled_vs_reference(run)


def test_a_read_only_gradient(compiled_vs_reference):
    def run():
        p = cr.nn.Parameter(cr.tensor(np.arange(6.0)))
        opt = cr.optim.RMSprop([p], lr=0.1, momentum=0.5)
        for k in range(STEPS):
            p.grad = cr.Tensor._wrap(np.broadcast_to(np.arange(6.0) - k, (6,)))
            assert not p.grad._data.flags.writeable
            opt.step()
        return p.numpy().copy()

    compiled_vs_reference(run)


def test_a_gradient_of_another_dtype_takes_the_reference(compiled_vs_reference):
    def run():
        p = cr.nn.Parameter(cr.tensor(np.ones(5, np.float32)))
        opt = cr.optim.SGD([p], lr=0.1, momentum=0.9)
        for _ in range(3):
            p.grad = cr.tensor(np.full(5, 0.5))  # float64
            opt.step()
        return p.numpy().copy()

    fast, _ = compiled_vs_reference(run)
    assert fast.dtype == np.float32


def test_a_parameter_listed_twice_is_updated_twice(compiled_vs_reference):
    def run():
        p = cr.nn.Parameter(cr.tensor(np.ones(300_000)))
        p.grad = cr.tensor(np.ones(300_000))
        with pytest.warns(UserWarning, match="more than once"):
            opt = cr.optim.SGD([p, p], lr=0.1)
        opt.step()
        return p.numpy().copy()

    fast, _ = compiled_vs_reference(run)
    np.testing.assert_allclose(fast, 0.8, rtol=1e-6)


@pytest.mark.parametrize("threads", [1, 2])
def test_large_updates_are_shared_out_between_two_threads(monkeypatch, threads):
    """A cut falls inside one parameter (at a cache line) and the halves run on two slots; the
    result has the same bits as one thread."""
    slots = []
    each = _threads._each

    def recording(n, work, parallel=True):
        def work_recorded(lo, hi, slot):
            slots.append(slot)
            work(lo, hi, slot)

        each(n, work_recorded, parallel)

    monkeypatch.setattr(_threads, "_each", recording)
    monkeypatch.setattr(_threads, "_THREADS", threads)
    shared = _trajectory("Adam", dict(lr=0.01, amsgrad=True), np.float32, steps=3)
    monkeypatch.setattr(_threads, "_THREADS", 1)
    alone = _trajectory("Adam", dict(lr=0.01, amsgrad=True), np.float32, steps=3)
    for a, b in zip(shared, alone):
        np.testing.assert_array_equal(a, b)
    if threads == 2 and _threads._OpenBLAS.found():
        assert sorted(set(slots)) == [0, 1]
    else:
        assert slots == []


@pytest.mark.parametrize("name, kwargs, two", [
    ("SGD", dict(lr=0.1, momentum=0.9), False), ("Adagrad", dict(lr=0.1), False),
    ("RMSprop", dict(lr=0.01), False), ("RMSprop", dict(lr=0.01, momentum=0.9), True),
    ("RMSprop", dict(lr=0.01, centered=True), True), ("Adam", dict(lr=0.01), True)])
def test_only_updates_that_move_more_than_three_arrays_take_two_threads(monkeypatch, name,
                                                                         kwargs, two):
    calls = []
    each = _threads._each
    monkeypatch.setattr(_threads, "_each", lambda *a, **k: (calls.append(a[0]), each(*a, **k)))
    monkeypatch.setattr(_threads, "_THREADS", 2)
    _trajectory(name, kwargs, np.float32, shapes=[(600, 500), (500,)], steps=2)
    assert bool(calls) == (two and _threads._OpenBLAS.found())


def test_the_halves_cover_every_element_once(monkeypatch):
    calls = []

    def kernel(param, grad, *scalars):
        calls.append((param.size, grad.size))
        param += grad

    monkeypatch.setattr(_threads, "_THREADS", 2)
    sizes = [5, 1003, 4000, 3]
    params = [np.zeros(n) for n in sizes]
    jobs = [(kernel, [p, np.ones(p.size)], ()) for p in params]
    _kernels.run(jobs)
    for p in params:
        np.testing.assert_array_equal(p, 1.0)
    if _threads._OpenBLAS.found():
        assert len(calls) == len(sizes) + 1  # one parameter cut in two
        assert all(n == m for n, m in calls)
