"""chainrule.nn.utils against torch.nn.utils: gradient clipping (returned norm and clipped
gradients, every norm type) and parameters <-> vector."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import chainrule as cr

SHAPES = [(5, 4), (4,), (3, 5), (3,)]


def grads(dtype, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(s) * scale).astype(dtype) for s in SHAPES]


def both(arrays, skip=()):
    """The same parameters with these gradients in both frameworks (``skip``: no grad)."""
    tps, cps = [], []
    for i, g in enumerate(arrays):
        tp = torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype))
        cp = cr.nn.Parameter(cr.zeros(*g.shape, dtype=g.dtype))
        if i not in skip:
            tp.grad, cp.grad = torch.tensor(g), cr.tensor(g.copy())
        tps.append(tp)
        cps.append(cp)
    return tps, cps


def assert_grads_equal(tps, cps, rtol):
    for tp, cp in zip(tps, cps):
        if tp.grad is None:
            assert cp.grad is None
            continue
        assert cp.grad.dtype == tp.grad.numpy().dtype
        np.testing.assert_allclose(cp.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, -math.inf, 0.0, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(dtype, norm_type, max_norm):
    tps, cps = both(grads(dtype), skip={1})
    t_total = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    c_total = cr.nn.utils.clip_grad_norm_(cps, max_norm, norm_type=norm_type)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert isinstance(c_total, cr.Tensor) and c_total.shape == ()
    assert c_total.dtype == t_total.numpy().dtype
    np.testing.assert_allclose(c_total.numpy(), t_total.numpy(), rtol=rtol)
    assert_grads_equal(tps, cps, rtol)


def test_clip_grad_norm_clips_to_max_norm_and_accepts_one_tensor():
    p = cr.nn.Parameter(cr.zeros(3))
    p.grad = cr.tensor([3.0, 0.0, 4.0])
    total = cr.nn.utils.clip_grad_norm_(p, 1.0)
    assert total.item() == pytest.approx(5.0)
    assert float(np.linalg.norm(p.grad.numpy())) == pytest.approx(1.0, rel=1e-5)
    small = cr.nn.Parameter(cr.zeros(2))
    small.grad = cr.tensor([0.1, 0.1])
    cr.nn.utils.clip_grad_norm_([small], 1.0)
    np.testing.assert_array_equal(small.grad.numpy(), np.float32([0.1, 0.1]))


def test_clip_grad_norm_without_grads_returns_zero():
    p = cr.nn.Parameter(cr.zeros(2))
    total = cr.nn.utils.clip_grad_norm_([p], 1.0)
    t_total = torch.nn.utils.clip_grad_norm_([torch.nn.Parameter(torch.zeros(2))], 1.0)
    assert total.item() == t_total.item() == 0.0


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nonfinite_norm(bad):
    arrays = grads(np.float32)
    arrays[0][0, 0] = bad
    tps, cps = both(arrays)
    with pytest.raises(RuntimeError, match="non-finite"):
        cr.nn.utils.clip_grad_norm_(cps, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(cps[1].grad.numpy(), arrays[1])  # untouched on error
    t_total = torch.nn.utils.clip_grad_norm_(tps, 1.0)
    c_total = cr.nn.utils.clip_grad_norm_(cps, 1.0)
    np.testing.assert_array_equal(c_total.numpy(), t_total.numpy())
    for tp, cp in zip(tps, cps):
        np.testing.assert_array_equal(cp.grad.numpy(), tp.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_value_matches_torch(dtype):
    tps, cps = both(grads(dtype, scale=2.0), skip={2})
    assert torch.nn.utils.clip_grad_value_(tps, 0.7) is None
    assert cr.nn.utils.clip_grad_value_(cps, 0.7) is None
    assert_grads_equal(tps, cps, rtol=0)
    assert max(np.abs(p.grad.numpy()).max() for p in cps if p.grad is not None) == \
        pytest.approx(0.7)


def test_get_total_norm_and_clip_grads_with_norm_match_torch():
    tps, cps = both(grads(np.float64))
    t_total = torch.nn.utils.get_total_norm([p.grad for p in tps], 3.0)
    c_total = cr.nn.utils.get_total_norm([p.grad for p in cps], 3.0)
    np.testing.assert_allclose(c_total.numpy(), t_total.numpy(), rtol=1e-12)
    torch.nn.utils.clip_grads_with_norm_(tps, 1.0, t_total)
    cr.nn.utils.clip_grads_with_norm_(cps, 1.0, c_total)
    assert_grads_equal(tps, cps, rtol=1e-12)


def test_parameters_to_vector_and_back_match_torch():
    torch.manual_seed(0)
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    cnet = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Linear(4, 2))
    cnet.load_state_dict(tnet.state_dict())
    tvec = torch.nn.utils.parameters_to_vector(tnet.parameters())
    cvec = cr.nn.utils.parameters_to_vector(cnet.parameters())
    assert cvec.shape == tuple(tvec.shape) and cvec.dtype == np.float32
    np.testing.assert_array_equal(cvec.numpy(), tvec.detach().numpy())
    # differentiable, as in PyTorch
    (cvec * cvec).sum().backward()
    np.testing.assert_allclose(cnet[0].weight.grad.numpy(), 2 * cnet[0].weight.numpy())

    new = np.arange(tvec.numel(), dtype=np.float32)
    torch.nn.utils.vector_to_parameters(torch.tensor(new), tnet.parameters())
    cr.nn.utils.vector_to_parameters(cr.tensor(new), cnet.parameters())
    for (name, tp), cp in zip(tnet.named_parameters(), cnet.parameters()):
        assert cp.shape == tuple(tp.shape), name
        np.testing.assert_array_equal(cp.numpy(), tp.detach().numpy())


def test_vector_to_parameters_errors():
    net = cr.nn.Linear(3, 2)
    with pytest.raises(TypeError, match="expected a Tensor"):
        cr.nn.utils.vector_to_parameters(np.zeros(8), net.parameters())
    with pytest.raises(ValueError, match=r"shape \(7,\) does not match the parameters, "
                                         r"expected shape \(8,\)"):
        cr.nn.utils.vector_to_parameters(cr.zeros(7), net.parameters())
