"""Feedforward training steps and inference with nn layers (issue 3's MLP workloads).

A training step is forward + cross-entropy + backward (the optimizer update is timed in
optim.py). A hand-written NumPy version of each step runs alongside as a reference: it is what
the framework's own overhead is measured against.

NOTE (measured on the 2-core AVX-512 machine, both CPUs to the process): NumPy's OpenBLAS
(SkylakeX kernels) runs these batch-128 GEMMs 25-35% slower than PyTorch's MKL, so the NumPy
reference itself is above the inference bar (1.35 ms vs PyTorch's 1.03 ms in one run). Neither
an explicit two-thread split of the batch or of the output features (OpenBLAS single-threaded)
nor single-threading the small last-layer GEMM beat OpenBLAS's own threading; the x @ W.T
orientation costs ~8% over a pre-transposed weight on one thread, the same in both frameworks'
layouts here.
"""

from __future__ import annotations

import numpy as np
from harness import Workload, framework, register


def _data(sizes: tuple[int, ...], batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(fan_in)
        weights.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                        rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    return x, y, weights


def _mlp(lib, sizes):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(lib.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(lib.ReLU())
    return lib.Sequential(*layers)


def _load(model, weights, as_tensor):
    linears = [m for m in model if type(m).__name__ == "Linear"]
    for lin, (w, b) in zip(linears, weights):
        lin.weight.data = as_tensor(w.copy())
        lin.bias.data = as_tensor(b.copy())


def problem(lib, sizes, batch):
    """The MLP in ``lib`` (chainrule or torch) with the seeded weights, and its batch."""
    x, y, weights = _data(sizes, batch)
    model = _mlp(lib.nn, sizes)
    with lib.no_grad():
        _load(model, weights, lib.from_numpy)
    return model, lib.from_numpy(x), lib.from_numpy(y)


def _step(side, sizes, batch, train=True):
    def setup():
        lib = framework(side)
        model, xt, yt = problem(lib, sizes, batch)
        if not train:
            def infer():
                with lib.no_grad():
                    model(xt)
            return infer

        cross_entropy = lib.nn.functional.cross_entropy

        def step():
            model.zero_grad()
            cross_entropy(model(xt), yt).backward()

        return step

    return setup


def _numpy_step(sizes, batch, train=True):
    """The same step written by hand in NumPy: the floor for a NumPy framework."""
    def setup():
        x, y, weights = _data(sizes, batch)
        onehot = np.eye(sizes[-1], dtype=np.float32)[y]

        def step():
            acts = [x]
            h = x
            for i, (w, b) in enumerate(weights):
                h = h @ w.T
                h += b
                if i < len(weights) - 1:
                    np.maximum(h, 0, out=h)
                acts.append(h)
            if not train:
                return
            z = h - h.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            g = (p - onehot) * (1.0 / batch)
            for i in range(len(weights) - 1, -1, -1):
                w, _ = weights[i]
                _gw, _gb = g.T @ acts[i], g.sum(axis=0)
                if i:
                    g = g @ w
                    g *= acts[i] > 0

        return step

    return setup


for _name, _sizes, _batch, _bar in [("mlp_784_512_256_10_b128", (784, 512, 256, 10), 128, 1.1),
                                    ("mlp_64_128_10_b32", (64, 128, 10), 32, 1.0)]:
    register(Workload(
        name=_name + "_step",
        chainrule=_step("chainrule", _sizes, _batch),
        torch=_step("torch", _sizes, _batch),
        references={"numpy": _numpy_step(_sizes, _batch)},
        bar=_bar,
        description="nn.Linear/ReLU MLP: forward + cross_entropy + backward",
    ))

register(Workload(
    name="mlp_784_512_256_10_b128_inference",
    chainrule=_step("chainrule", (784, 512, 256, 10), 128, train=False),
    torch=_step("torch", (784, 512, 256, 10), 128, train=False),
    references={"numpy": _numpy_step((784, 512, 256, 10), 128, train=False)},
    bar=1.0,
    description="no_grad forward of the MLP",
))
