"""Time to accuracy (issue 5): train until the test accuracy reaches a target, in chainrule and
in PyTorch with the same recipe.

Same recipe on both sides: the same architecture with the same initial weights (PyTorch's
initialisation from one seed, copied into chainrule), the same batches in the same order (one
NumPy permutation per epoch from one seed, used by both; no framework sampler), the same
optimizer and learning rate, and the loop ``zero_grad``, forward, ``cross_entropy``,
``backward``, ``step``. After each epoch the test accuracy is computed (eval mode, no grad) and
training stops at the target; a side that does not reach it within ``max_epochs`` makes the
workload FAIL.

Reported: the wall time of TRAINING only (evaluation after each epoch is excluded on both sides
and shown in the notes) and the epochs needed. Bar: chainrule at most 1.5x PyTorch's time.

- ``tta_digits_97pct``: a 64-128-10 MLP on the embedded digits (1437 train / 360 test images,
  the package's fixed split of seed 0), batch 32, Adam(lr=1e-3), to 97%. Takes seconds: the
  runs are repeated (alternating sides) and the median is reported.
- ``tta_fashion_mnist_90pct``: conv32-pool-conv64-pool-fc128-fc10 (3x3 kernels, padding 1) on
  Fashion-MNIST (60000 train, the official 10000 test images), batch 64, Adam(lr=1e-3), to 90%.
  One run per side, minutes each: marked slow (``run.py --quick`` skips it unless ``--only``
  names it). The IDX files are found as ``chainrule.data.datasets.FashionMNIST`` finds them:
  ``$CHAINRULE_DATA/fashion-mnist``, else ``../shared/data/fashion-mnist`` next to the checkout.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from harness import SIDES, Result, Workload, framework, register

EVAL_BATCH = 1000


@dataclass(frozen=True)
class Recipe:
    build: Callable  # build(nn) -> model
    data: Callable  # data() -> (x_train, y_train, x_test, y_test), float32 / int64 arrays
    batch: int
    lr: float  # of Adam, the optimizer of every recipe
    target: float
    max_epochs: int
    runs: int  # runs per side (the median is reported); quick: at most QUICK_RUNS
    seed: int = 0
    log_epochs: bool = False  # a line per epoch on stderr (for the runs that take minutes)


QUICK_RUNS = 2


def _accuracy(lib, model, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    correct = 0
    with lib.no_grad():
        for i in range(0, len(x), EVAL_BATCH):
            out = model(lib.from_numpy(x[i:i + EVAL_BATCH])).numpy()
            correct += int((out.argmax(axis=1) == y[i:i + EVAL_BATCH]).sum())
    model.train()
    return correct / len(x)


def train_to_target(side: str, recipe: Recipe, weights: dict, data: tuple) -> dict:
    """One run: train from ``weights`` until the test accuracy reaches the target."""
    lib = framework(side)
    x_train, y_train, x_test, y_test = data
    model = recipe.build(lib.nn)
    model.load_state_dict({k: lib.from_numpy(v.copy()) for k, v in weights.items()})
    opt = lib.optim.Adam(model.parameters(), lr=recipe.lr)
    cross_entropy = lib.nn.functional.cross_entropy
    order = np.random.default_rng(recipe.seed)
    train_s = eval_s = 0.0
    accuracy, epochs = 0.0, 0
    model.train()
    for epoch in range(recipe.max_epochs):
        perm = order.permutation(len(x_train))  # the same sequence of orders on both sides
        start = time.perf_counter()
        for i in range(0, len(perm), recipe.batch):
            idx = perm[i:i + recipe.batch]
            xb, yb = lib.from_numpy(x_train[idx]), lib.from_numpy(y_train[idx])
            opt.zero_grad()
            cross_entropy(model(xb), yb).backward()
            opt.step()
        train_s += time.perf_counter() - start
        start = time.perf_counter()
        accuracy, epochs = _accuracy(lib, model, x_test, y_test), epoch + 1
        eval_s += time.perf_counter() - start
        if recipe.log_epochs:
            print(f"  {side} epoch {epochs}: test accuracy {accuracy:.4f}, training "
                  f"{train_s:.1f} s so far", file=sys.stderr, flush=True)
        if accuracy >= recipe.target:
            break
    return {"train_s": train_s, "eval_s": eval_s, "epochs": epochs, "accuracy": accuracy,
            "reached": accuracy >= recipe.target}


def _initial_weights(recipe: Recipe) -> dict:
    import torch

    torch.manual_seed(recipe.seed)
    return {k: v.numpy().copy() for k, v in recipe.build(torch.nn).state_dict().items()}


def _protocol(recipe: Recipe):
    def protocol(workload: Workload, quick: bool) -> Result:
        data = recipe.data()
        weights = _initial_weights(recipe)
        runs = min(recipe.runs, QUICK_RUNS) if quick else recipe.runs
        load_start = os.getloadavg()[0]
        out: dict[str, list[dict]] = {side: [] for side in SIDES}
        for _ in range(runs):
            for side in SIDES:
                out[side].append(train_to_target(side, recipe, weights, data))
        load_end = os.getloadavg()[0]
        times = {side: [r["train_s"] for r in out[side]] for side in SIDES}
        names = {"chainrule": "chainrule", "torch": "PyTorch"}

        def per_side(key: str, fmt: str) -> str:
            return " / ".join(fmt.format(statistics.median(r[key] for r in out[side]))
                              for side in SIDES)

        notes = [f"epochs {per_side('epochs', '{:g}')}",
                 f"test acc {per_side('accuracy', '{:.4f}')}",
                 f"eval excluded ({per_side('eval_s', '{:.2f} s')})",
                 f"{runs} run(s), load {load_start:.1f}->{load_end:.1f}"]
        missed = [f"{names[side]} below {recipe.target:.0%} after {recipe.max_epochs} epochs"
                  for side in SIDES if not all(r["reached"] for r in out[side])]
        return Result(workload, times, failed="; ".join(missed) or None, notes=notes)

    return protocol


def _digits_mlp(nn):
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def _digits_data():
    from chainrule.data.datasets import Digits

    train, test = Digits(train=True, flatten=True), Digits(train=False, flatten=True)
    return (train.data.numpy(), train.targets.numpy(), test.data.numpy(), test.targets.numpy())


def _fashion_cnn(nn):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def _fashion_data():
    from chainrule.data.datasets import FashionMNIST

    def arrays(train: bool):
        ds = FashionMNIST(train=train)
        # NOTE: pixels scaled to [0, 1] in float32, as torchvision's ToTensor gives them.
        x = (ds.data.numpy()[:, None] / np.float32(255)).astype(np.float32)
        return x, ds.targets.numpy().astype(np.int64)

    return (*arrays(True), *arrays(False))


RECIPES = {
    "tta_digits_97pct": (
        Recipe(_digits_mlp, _digits_data, batch=32, lr=1e-3, target=0.97, max_epochs=100,
               runs=5),
        "64-128-10 MLP on the digits to 97% test accuracy, batch 32, Adam(1e-3); "
        "training wall time (eval excluded), median of 5 runs", False),
    "tta_fashion_mnist_90pct": (
        Recipe(_fashion_cnn, _fashion_data, batch=64, lr=1e-3, target=0.90, max_epochs=15,
               runs=1, log_epochs=True),
        "conv32-pool-conv64-pool-fc128-fc10 on Fashion-MNIST to 90% test accuracy (10k test "
        "set), batch 64, Adam(1e-3); training wall time (eval excluded), 1 run", True),
}

for _name, (_recipe, _description, _slow) in RECIPES.items():
    register(Workload(
        name=_name,
        chainrule=lambda: None,  # unused: the protocol runs both sides
        torch=lambda: None,
        protocol=_protocol(_recipe),
        bar=1.5,
        slow=_slow,
        description=_description,
    ))
