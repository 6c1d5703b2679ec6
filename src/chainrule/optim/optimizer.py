"""Optimizer: the base class of every optimizer, with PyTorch's param groups and state layout.

A subclass validates its hyper-parameters, passes them as ``defaults`` and writes ``step``: it
collects, for each parameter that has a gradient, the raw arrays (parameter, gradient, state
buffers) and options of its algorithm's update function, and hands them to :func:`run_update`.
The update functions (``sgd_``, ``adam_``, ...) are elementwise and work in place with reused
scratch arrays, so a step allocates nothing and can run over cache-sized pieces of the arrays.

``state_dict()`` is PyTorch's layout: ``{'state': {index: {...}}, 'param_groups': [{...,
'params': [indices]}]}``, so optimizer state moves between chainrule and PyTorch.
"""

from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

import numpy as np

from chainrule import _jit
from chainrule.autograd.grad_mode import enable_grad
from chainrule.ops import _threads
from chainrule.optim import _kernels
from chainrule.tensor import Tensor


class _RequiredParameter:
    """The default of a hyper-parameter that every param group must give."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def effective_grad(param: np.ndarray, grad: np.ndarray, weight_decay: float, maximize: bool,
                   out: np.ndarray) -> np.ndarray:
    """The gradient the update uses: ``grad`` (negated if ``maximize``) plus
    ``weight_decay * param``; ``grad`` itself, unchanged, when neither applies."""
    if weight_decay == 0.0:
        return np.negative(grad, out=out) if maximize else grad
    np.multiply(param, weight_decay, out=out)
    return np.subtract(out, grad, out=out) if maximize else np.add(out, grad, out=out)


# --- running an update function over the parameters ---

# NOTE: measured on 2 cores (1.25 MB of L2 each): on one thread, pieces of 64K elements keep the
# state and scratch that a piece touches several times in L2 (Adam ~25%, SGD ~18% faster than
# whole arrays) with few Python-level calls.
_PIECE = 1 << 16

Job = _kernels.Job  # (arrays, options)


def run_update(update: Callable[..., None], jobs: list[Job],
               scratch_for: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]],
               two_threads: bool = False, kernel_call: Callable | None = None) -> None:
    """Call ``update(*arrays, tmp, tmp2, **options)`` for every ``(arrays, options)`` job.

    With the compiled kernels on, ``kernel_call(arrays, options)`` gives the ``(kernel,
    scalars)`` that does the same update in one pass (see :mod:`chainrule.optim._kernels`),
    and the kernels run every job whose arrays they take.

    ``arrays`` starts with the parameter; the others have its shape, or are None. As the
    update is elementwise, a contiguous parameter may be updated in parts (flat views), which
    gives the same bits as one call over the whole arrays; ``scratch_for(part, slot)`` gives
    the two scratch arrays of the thread ``slot``. ``two_threads`` shares large updates out
    between two threads (worth it for updates that compute more than they move, such as Adam's;
    see ``_kernels._PARALLEL_SIZE``).
    """
    if kernel_call is not None and _jit.enabled():
        # (returns the jobs the kernels cannot take)
        jobs = _kernels.run_compiled(jobs, kernel_call, two_threads)
    if (not two_threads or sum(a[0].nbytes for a, _ in jobs) < _threads._PARALLEL_BYTES
            or _threads._THREADS < 2 or not _threads._OpenBLAS.found()
            or len({id(arrays[0]) for arrays, _ in jobs}) < len(jobs)):
        # NOTE: a parameter listed twice is also updated here: its updates must not overlap.
        for arrays, options in jobs:
            for part in _parts(arrays, _PIECE):
                update(*part, *scratch_for(part[0], 0), **options)
        return
    # NOTE: two threads, each updating one half of every large parameter (and the smaller
    # parameters shared out by size) in whole half-arrays. Measured on the 784-512-256-10 MLP's
    # parameters with both CPUs to ourselves: Adam 13-24% faster than one thread in pieces, SGD
    # (which moves more than it computes) -19% to +23%, so it stays on one thread; 64K pieces on
    # two threads were slower than one thread (each ufunc call re-takes the GIL, and ~100 short
    # calls per thread spend more on handing it over than they gain). On a loaded machine two
    # threads lose 15-35%.
    halves: tuple[list, list] = ([], [])
    load = [0, 0]
    for arrays, options in sorted(jobs, key=lambda job: -job[0][0].size):
        for part in _parts(arrays, -(-arrays[0].size // 2) if arrays[0].size >= _PIECE else 0):
            k = 0 if load[0] <= load[1] else 1
            halves[k].append((part, options))
            load[k] += part[0].size

    def work(lo: int, hi: int, slot: int) -> None:
        for half in halves[lo:hi]:
            for part, options in half:
                update(*part, *scratch_for(part[0], slot), **options)

    _threads._each(2, work)  # a half per thread


def _parts(arrays: tuple[Any, ...], size: int) -> list[list[Any]]:
    """The arrays cut into flat parts of at most ``size`` elements (whole when ``size`` is 0,
    the array is no larger, or one of them is not contiguous)."""
    n = arrays[0].size
    if size <= 0 or n <= size or not all(a is None or a.flags.c_contiguous for a in arrays):
        return [list(arrays)]
    flats = [None if a is None else a.reshape(-1) for a in arrays]
    return [[None if f is None else f[lo:lo + size] for f in flats] for lo in range(0, n, size)]


def _as_array(value: Any) -> Any:
    """A chainrule or PyTorch tensor, or a NumPy array/scalar, as an ndarray; others unchanged."""
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a PyTorch tensor
        return value.detach().cpu().numpy()
    return value


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of Parameters (or of ``(name, Parameter)`` pairs), or of dicts
            (param groups), each with a ``'params'`` entry and options that override
            ``defaults`` for that group.
        defaults: the default hyper-parameters of every group.

    >>> import chainrule
    >>> w = chainrule.nn.Parameter(chainrule.ones(2))
    >>> b = chainrule.nn.Parameter(chainrule.zeros(1))
    >>> opt = chainrule.optim.SGD([{'params': [w]}, {'params': [b], 'lr': 0.5}], lr=0.1)
    >>> [g['lr'] for g in opt.param_groups]
    [0.1, 0.5]
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, (Tensor, set)):
            raise TypeError(
                f"{type(self).__name__}: params should be an ordered iterable of Tensors or "
                f"dicts (e.g. model.parameters()), but got {type(params).__name__}")
        self.state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch: dict[int, dict[Any, tuple[np.ndarray, np.ndarray]]] = {}
        groups = list(params)
        if len(groups) == 0:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._scratch = {}

    # --- groups ---
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (unset options take the defaults).

        Useful to start training layers that were frozen, with their own learning rate.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: param_group must be a dict, but got "
                            f"{type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                f"{name}: optimizer parameters need to be organized in ordered collections, "
                "but the ordering of tensors in sets will change between runs. Please use a "
                "list instead.")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        param_group["params"] = params
        if names:
            if len(names) != len(params):
                raise ValueError(f"{name}: all optimizer params should be with/without names. "
                                 "Some param names are missing")
            param_group["param_names"] = names
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: optimizer can only optimize Tensors, but one of the "
                                f"params is {type(p).__name__}")
            if p.grad_fn is not None and not p._retains_grad:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (shape {p.shape})")
        for key, default in self.defaults.items():
            if default is required and key not in param_group:
                raise ValueError(f"{name}: parameter group didn't specify a value of required "
                                 f"optimization parameter {key}")
            param_group.setdefault(key, default)
        if len({id(p) for p in params}) != len(params):
            warnings.warn(f"{name}: a parameter group contains a parameter more than once; it "
                          "is updated as many times per step (PyTorch will make this an error)",
                          stacklevel=3)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        for group in self.param_groups:
            if ("param_names" in group) != ("param_names" in param_group):
                raise ValueError(f"{name}: all optimizer param groups should be with/without "
                                 "names; cannot mix them")
        self.param_groups.append(param_group)

    # --- gradients and steps ---
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters.

        Args:
            set_to_none: set ``.grad`` to None (the default, which frees memory and lets
                ``step`` skip the parameter) instead of filling it with zeros.
        """
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif g._data.flags.writeable:
                    g.grad_fn, g.requires_grad = None, False
                    g._data.fill(0)
                else:
                    p.grad = Tensor._wrap(np.zeros_like(g._data))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()``'s loss, if given.

        Args:
            closure: re-evaluates the model and returns the loss (it runs with gradients
                enabled, before the update).
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    def _begin_step(self, closure: Callable[[], Any] | None) -> Any:
        """Run the closure (if any) with gradients enabled; note that a step happened."""
        self._opt_called = True
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _scratch_for(self, param: np.ndarray, slot: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Two scratch arrays shaped and typed like ``param`` for the thread ``slot``: views
        into two flat buffers per dtype, as large as the largest piece, reused by every step."""
        # NOTE: each slot has its own dict, touched only by its own thread.
        scratch = self._scratch.get(slot)
        if scratch is None:
            scratch = self._scratch.setdefault(slot, {})
        key = (param.shape, param.dtype)
        views = scratch.get(key)
        if views is None:
            flat = scratch.get(param.dtype)
            if flat is None or flat[0].size < param.size:
                flat = (np.empty(param.size, param.dtype), np.empty(param.size, param.dtype))
                # NOTE: views of the smaller buffers are dropped so those can be freed.
                for k in [k for k in scratch if (k[1] if type(k) is tuple else k) == param.dtype]:
                    del scratch[k]
                scratch[param.dtype] = flat
            views = (flat[0][:param.size].reshape(param.shape),
                     flat[1][:param.size].reshape(param.shape))
            scratch[key] = views
        return views

    # --- state ---
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout.

        ``'state'`` maps each parameter's index (its position across the param groups) to its
        state (Tensors such as ``'exp_avg'``, ``'step'``; the live ones, not copies), and
        ``'param_groups'`` lists every group's options with ``'params'`` as indices.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        params = {id(p): p for group in self.param_groups for p in group["params"]}
        state = {index[k]: dict(self.state[params[k]]) for k in index
                 if params[k] in self.state}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load state saved by ``state_dict()`` — chainrule's, or PyTorch's (its tensors, or
        their values as NumPy arrays).

        State arrays are copied (cast to each parameter's dtype, except ``'step'``), so the
        loaded optimizer shares no memory with ``state_dict``.
        """
        name = type(self).__name__
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has a different number "
                             f"of parameter groups ({len(saved_groups)}, expected {len(groups)})")
        for i, (g, s) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: loaded state dict contains a parameter group that "
                    f"doesn't match the size of optimizer's group: group {i} has "
                    f"{len(s['params'])} params, expected {len(g['params'])}")
        id_map = dict(zip((int(i) for i in chain.from_iterable(s["params"] for s in saved_groups)),
                          chain.from_iterable(g["params"] for g in groups)))
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, values in state_dict["state"].items():
            key = int(k) if isinstance(k, (str, np.integer)) and str(k).isdigit() else k
            if key in id_map:
                param = id_map[key]
                state[param] = {sk: _load_value(name, param, key, sk, v)
                                for sk, v in values.items()}
            else:
                state[key] = values
        for g, s in zip(groups, saved_groups):
            s["params"] = g["params"]
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
            for key, default in self.defaults.items():
                if default is not required:
                    s.setdefault(key, default)
        self.state = state
        self.param_groups = saved_groups
        self._scratch = {}


def _load_value(name: str, param: Tensor, index: int, key: str, value: Any) -> Any:
    arr = _as_array(value)
    if key == "step":
        if not isinstance(arr, np.ndarray):
            return Tensor._wrap(np.array(float(arr), np.float32))
        return Tensor._wrap(np.array(arr, arr.dtype if arr.dtype.kind == "f" else np.float32))
    if not isinstance(arr, np.ndarray):
        return value
    dtype = param.dtype if param.dtype.kind == "f" else arr.dtype
    if arr.shape != param.shape:
        raise ValueError(f"{name}.load_state_dict: state[{index}][{key!r}] has shape "
                         f"{arr.shape}, but parameter {index} has shape {param.shape}")
    return Tensor._wrap(np.array(arr, dtype=dtype))


def _step_count(state: dict[str, Any]) -> float:
    """Add one to the state's ``'step'`` (a 0-dim float32 tensor, as in PyTorch); return it."""
    step = state["step"]
    if not isinstance(step, Tensor):
        step = state["step"] = Tensor._wrap(np.array(float(step), np.float32))
    arr = step._data
    # NOTE: fill() stores item + 1 rounded to the array's dtype, which is what PyTorch's
    # float32 step_t += 1 gives; 0-d array arithmetic would cost several times more.
    arr.fill(arr.item() + 1.0)
    return arr.item()


def _zeros_like(param: Tensor, fill: float = 0.0) -> Tensor:
    return Tensor._wrap(np.full(param.shape, fill, param.dtype))


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ValueError(f"{name}: {message}")


def _check_unsupported(name: str, differentiable: bool) -> None:
    if differentiable:
        raise NotImplementedError(
            f"{name}: differentiable=True (autograd through the update) is not supported; "
            "chainrule's autograd is first-order and updates run on raw arrays")


def _grad_of(name: str, param: Tensor) -> np.ndarray | None:
    """The parameter's gradient array (None when it has none), checked against its shape."""
    grad = param.grad
    if grad is None:
        return None
    arr = grad._data
    if arr.shape != param._data.shape:
        raise RuntimeError(f"{name}.step: a parameter of shape {param.shape} has a gradient of "
                           f"shape {arr.shape}; expected the same shape")
    return arr
