"""Reverse-mode differentiation: walk the graph from the outputs back to the leaves.

The walk is iterative (no recursion, so a chain of 100,000 ops is fine): count for every node
how many consumers will send it a gradient, then run nodes whose count reached zero. Each node's
rule gets the summed gradients of its outputs; the engine sums broadcast gradients back to each
input's shape (the one place broadcasting is undone) and accumulates into leaves' ``.grad``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import overload

import numpy as np

from chainrule.autograd import grad_mode
from chainrule.autograd.function import Function, _anomaly
from chainrule.tensor import Tensor

_SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or to reach saved values after they "
    "were freed). Saved intermediate values of the graph are freed when you call .backward() or "
    "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a "
    "second time."
)


def sum_leading(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` summed over its first ``n`` axes.

    NOTE: for a C-contiguous float array, as a product with a ones vector (BLAS's GEMV, which
    sums in blocks: more accurate than NumPy's row after row, and faster: (128, 512) float32
    12.1 -> 6.1 us, (2048, 128) 83 -> 30 us). A bias's gradient is such a sum.
    """
    if a.dtype.kind == "f" and a.size >= 4096 and a.flags.c_contiguous:
        rows = math.prod(a.shape[:n])
        return (np.ones(rows, a.dtype) @ a.reshape(rows, a.size // rows)).reshape(a.shape[n:])
    return np.add.reduce(a, axis=tuple(range(n)))


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, to get ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = sum_leading(grad, extra)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        grad = np.broadcast_to(grad, shape)
    return grad


class _Owned:
    """Makes sure no two ``.grad`` tensors share memory, and ``.grad`` is writable."""

    def __init__(self) -> None:
        self.ids: set[int] = set()

    def take(self, g: np.ndarray) -> np.ndarray:
        owner = g if g.base is None else g.base
        flags = g.flags
        if id(owner) in self.ids or not (flags.writeable and flags.c_contiguous):
            g = g.copy()
            owner = g
        self.ids.add(id(owner))
        return g


def _store_grad(t: Tensor, g: np.ndarray, owned: _Owned) -> None:
    if t.grad is None:
        t.grad = Tensor._wrap(owned.take(g))
    else:
        acc = t.grad._data
        if acc.shape != g.shape:
            raise RuntimeError(
                f"backward: gradient of shape {g.shape} cannot accumulate into existing .grad "
                f"of shape {acc.shape}"
            )
        if acc.flags.writeable:
            np.add(acc, g, out=acc)
        else:
            t.grad = Tensor._wrap(acc + g)


def _run_hooks(t: Tensor, g: np.ndarray) -> np.ndarray:
    for hook in t._hooks or ():
        r = hook(Tensor._wrap(g))
        if r is not None:
            g = r._data if isinstance(r, Tensor) else np.asarray(r)
    return g


def _check_finite(node: Function, grads: tuple) -> None:
    for i, g in enumerate(grads):
        if g is not None and not np.all(np.isfinite(g)):
            where = getattr(node, "_trace", "")
            raise RuntimeError(
                f"detect_anomaly: {node.name()} returned a non-finite gradient for input {i} "
                f"(shape {np.shape(g)}).\nThe forward call that created it:\n{where}"
            )


def _count_consumers(roots: Sequence[Tensor]) -> dict[Function, int]:
    """For every node reachable from the roots, how many edges will send it a gradient."""
    deps: dict[Function, int] = {}
    stack = []
    for r in roots:
        if r.grad_fn is not None and r.grad_fn not in deps:
            deps[r.grad_fn] = 0
            stack.append(r.grad_fn)
    while stack:
        node = stack.pop()
        if node._freed:
            raise RuntimeError(_SECOND_BACKWARD)
        for p, needed in zip(node._parents, node.needs_input_grad):
            if needed and p.requires_grad:
                fn = p.grad_fn
                if fn is not None:
                    if fn in deps:
                        deps[fn] += 1
                    else:
                        deps[fn] = 1
                        stack.append(fn)
    return deps


@overload
def run_backward(roots: Sequence[Tensor], root_grads: Sequence[np.ndarray], retain_graph: bool,
                 inputs: None = None) -> None: ...
@overload
def run_backward(roots: Sequence[Tensor], root_grads: Sequence[np.ndarray], retain_graph: bool,
                 inputs: Sequence[Tensor]) -> list[np.ndarray | None]: ...
def run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence[np.ndarray],
    retain_graph: bool,
    inputs: Sequence[Tensor] | None = None,
) -> list[np.ndarray | None] | None:
    """Backpropagate ``root_grads`` from ``roots``.

    Without ``inputs``: accumulate into leaves' ``.grad`` (and retained non-leaf grads).
    With ``inputs``: return their gradients and touch no ``.grad``.
    """
    want = None if inputs is None else {id(t): k for k, t in enumerate(inputs)}
    wanted: Sequence[Tensor] = () if inputs is None else inputs  # indexed only when want is set
    found: list[np.ndarray | None] = [None] * len(wanted)
    deps = _count_consumers(roots)

    buffers: dict[Function, list] = {}  # node -> summed gradient of each of its outputs
    leaves: dict[int, list] = {}  # id -> [tensor, summed grad, whether the engine made the sum]

    def send(t: Tensor, g: np.ndarray) -> None:
        fn = t.grad_fn
        if fn is None:
            entry = leaves.get(id(t))
            if entry is None:
                leaves[id(t)] = [t, g, False]
            elif entry[2]:
                np.add(entry[1], g, out=entry[1])  # NOTE: a sum made here, so ours to update
            else:
                entry[1] = entry[1] + g
                entry[2] = True
            return
        buf = buffers.get(fn)
        if buf is None:
            buf = buffers[fn] = [None] * fn._n_out
        i = t._out_index
        buf[i] = g if buf[i] is None else buf[i] + g

    for r, g in zip(roots, root_grads):
        if not r.requires_grad:
            raise RuntimeError(
                "backward: element of the outputs does not require grad and has no grad_fn "
                f"(a tensor of shape {r.shape} made outside the graph or under no_grad)"
            )
        send(r, g)

    owned = _Owned()
    for g in root_grads:  # the caller's arrays never become someone's .grad without a copy
        owned.ids.add(id(g if g.base is None else g.base))
    ready = [fn for fn, n in deps.items() if n == 0]
    enabled = grad_mode._state.enabled
    grad_mode._state.enabled = False
    try:
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None) or [None] * node._n_out
            if node._watched:
                for i, t in node._watched.items():
                    if grads[i] is not None:
                        grads[i] = _run_hooks(t, grads[i])
                        if t._retains_grad and inputs is None:
                            _store_grad(t, grads[i], owned)
            if want is not None:
                for i, g in enumerate(grads):
                    # non-leaf inputs are recognised by their node and output index
                    for k in want.values():
                        t = wanted[k]
                        if t.grad_fn is node and t._out_index == i:
                            found[k] = g
            parents, needs = node._parents, node.needs_input_grad
            if node._n_out == 1:
                out = None if grads[0] is None else node.backward(node, grads[0])
            else:
                meta = node._out_meta
                # set by apply() for every node with several outputs; the assert tells mypy so,
                # at ~2 ns (typing.cast would be a function call, ~20x that)
                assert meta is not None
                full = [
                    g if g is not None or meta[i][1].kind not in "fc"
                    else np.zeros(meta[i][0], meta[i][1])
                    for i, g in enumerate(grads)
                ]
                out = node.backward(node, *full)
            if out is None:
                out = (None,) * len(parents)
            elif type(out) is not tuple:
                out = (out,)
            if len(out) != len(parents):
                raise RuntimeError(
                    f"{node.name()}: backward returned {len(out)} gradients, expected "
                    f"{len(parents)} (one per input of forward)"
                )
            if _anomaly["enabled"]:
                _check_finite(node, out)
            if not retain_graph:
                node._release()
            for p, needed, g in zip(parents, needs, out):
                if not needed or not p.requires_grad:
                    continue
                if g is not None:
                    if type(g) is not np.ndarray:
                        g = g._data if isinstance(g, Tensor) else np.asarray(g)
                    pd = p._data
                    if g.shape != pd.shape:
                        g = unbroadcast(g, pd.shape)
                    if g.dtype is not pd.dtype and g.dtype != pd.dtype:
                        g = g.astype(pd.dtype)
                    send(p, g)
                fn = p.grad_fn
                if fn is not None:
                    deps[fn] -= 1
                    if deps[fn] == 0:
                        ready.append(fn)
        for t, g, _ in leaves.values():
            if t._hooks:
                g = _run_hooks(t, g)
            if want is not None:
                slot = want.get(id(t))
                if slot is not None:
                    found[slot] = g
            else:
                _store_grad(t, g, owned)
    finally:
        grad_mode._state.enabled = enabled
    return found if inputs is not None else None


def _as_grad(t: Tensor, g, what: str) -> np.ndarray:
    if g is None:
        if t._data.size != 1:
            raise RuntimeError(
                f"{what}: grad can be implicitly created only for scalar outputs, but the output "
                f"has shape {t.shape}; pass gradient= (a tensor of that shape)"
            )
        g = np.empty(t._data.shape, t._data.dtype)
        g.fill(1)
        return g
    g = g._data if isinstance(g, Tensor) else np.asarray(g, dtype=t._data.dtype)
    if g.shape != t._data.shape:
        raise RuntimeError(
            f"{what}: gradient has shape {g.shape} but the output has shape {t.shape}; "
            "they must match"
        )
    return g


def backward(tensor: Tensor, gradient=None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs=None) -> None:
    """``tensor.backward()``: accumulate d(tensor)/d(leaf) into every leaf's ``.grad``."""
    if create_graph:
        raise NotImplementedError(
            "backward(create_graph=True): chainrule's autograd is first-order by design "
            "(gradient rules work on arrays, not graph nodes), so higher-order gradients "
            "are not available"
        )
    g = _as_grad(tensor, gradient, "backward")
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        grads = run_backward([tensor], [g], bool(retain_graph), inputs)
        owned = _Owned()
        for t, gi in zip(inputs, grads):
            if gi is not None:
                _store_grad(t, gi, owned)
        return
    run_backward([tensor], [g], bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned (``.grad`` is untouched).

    >>> import chainrule
    >>> x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    >>> chainrule.autograd.grad((x * x).sum(), x)
    (tensor([2., 4.]),)
    """
    if create_graph:
        raise NotImplementedError(
            "autograd.grad(create_graph=True): chainrule's autograd is first-order by design, so "
            "higher-order gradients are not available"
        )
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(
                f"autograd.grad: an input of shape {t.shape} does not require grad"
            )
    gs = [_as_grad(o, g, "autograd.grad") for o, g in zip(outputs, grad_outputs)]
    found = run_backward(outputs, gs, bool(retain_graph), inputs)
    result: list[Tensor | None] = []
    for t, g in zip(inputs, found):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"autograd.grad: an input of shape {t.shape} was not used in the graph of "
                    "the outputs; pass allow_unused=True to get None for it"
                )
            result.append(None)
        else:
            result.append(Tensor._wrap(np.array(g, copy=True)))
    return tuple(result)
