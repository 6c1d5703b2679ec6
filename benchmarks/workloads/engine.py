"""The autograd engine's costs: per-op overhead, one big GEMM, a raw-op MLP training step.

Each workload builds the same problem in both frameworks from the same NumPy data (copied, so
neither side's updates reach the other) and returns a step that does forward, backward and, where
there are weights, the update; gradients are reset with ``.grad = None`` in both.
"""

from __future__ import annotations

import numpy as np
from harness import Workload, framework, register


def _normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _check_float32(name: str, tensors) -> None:
    """A workload's setup runs one step and makes sure nothing was promoted to float64."""
    for t in tensors:
        for arr in (t, t.grad):
            if arr is not None and str(arr.dtype).split(".")[-1] != "float32":
                raise AssertionError(f"{name}: expected float32, got {arr.dtype}")


# --- small_graph_overhead: a handful of ops on 8 elements, so the time is all bookkeeping ---


def _small_graph_data() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [_normal(rng, 8) for _ in range(3)]


def _small_graph(side: str):
    def setup():
        lib = framework(side)
        x, w, c = (lib.tensor(a, requires_grad=True) for a in _small_graph_data())

        def step():
            x.grad = w.grad = c.grad = None
            a = x * w
            b = a + c
            d = b.tanh()
            e = (d * d).sum()
            e.backward()

        return step

    return setup


register(Workload(
    name="small_graph_overhead",
    chainrule=_small_graph("chainrule"),
    torch=_small_graph("torch"),
    bar=1.0,
    description="x*w+c, tanh, (d*d).sum() on 8 floats, fwd+bwd",
))


# --- matmul_1024: one float32 GEMM forward, two in backward ---


def _matmul_data() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [_normal(rng, 1024, 1024) for _ in range(2)]


def _matmul(side: str):
    def setup():
        lib = framework(side)
        a, b = (lib.tensor(m, requires_grad=True) for m in _matmul_data())

        def step():
            a.grad = b.grad = None
            (a @ b).sum().backward()

        if side == "chainrule":
            step()
            _check_float32("matmul_1024", [a, b])
        return step

    return setup


register(Workload(
    name="matmul_1024",
    chainrule=_matmul("chainrule"),
    torch=_matmul("torch"),
    bar=1.1,
    description="(a @ b).sum().backward(), 1024x1024 float32",
))


# --- mlp_raw_step: 784-512-256-10 MLP training step from raw tensor ops, batch 128 ---

_MLP_SIZES = (784, 512, 256, 10)
_MLP_BATCH = 128
_MLP_LR = 0.01


def _mlp_data() -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(2)
    x = _normal(rng, _MLP_BATCH, _MLP_SIZES[0])
    target = rng.integers(0, _MLP_SIZES[-1], size=(_MLP_BATCH, 1), dtype=np.int64)
    params = []
    for n_in, n_out in zip(_MLP_SIZES[:-1], _MLP_SIZES[1:]):
        params.append(_normal(rng, n_in, n_out, scale=(2.0 / n_in) ** 0.5))
        params.append(_normal(rng, n_out, scale=0.01))
    return x, target, params


def _mlp_step(lib, x, target, params):
    """The same code runs on both: ``lib`` is chainrule or torch."""
    w1, b1, w2, b2, w3, b3 = params

    def step():
        h = (x @ w1 + b1).relu()
        h = (h @ w2 + b2).relu()
        logp = (h @ w3 + b3).log_softmax(dim=1)
        loss = -logp.gather(1, target).mean()
        loss.backward()
        with lib.no_grad():
            for p in params:
                p -= _MLP_LR * p.grad
                p.grad = None

    return step


def _mlp_chainrule():
    import chainrule

    x, target, params = _mlp_data()
    params = [chainrule.tensor(p, requires_grad=True) for p in params]
    step = _mlp_step(chainrule, chainrule.tensor(x), chainrule.tensor(target), params)
    step()
    _check_float32("mlp_raw_step", params)
    return step


def _mlp_torch():
    import torch

    x, target, params = _mlp_data()
    params = [torch.tensor(p, requires_grad=True) for p in params]
    return _mlp_step(torch, torch.tensor(x), torch.tensor(target), params)


register(Workload(
    name="mlp_raw_step",
    chainrule=_mlp_chainrule,
    torch=_mlp_torch,
    bar=1.2,
    description="784-512-256-10, batch 128: matmul/relu/log_softmax/gather, SGD under no_grad",
))
