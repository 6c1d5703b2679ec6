"""Finite-difference checks of gradient rules, in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from chainrule.tensor import Tensor


def _outputs(fn: Callable, inputs: Sequence) -> list[Tensor]:
    out = fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def numerical_jacobian(fn: Callable, inputs: Sequence, eps: float = 1e-6) -> list[np.ndarray]:
    """d(all outputs, flattened) / d(each input needing grad), by central differences."""
    jac = []
    for t in inputs:
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        x = t._data
        n_out = sum(o._data.size for o in _outputs(fn, inputs))
        j = np.zeros((n_out, x.size))
        flat = x.reshape(-1)  # a view: perturb in place
        for k in range(x.size):
            orig = flat[k]
            flat[k] = orig + eps
            hi = np.concatenate([o._data.ravel() for o in _outputs(fn, inputs)] or [np.zeros(0)])
            flat[k] = orig - eps
            lo = np.concatenate([o._data.ravel() for o in _outputs(fn, inputs)] or [np.zeros(0)])
            flat[k] = orig
            j[:, k] = (hi - lo) / (2 * eps)
        jac.append(j)
    return jac


def analytical_jacobian(fn: Callable, inputs: Sequence) -> list[np.ndarray]:
    """The same Jacobians from backward: one backward pass per output element."""
    from chainrule.autograd.engine import run_backward

    wrt = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    outs = _outputs(fn, inputs)
    n_out = sum(o._data.size for o in outs)
    jac = [np.zeros((n_out, t._data.size)) for t in wrt]
    row = 0
    for o in outs:
        for k in range(o._data.size):
            if o.requires_grad:
                g = np.zeros(o._data.shape, o._data.dtype)
                g.reshape(-1)[k] = 1
                grads = run_backward([o], [g], True, wrt)
                for j, gi in zip(jac, grads):
                    if gi is not None:
                        j[row] = np.asarray(gi).reshape(-1)
            row += 1
    return jac


def gradcheck(fn: Callable, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """Compare backward's Jacobian with central finite differences.

    Inputs that require grad should be float64. On a mismatch the error shows both Jacobians.

    >>> import chainrule
    >>> x = chainrule.randn(3, dtype=chainrule.float64, requires_grad=True)
    >>> chainrule.autograd.gradcheck(lambda t: (t * t).sum(), (x,))
    True
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for t in inputs:
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != np.float64:
            raise ValueError(f"gradcheck: inputs that require grad must be float64 for finite "
                             f"differences to be meaningful, got {t.dtype} of shape {t.shape}")
    num = numerical_jacobian(fn, inputs, eps)
    ana = analytical_jacobian(fn, inputs)
    wrt = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    for i, (n, a) in enumerate(zip(num, ana)):
        if not np.allclose(a, n, atol=atol, rtol=rtol):
            if not raise_exception:
                return False
            bad = np.argwhere(~np.isclose(a, n, atol=atol, rtol=rtol))
            with np.printoptions(precision=6, suppress=True, linewidth=120, threshold=400):
                raise GradcheckError(
                    f"gradcheck: Jacobian mismatch for input {i} (shape {wrt[i].shape}) at "
                    f"(output, input) positions {bad[:8].tolist()}\n"
                    f"numerical (finite differences):\n{n}\nanalytical (backward):\n{a}"
                )
    return True


class GradcheckError(RuntimeError):
    pass
