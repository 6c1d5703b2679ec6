"""Run the same computation in chainrule and in PyTorch; compare values, gradients, shapes, dtypes.

Used by every parity test (ops, layers, losses)::

    check_parity(lambda x: x.exp(), lambda x: x.exp(), [np.ones((2, 3), np.float32)])

The two callables get the inputs as tensors of their own framework; NumPy float arrays become
tensors that require grad unless ``requires_grad`` says otherwise (integer and bool arrays are
indices and masks and never do). Every output may be a tensor or a tuple of tensors (values and
indices, split pieces…). Gradients flow back from an upstream gradient per differentiable output
(random and seeded unless ``grad_outputs`` is given), through ``Tensor.backward`` when there is a
single differentiable output and through ``autograd.grad`` when there are several.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import chainrule as cr

# NOTE: (rtol, atol) per dtype. float32 parity is limited by float32 rounding, not by the rules.
TOLERANCES = {np.dtype(np.float32): (1e-5, 1e-5), np.dtype(np.float64): (1e-7, 1e-9)}


def _flat(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def to_numpy(t) -> np.ndarray:
    """A tensor of either framework (or an array) as a NumPy array."""
    if isinstance(t, cr.Tensor):
        return t.numpy()
    if hasattr(t, "detach"):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def assert_same(cr_value, torch_value, *, rtol: float, atol: float, what: str) -> None:
    """Shape, dtype and values of a chainrule tensor equal those of a torch tensor."""
    a, b = to_numpy(cr_value), to_numpy(torch_value)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != torch's {b.shape}"
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != torch's {b.dtype}"
    if a.dtype.kind in "biu":
        np.testing.assert_array_equal(a, b, err_msg=what)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def check_parity(
    cr_fn: Callable,
    torch_fn: Callable,
    inputs: Sequence[np.ndarray],
    requires_grad: Sequence[bool] | None = None,
    grad_outputs: Sequence[np.ndarray] | None = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
) -> tuple[list, list]:
    """Assert that ``cr_fn`` and ``torch_fn`` agree on ``inputs``; return both output lists.

    Args:
        cr_fn, torch_fn: the same computation, written for each framework.
        inputs: NumPy arrays, one per argument (each framework gets its own copy).
        requires_grad: which inputs require grad (default: the floating-point ones).
        grad_outputs: upstream gradient per differentiable output (default: seeded normal).
        rtol, atol: tolerances (default: by the dtype of the first float input).
        seed: seed of the default upstream gradients.
    """
    import torch

    inputs = [np.asarray(a) for a in inputs]
    if requires_grad is None:
        requires_grad = [a.dtype.kind == "f" for a in inputs]
    floats = [a.dtype for a in inputs if a.dtype.kind == "f"]
    d_rtol, d_atol = TOLERANCES[floats[0] if floats else np.dtype(np.float64)]
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol

    xs = [cr.tensor(a.copy(), requires_grad=bool(r)) for a, r in zip(inputs, requires_grad)]
    ts = [torch.from_numpy(a.copy()).requires_grad_(bool(r)) for a, r in zip(inputs, requires_grad)]
    outs, touts = _flat(cr_fn(*xs)), _flat(torch_fn(*ts))
    assert len(outs) == len(touts), f"{len(outs)} outputs, torch gives {len(touts)}"
    for k, (o, t) in enumerate(zip(outs, touts)):
        assert isinstance(o, cr.Tensor), f"output {k} is a {type(o).__name__}, not a Tensor"
        assert_same(o, t, rtol=rtol, atol=atol, what=f"output {k}")
        assert o.requires_grad == t.requires_grad, (
            f"output {k}: requires_grad {o.requires_grad} != torch's {t.requires_grad}"
        )

    diff = [k for k, t in enumerate(touts) if t.requires_grad]
    wrt = [k for k, r in enumerate(requires_grad) if r]
    if not diff or not wrt:
        return outs, touts
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [
            rng.standard_normal(touts[k].shape).astype(to_numpy(touts[k]).dtype) for k in diff
        ]
    if len(diff) == 1:
        outs[diff[0]].backward(cr.tensor(grad_outputs[0].copy()))
        touts[diff[0]].backward(torch.from_numpy(grad_outputs[0].copy()))
        grads = [xs[k].grad for k in wrt]
        tgrads = [ts[k].grad for k in wrt]
    else:
        grads = cr.autograd.grad(
            [outs[k] for k in diff],
            [xs[k] for k in wrt],
            [cr.tensor(g.copy()) for g in grad_outputs],
            allow_unused=True,
        )
        tgrads = torch.autograd.grad(
            [touts[k] for k in diff],
            [ts[k] for k in wrt],
            [torch.from_numpy(g.copy()) for g in grad_outputs],
            allow_unused=True,
        )
    for k, g, tg in zip(wrt, grads, tgrads):
        if g is None and tg is None:  # an input the outputs do not depend on
            continue
        # NOTE: None (no path to the input) and an all-zero gradient mean the same here.
        g = np.zeros_like(inputs[k]) if g is None else g
        tg = torch.zeros_like(ts[k]) if tg is None else tg
        assert g.shape == inputs[k].shape, f"input {k}: grad shape {g.shape} != {inputs[k].shape}"
        assert_same(g, tg, rtol=rtol, atol=atol, what=f"gradient of input {k}")
    return outs, touts
