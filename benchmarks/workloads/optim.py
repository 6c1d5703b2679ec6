"""The optimizer update alone: ``opt.step()`` over the 784-512-256-10 MLP's parameters.

Gradients are set once (the same seeded arrays in both frameworks) and never cleared, so each
step times exactly one update of every parameter and its state: SGD with momentum, and Adam.
"""

from __future__ import annotations

import numpy as np
from harness import Workload, framework, register

_SIZES = (784, 512, 256, 10)


def _arrays() -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight or bias, its gradient) in PyTorch's parameter order and shapes, float32."""
    rng = np.random.default_rng(3)
    out = []
    for n_in, n_out in zip(_SIZES[:-1], _SIZES[1:]):
        for shape in ((n_out, n_in), (n_out,)):
            p = (rng.standard_normal(shape) * 0.05).astype(np.float32)
            g = (rng.standard_normal(shape) * 0.01).astype(np.float32)
            out.append((p, g))
    return out


def _setup(side: str, name: str, **options):
    def setup():
        lib = framework(side)
        params = []
        for p, g in _arrays():
            param = lib.nn.Parameter(lib.tensor(p))
            param.grad = lib.tensor(g)
            params.append(param)
        opt = getattr(lib.optim, name)(params, **options)
        opt.step()
        if side == "chainrule":
            for param in params:
                for t in [param, param.grad, *opt.state[param].values()]:
                    if t.ndim and str(t.dtype) != "float32":
                        raise AssertionError(f"optim_{name}: expected float32, got {t.dtype}")
        return opt.step

    return setup


register(Workload(
    name="optim_sgd_momentum",
    chainrule=_setup("chainrule", "SGD", lr=0.01, momentum=0.9),
    torch=_setup("torch", "SGD", lr=0.01, momentum=0.9),
    bar=1.0,
    description="SGD(lr=0.01, momentum=0.9).step() alone, 784-512-256-10 MLP params (536k)",
))

register(Workload(
    name="optim_adam",
    chainrule=_setup("chainrule", "Adam", lr=1e-3),
    torch=_setup("torch", "Adam", lr=1e-3),
    bar=1.0,
    description="Adam(lr=1e-3).step() alone, 784-512-256-10 MLP params (536k)",
))
