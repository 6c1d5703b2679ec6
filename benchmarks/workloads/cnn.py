"""Convolutional networks (issue 3's CNN workloads): training steps and inference.

A training step is forward + cross-entropy + backward (the optimizer update is timed in
optim.py). Both frameworks get the same weights (PyTorch's initialisation, copied through
``load_state_dict``) and the same data.

- ``lenet5``: LeNet-5 on 1x28x28, batch 64: conv6 5x5 pad 2 - relu - maxpool 2 - conv16 5x5 -
  relu - maxpool 2 - fc120 - relu - fc84 - relu - fc10.
- ``cnn_cifar``: 3x32x32, batch 64: conv32 - conv32 - maxpool - conv64 - conv64 - maxpool -
  fc256 - fc10, 3x3 kernels with padding 1, relu after every conv and fc but the last.
"""

from __future__ import annotations

import numpy as np
from harness import Workload, framework, register

BATCH = 64


def lenet5(nn):
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def cnn_cifar(nn):
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 8 * 8, 256), nn.ReLU(),
        nn.Linear(256, 10),
    )


MODELS = {"lenet5": (lenet5, (1, 28, 28)), "cnn_cifar": (cnn_cifar, (3, 32, 32))}


def _problem(model: str, seed: int = 0):
    """The same data and weights for both sides: (x, y, state_dict as NumPy arrays)."""
    import torch

    build, shape = MODELS[model]
    torch.manual_seed(seed)
    weights = {k: v.numpy().copy() for k, v in build(torch.nn).state_dict().items()}
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, *shape)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    return x, y, weights


def problem(lib, model: str):
    """The network in ``lib`` (chainrule or torch) with the shared weights, and its batch."""
    x, y, weights = _problem(model)
    net = MODELS[model][0](lib.nn)
    net.load_state_dict({k: lib.from_numpy(v) for k, v in weights.items()})
    return net, lib.from_numpy(x), lib.from_numpy(y)


def _setup(lib_name: str, model: str, train: bool):
    def setup():
        lib = framework(lib_name)
        net, xt, yt = problem(lib, model)
        F = lib.nn.functional
        if not train:
            def infer():
                with lib.no_grad():
                    net(xt)
            return infer

        def step():
            net.zero_grad()
            F.cross_entropy(net(xt), yt).backward()

        return step

    return setup


for _model in MODELS:
    register(Workload(
        name=f"{_model}_b{BATCH}_step",
        chainrule=_setup("chainrule", _model, True),
        torch=_setup("torch", _model, True),
        bar=1.5,
        description=f"{_model}: forward + cross_entropy + backward",
    ))

register(Workload(
    name=f"lenet5_b{BATCH}_inference",
    chainrule=_setup("chainrule", "lenet5", False),
    torch=_setup("torch", "lenet5", False),
    bar=1.5,
    description="no_grad forward of LeNet-5",
))
