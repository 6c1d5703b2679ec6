"""The autograd engine's rules: accumulation, graph lifetime, grad mode, hooks, autograd.grad,
user-defined Functions, gradcheck, deep graphs, anomaly detection, in-place ops and errors.

The few comparisons with PyTorch import it where they need it, so the rest runs without it.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import Function, GradcheckError, gradcheck


def leaf(values, dtype=np.float64):
    return cr.tensor(np.asarray(values, dtype), requires_grad=True)


# --- accumulation ---


def test_a_leaf_used_twice_gets_the_sum_of_both_paths():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x + x  # x reaches the output three times
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 1)


def test_a_reused_intermediate_node_accumulates_before_its_backward_runs():
    x = leaf([0.5, -1.0])
    h = x.exp()
    y = (h * h + h.sin()).sum()
    y.backward()
    e = np.exp(x.numpy())
    np.testing.assert_allclose(x.grad.numpy(), (2 * e + np.cos(e)) * e)


def test_gradients_accumulate_across_backward_calls_until_zeroed():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])
    x.grad.zero_()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3, 3])
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 2])


def test_broadcast_gradients_are_summed_back_to_the_leaf_shape():
    b = leaf([[1.0], [2.0]])  # (2, 1)
    x = leaf(np.ones((3, 2, 4)))
    (x * b).sum().backward()
    assert b.grad.shape == (2, 1)
    np.testing.assert_allclose(b.grad.numpy(), [[12.0], [12.0]])
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to([[1.0], [2.0]], (3, 2, 4)))


def test_two_leaves_never_share_grad_memory():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + y).sum().backward()
    assert x.grad is not y.grad
    assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
    x.grad.numpy()[0] = 100.0
    assert y.grad.tolist() == [1.0, 1.0]
    x.grad.add_(1.0)
    assert y.grad.tolist() == [1.0, 1.0]


def test_grad_never_aliases_the_gradient_argument():
    x = leaf([1.0, 2.0])
    g = cr.tensor(np.array([1.0, 1.0]))
    (x * 1).backward(g)
    assert not np.shares_memory(x.grad.numpy(), g.numpy())
    x.grad.numpy()[0] = 5.0
    assert g.tolist() == [1.0, 1.0]


# --- graph lifetime and non-leaves ---


def test_non_leaf_grad_is_none_unless_retained():
    x = leaf([1.0, 2.0])
    h = x * 2
    k = x * 3
    k.retain_grad()
    (h * k).sum().backward()
    assert h.grad is None and not h.is_leaf
    np.testing.assert_allclose(k.grad.numpy(), h.numpy())
    assert x.is_leaf


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy())


def test_a_second_backward_without_retain_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_of_a_non_scalar_needs_a_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\(2,\)"):
        (x * 2).backward()


def test_the_gradient_argument_weights_the_outputs():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = x * x
    y.backward(gradient=cr.tensor(np.array([[1.0, 0.0], [0.5, 2.0]])))
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() * [[1.0, 0.0], [0.5, 2.0]])
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(2, 2\)"):
        (x * 1).backward(cr.ones(3, dtype=cr.float64))


def test_backward_of_a_tensor_outside_the_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.ones(2).sum().backward()


def test_backward_from_a_leaf():
    x = leaf([1.0, 2.0])
    x.backward(cr.tensor(np.array([3.0, 4.0])))
    assert x.grad.tolist() == [3.0, 4.0]


def test_backward_with_inputs_only_fills_those():
    x, y = leaf([1.0]), leaf([2.0])
    (x * y).sum().backward(inputs=[x])
    assert x.grad.tolist() == [2.0] and y.grad is None


def test_an_unused_output_of_a_multi_output_op_gets_no_gradient():
    x = leaf([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    values, indices = x.max(dim=1)
    (values * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 2, 0], [2, 0, 0]])
    assert indices.dtype == np.int64 and not indices.requires_grad


# --- grad mode ---


def test_no_grad_stops_recording_and_restores_the_mode():
    x = leaf([1.0])
    assert cr.is_grad_enabled()
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        y = x * 2
        with cr.enable_grad():
            assert cr.is_grad_enabled()
            z = x * 2
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ValueError), cr.no_grad():
        raise ValueError
    assert cr.is_grad_enabled()


def test_grad_modes_as_decorators():
    x = leaf([1.0])

    @cr.no_grad()
    def f():
        return x * 2

    @cr.no_grad
    def g():
        return x * 2

    @cr.enable_grad()
    def h():
        return x * 2

    @cr.set_grad_enabled(False)
    def k():
        return x * 2

    assert cr.is_grad_enabled()  # decorating changes nothing
    assert not f().requires_grad and not g().requires_grad and not k().requires_grad
    with cr.no_grad():
        assert h().requires_grad
    assert f.__name__ == "f"


def test_set_grad_enabled_as_call_and_context_manager():
    x = leaf([1.0])
    try:
        cr.set_grad_enabled(False)
        assert not cr.is_grad_enabled() and not (x * 2).requires_grad
    finally:
        cr.set_grad_enabled(True)
    assert cr.is_grad_enabled()
    with cr.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert cr.is_grad_enabled()
    with cr.no_grad(), cr.set_grad_enabled(True):
        assert (x * 2).requires_grad


def _modes(lib):
    """(grad enabled, inference mode) at each step of nested grad and inference modes, and
    under the decorators, in ``lib`` (chainrule or torch)."""
    seen = []

    def note():
        seen.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))

    with lib.no_grad(), lib.inference_mode(False):
        note()
    with lib.inference_mode():
        note()
        with lib.inference_mode(False):
            note()
        with lib.enable_grad():
            note()
        note()
    note()
    lib.inference_mode(note)()  # bare decorator
    with lib.no_grad():
        lib.inference_mode(False)(note)()
        note()
    return seen


def test_inference_mode_sets_grad_and_inference_flags_as_pytorch():
    torch = pytest.importorskip("torch")
    assert _modes(cr) == _modes(torch)
    x = leaf([1.0])

    @cr.inference_mode()
    def f():
        return x * 2

    assert not f().requires_grad and f.__name__ == "f" and cr.is_grad_enabled()
    with cr.inference_mode():
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad and not cr.is_inference_mode_enabled()


def test_detach_shares_memory_and_cuts_the_graph():
    x = leaf([1.0, 2.0])
    h = x * 2
    d = h.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.numpy(), h.numpy())
    (h * d).sum().backward()  # d is a constant: d(h * d)/dx = 2 d
    np.testing.assert_allclose(x.grad.numpy(), 2 * d.numpy())


def test_requires_grad_():
    x = cr.tensor([1.0, 2.0])
    assert not x.requires_grad
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad
    with pytest.raises(RuntimeError, match="floating"):
        cr.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="detach"):
        (leaf([1.0]) * 2).requires_grad_(False)


# --- hooks ---


def test_hook_on_a_leaf_changes_what_accumulates():
    x = leaf([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = x.register_hook(lambda g: g * 10)
    (x * 3).sum().backward()
    np.testing.assert_allclose(seen[0], [3.0, 3.0])
    np.testing.assert_allclose(x.grad.numpy(), [30.0, 30.0])
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    assert len(seen) == 2


def test_hook_on_a_non_leaf_changes_the_gradient_flowing_on():
    x = leaf([1.0, 2.0])
    h = x * x
    handle = h.register_hook(lambda g: g * 0.5)
    (h * 4).sum().backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 0.5 * 4 * 2 * x.numpy())
    handle.remove()
    x.grad = None
    (h * 4).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * 2 * x.numpy())


def test_a_retained_grad_is_the_one_after_the_hooks():
    import torch

    x = leaf([1.0, 2.0])
    h = x * 2
    h.retain_grad()
    h.register_hook(lambda g: g * 3)
    h.sum().backward()
    assert h.grad.tolist() == [3.0, 3.0]
    assert x.grad.tolist() == [6.0, 6.0]
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    th = t * 2
    th.retain_grad()
    th.register_hook(lambda g: g * 3)
    th.sum().backward()
    assert th.grad.tolist() == h.grad.tolist() and t.grad.tolist() == x.grad.tolist()


def test_a_hook_on_a_reused_tensor_runs_once_on_the_summed_gradient():
    x = leaf([1.0, 2.0])
    h = x * 1
    calls = []
    h.register_hook(lambda g: calls.append(g.tolist()))
    (h * 2 + h * 3).sum().backward()
    assert calls == [[5.0, 5.0]]


def test_hook_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require gradient"):
        cr.ones(2).register_hook(lambda g: g)


# --- autograd.grad ---


def test_autograd_grad_returns_gradients_and_leaves_grad_untouched():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    z = x * y
    gx, gy = cr.autograd.grad(
        z, [x, y], grad_outputs=cr.tensor(np.array([1.0, 2.0])), retain_graph=True
    )
    np.testing.assert_allclose(gx.numpy(), [3.0, 8.0])
    np.testing.assert_allclose(gy.numpy(), [1.0, 4.0])
    assert x.grad is None and y.grad is None
    (gx2,) = cr.autograd.grad(z.sum(), x)  # the graph was retained
    np.testing.assert_allclose(gx2.numpy(), [3.0, 4.0])
    with pytest.raises(RuntimeError, match="retain_graph"):
        cr.autograd.grad(z.sum(), x)


def test_autograd_grad_of_a_non_leaf_and_of_several_outputs():
    x = leaf([1.0, 2.0])
    h = x * 3
    a, b = (h * h).sum(), h.sum()
    gh, gx = cr.autograd.grad([a, b], [h, x])
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy() + 1)
    np.testing.assert_allclose(gx.numpy(), 3 * (2 * h.numpy() + 1))


def test_autograd_grad_allow_unused():
    x, unused = leaf([1.0]), leaf([2.0])
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        cr.autograd.grad(y, [x, unused], retain_graph=True)
    gx, gu = cr.autograd.grad(y, [x, unused], allow_unused=True)
    assert gx.tolist() == [2.0] and gu is None


def test_create_graph_raises_not_implemented():
    x = leaf([1.0])
    y = (x * x).sum()
    with pytest.raises(NotImplementedError, match="first-order"):
        y.backward(create_graph=True)
    with pytest.raises(NotImplementedError, match="first-order"):
        cr.autograd.grad(y, x, create_graph=True)


# --- user-defined Functions and gradcheck ---


class MulAdd(Function):
    """a * b + c, with b's gradient skipped when nobody asks for it."""

    calls: list = []

    @staticmethod
    def forward(ctx, a, b, c):
        ctx.save_for_backward(a, b)
        return a * b + c

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        MulAdd.calls.append(ctx.needs_input_grad)
        ga = grad * b if ctx.needs_input_grad[0] else None
        gb = grad * a if ctx.needs_input_grad[1] else None
        return ga, gb, grad


def test_a_user_defined_function_with_several_inputs():
    a, b, c = leaf([1.0, 2.0]), cr.tensor(np.array([3.0, 4.0])), leaf([[0.5], [1.5]])
    MulAdd.calls.clear()
    y = MulAdd.apply(a, b, c)
    assert y.shape == (2, 2)
    assert y.grad_fn is not None and y.grad_fn.name() == "MulAddBackward"
    y.sum().backward()
    assert MulAdd.calls == [(True, False, True)]
    np.testing.assert_allclose(a.grad.numpy(), [6.0, 8.0])  # summed over the broadcast rows
    np.testing.assert_allclose(c.grad.numpy(), [[2.0], [2.0]])  # summed back to (2, 1)
    assert b.grad is None


def test_a_function_under_no_grad_records_nothing():
    a = leaf([1.0])
    with cr.no_grad():
        y = MulAdd.apply(a, a, a)
    assert y.grad_fn is None and not y.requires_grad


def test_gradcheck_passes_a_correct_function():
    a, b, c = (cr.randn(3, dtype=cr.float64, requires_grad=True) for _ in range(3))
    assert gradcheck(MulAdd.apply, (a, b, c))


class WrongSquare(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return x * x

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.x  # should be 2 x


def test_gradcheck_shows_both_jacobians_on_a_wrong_function():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        gradcheck(WrongSquare.apply, (x,))
    msg = str(info.value)
    assert "numerical" in msg and "analytical" in msg
    assert "4." in msg  # the numerical d(x^2)/dx at x = 2
    assert not gradcheck(WrongSquare.apply, (x,), raise_exception=False)


def test_gradcheck_asks_for_float64():
    with pytest.raises(ValueError, match="float64"):
        gradcheck(lambda t: t * 2, (cr.ones(2, requires_grad=True),))


def test_backward_returning_the_wrong_number_of_gradients_is_named():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, grad):
            return grad

    with pytest.raises(RuntimeError, match=r"BadBackward.*1 gradients, expected 2"):
        Bad.apply(leaf([1.0]), leaf([2.0])).sum().backward()


# --- deep graphs ---


@pytest.mark.parametrize("n", [10_000, 100_000])
def test_a_long_chain_backpropagates_without_recursion(n):
    x = leaf([1.0])
    y = x
    for _ in range(n):
        y = -y
    y.sum().backward()
    assert x.grad.tolist() == [(-1.0) ** n]


def test_a_deep_graph_with_branches():
    x = leaf([0.5])
    y = x
    for _ in range(5_000):
        y = y * 0.5 + y * 0.5  # two paths per level
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0])


# --- anomaly detection ---


def test_detect_anomaly_names_the_op():
    x = leaf([0.0, 1.0])
    with cr.autograd.detect_anomaly(), pytest.raises(RuntimeError, match="SqrtBackward"):
        x.sqrt().sum().backward()
    x.grad = None
    with np.errstate(divide="ignore"):
        x.sqrt().sum().backward()  # outside detect_anomaly an inf gradient passes silently
    assert np.isinf(x.grad.numpy()[0])


def test_detect_anomaly_shows_where_the_op_was_called():
    x = leaf([0.0])
    with cr.autograd.detect_anomaly(), pytest.raises(RuntimeError) as info:
        y = x.log()
        y.sum().backward()
    assert "LogBackward" in str(info.value)
    assert "test_engine.py" in str(info.value)  # the line of the forward call


# --- in place ---


def test_in_place_on_a_leaf_that_requires_grad_raises_under_grad_mode():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf.*in-place"):
        x.add_(1.0)
    with pytest.raises(RuntimeError, match="leaf.*in-place"):
        x += 1
    with pytest.raises(RuntimeError, match="leaf.*in-place"):
        x[0] = 5.0
    assert x.tolist() == [1.0, 2.0]


def test_in_place_on_a_leaf_works_under_no_grad():
    x = leaf([1.0, 2.0])
    with cr.no_grad():
        x.mul_(2).add_(1)
        x -= 0.5
        x[0] = 10.0
    assert x.tolist() == [10.0, 4.5]
    assert x.is_leaf and x.requires_grad
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [20.0, 9.0])


def test_in_place_on_a_leaf_keeps_its_identity_and_memory():
    a = np.array([1.0, 2.0])
    x = cr.from_numpy(a)
    x.add_(1.0)
    x.mul_(cr.tensor(np.array([2.0, 3.0])))
    x.clamp_(max=8.0)
    assert a.tolist() == [4.0, 8.0]  # from_numpy memory sees the in-place changes


def test_augmented_assignment_on_a_non_leaf_rebinds_it_to_the_new_node():
    import torch

    for m in (cr, torch):
        x = m.tensor([1.0, 2.0, 3.0], dtype=m.float64, requires_grad=True)
        y = x * 2
        same = y
        y += 1
        y *= x
        y.exp_()
        assert y is same
        y.sum().backward()
        if m is cr:
            got = x.grad.numpy().copy()
        else:
            np.testing.assert_allclose(got, x.grad.numpy())
    assert not np.allclose(got, 0)


def test_in_place_with_itself_as_the_operand():
    x = leaf([1.0, 2.0])
    y = x * 1
    y *= y  # y = x^2
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())


def test_setitem_on_a_non_leaf_gives_torchs_gradients():
    import torch

    def run(m, x, v, idx):
        y = x * 2
        y[1:, 0] = v * 3  # overwritten entries get no gradient from y's old values
        y[idx] = 0.5
        z = y.exp()
        return (z * z).sum()

    xa = np.random.default_rng(0).standard_normal((4, 3))
    va = np.array([1.0, -1.0, 0.5])
    xs, vs = leaf(xa), leaf(va)
    xt = torch.tensor(xa, requires_grad=True)
    vt = torch.tensor(va, requires_grad=True)
    run(cr, xs, vs, cr.tensor([0, 2])).backward()
    run(torch, xt, vt, torch.tensor([0, 2])).backward()
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(vs.grad.numpy(), vt.grad.numpy(), rtol=1e-12)


def test_setitem_into_a_plain_tensor_from_a_tensor_that_requires_grad():
    x = leaf([1.0, 2.0])
    buf = cr.zeros(3, dtype=cr.float64)
    buf[1:] = x * x
    assert buf.requires_grad and not buf.is_leaf
    buf.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())


# --- errors name the op and the shapes ---


@pytest.mark.parametrize(
    "bad, words",
    [
        (lambda: cr.ones(3, 4) @ cr.ones(5, 6), ["matmul", "(3, 4)", "(5, 6)"]),
        (lambda: cr.ones(3, 4).reshape(5, -1), ["reshape", "(5, -1)", "(3, 4)"]),
        (lambda: cr.ones(3, 4).view(7), ["(7,)", "(3, 4)"]),
        (lambda: cr.cat([cr.ones(3, 4), cr.ones(5, 6)]), ["cat", "(3, 4)", "(5, 6)"]),
        (lambda: cr.stack([cr.ones(3), cr.ones(4)]), ["stack", "(3,)", "(4,)"]),
        (lambda: cr.ones(3, 4) + cr.ones(5, 6), ["add", "(3, 4)", "(5, 6)"]),
        (lambda: cr.ones(3, 4) * cr.ones(4, 3), ["mul", "(3, 4)", "(4, 3)"]),
        (lambda: cr.ones(3, 4) < cr.ones(2), ["(3, 4)", "(2,)"]),
        (lambda: cr.ones(3, 4).expand(3, 5), ["expand", "(3, 4)", "(3, 5)"]),
        (lambda: cr.ones(3, 4).permute(0), ["permute", "(3, 4)"]),
        (lambda: cr.ones(3, 4).sum(2), ["sum", "2"]),
        (lambda: cr.ones(2, 3).mm(cr.ones(2, 3)), ["(2, 3)"]),
        (lambda: cr.ones(2, 3)[5], ["(2, 3)", "5"]),
        (lambda: cr.ones(2, 3).gather(1, cr.tensor([[-1]])), ["gather", "size 3"]),
    ],
)
def test_errors_name_the_op_and_the_shapes(bad, words):
    with pytest.raises((RuntimeError, ValueError, IndexError)) as info:
        bad()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {info.value}"


def test_shape_errors_are_runtime_errors_like_torchs():
    import torch

    for m in (cr, torch):
        with pytest.raises(RuntimeError):
            m.ones(3, 4) @ m.ones(5, 6)
        with pytest.raises(RuntimeError):
            m.ones(3, 4) + m.ones(5, 6)
        with pytest.raises(RuntimeError):
            m.ones(3, 4).reshape(5, -1)
