"""A Keras-style model summary: each layer's name, type, output shape and parameter count."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import no_grad
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


def _shape_of(out: Any) -> str:
    if isinstance(out, Tensor):
        return str(list(out.shape))
    if isinstance(out, (tuple, list)):
        return ", ".join(_shape_of(o) for o in out if isinstance(o, (Tensor, tuple, list)))
    return "-"


class ModelSummary:
    """The rows of a summary and its totals; ``str()`` gives the printed table."""

    def __init__(self, name: str, rows: list[dict], total: int, trainable: int,
                 buffers: int, input_shape: tuple) -> None:
        self.name, self.rows, self.input_shape = name, rows, input_shape
        self.total_params, self.trainable_params = total, trainable
        self.non_trainable_params = total - trainable
        self.buffer_elements = buffers

    def __str__(self) -> str:
        heads = ("Layer (type)", "Output Shape", "Param #")
        cells = [(("  " * r["depth"]) + f"{r['name']} ({r['type']})", r["output_shape"],
                  f"{r['params']:,}") for r in self.rows]
        w = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(heads)]
        line = "=" * (sum(w) + 4)
        out = [f"{self.name} — input {list(self.input_shape)}", line,
               f"{heads[0]:<{w[0]}}  {heads[1]:<{w[1]}}  {heads[2]:>{w[2]}}", line]
        out += [f"{a:<{w[0]}}  {b:<{w[1]}}  {c:>{w[2]}}" for a, b, c in cells]
        out += [line, f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {self.non_trainable_params:,}", line]
        return "\n".join(out)

    __repr__ = __str__


def summary(model: Module, input_size: tuple | list | None = None, *,
            input_data: Any = None, dtype: Any = None) -> ModelSummary:
    """Run one forward pass (no_grad, eval mode, state restored) and tabulate every layer.

    ``input_size`` includes the batch dimension, e.g. ``(1, 1, 28, 28)``; or pass
    ``input_data`` (a tensor or a tuple of tensors) directly.

    >>> from chainrule import nn
    >>> s = nn.summary(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), (1, 4))
    >>> s.total_params
    58
    >>> print(str(s).splitlines()[4])
    0 (Linear)             [1, 8]             40
    """
    if input_data is None:
        if input_size is None:
            raise ValueError("summary: pass input_size (with the batch dim) or input_data")
        dt = np.dtype(dtype) if dtype is not None else next(
            (p.dtype for p in model.parameters()), np.dtype(np.float32))
        input_data = Tensor._wrap(np.zeros(tuple(input_size), dt))
    args = input_data if isinstance(input_data, tuple) else (input_data,)
    rows: list[dict] = []
    handles = []
    names = {id(m): n for n, m in model.named_modules()}

    def pre(mod: Module, _args: Any) -> None:
        name = names.get(id(mod), "")
        rows.append({"name": name, "type": type(mod).__name__, "depth": name.count("."),
                     "output_shape": "-",
                     "params": sum(p.numel() for p in mod.parameters())})
        mod.__dict__["_summary_row"] = rows[-1]

    def post(mod: Module, _args: Any, out: Any) -> None:
        mod.__dict__.pop("_summary_row")["output_shape"] = _shape_of(out)

    for n, m in model.named_modules():
        if n:
            handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    modes = {id(m): m.training for m in model.modules()}
    try:
        model.eval()
        with no_grad():
            out = model(*args)
    finally:
        for h in handles:
            h.remove()
        for m in model.modules():
            m.__dict__["training"] = modes[id(m)]
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    rows.append({"name": "(output)", "type": type(model).__name__, "depth": 0,
                 "output_shape": _shape_of(out), "params": total})
    return ModelSummary(type(model).__name__, rows, total, trainable,
                        sum(b.numel() for b in model.buffers()), args[0].shape)
