"""TensorBase: what a tensor is, apart from the ops it offers.

Its state (the slots: one ndarray and the autograd bookkeeping), what it is (shape, dtype,
size, ...), its conversions to Python and NumPy, its repr, and its autograd flags and hooks; and
:func:`array_from`, which turns Python data into that ndarray. Nothing here calls an op, so this
module imports none: :class:`chainrule.tensor.Tensor`, the one subclass, adds the constructors and
every op as a method (the op modules import Tensor, so Tensor imports them last).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import _dtype


def array_from(data: Any, dtype=None) -> np.ndarray:
    """An ndarray from Python data, with PyTorch's dtype inference.

    Python floats give the default dtype (float32), integers int64, bools bool; NumPy arrays keep
    their dtype.
    """
    if isinstance(data, TensorBase):
        arr = data._data
    elif isinstance(data, np.ndarray):
        arr = data
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(d, TensorBase) for d in data):
            data = [d._data if isinstance(d, TensorBase) else d for d in data]
        arr = np.asarray(data)
        if dtype is None:
            if arr.dtype.kind == "f" and not isinstance(data, np.generic):
                arr = arr.astype(_dtype.get_default_dtype())
            elif arr.dtype.kind in "iu" and not isinstance(data, np.generic):
                arr = arr.astype(np.int64)
            elif arr.dtype.kind not in "biuf":
                raise TypeError(
                    f"tensor: cannot make a tensor from {type(data).__name__} data of NumPy "
                    f"dtype {arr.dtype}; expected numbers, bools or nested lists of them"
                )
    if dtype is not None:
        arr = arr.astype(_dtype.to_dtype(dtype), copy=False)
    return arr


class TensorBase:
    """The state and the op-free methods of :class:`chainrule.tensor.Tensor` (never made on its
    own: ``Tensor.__init__`` and ``Tensor._wrap`` fill the slots)."""

    __slots__ = ("_data", "grad", "requires_grad", "grad_fn", "_out_index", "_hooks",
                 "_retains_grad", "__weakref__")
    # Declared for type checkers only (annotations without values do not clash with slots).
    _data: np.ndarray
    grad: Any
    requires_grad: bool
    grad_fn: Any
    _out_index: int
    _hooks: Any
    _retains_grad: bool

    # --- what it is ---
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def device(self) -> Any:
        from chainrule.device import cpu

        return cpu

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def is_cuda(self) -> bool:
        return False

    def size(self, dim: int | None = None) -> Any:
        return self._data.shape if dim is None else self._data.shape[dim]

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    def element_size(self) -> int:
        return self._data.itemsize

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    # --- to Python and NumPy ---
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The underlying array (shared memory, like PyTorch's ``.numpy()``)."""
        return self._data

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self._data if dtype is None else self._data.astype(dtype)

    def item(self) -> Any:
        if self._data.size != 1:
            raise RuntimeError(f"item: a tensor with {self._data.size} elements (shape "
                               f"{self.shape}) cannot be converted to a Python scalar")
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError(f"only integer tensors of a single element can be an index, got "
                            f"{self.dtype} of shape {self.shape}")
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of a tensor with {self._data.size} elements "
                               f"(shape {self.shape}) is ambiguous")
        return bool(self._data)

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(",
                               threshold=1000, edgeitems=3, precision=4)
        extra = ""
        dt = self._data.dtype
        if dt not in (_dtype.get_default_dtype(), _dtype.int64, _dtype.bool_) or (
                self._data.size == 0 and dt != _dtype.get_default_dtype()):
            extra += f", dtype={dt}"
        if self.grad_fn is not None:
            extra += f", grad_fn={self.grad_fn!r}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # --- autograd flags and hooks ---
    def requires_grad_(self, requires_grad: bool = True) -> TensorBase:
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError(
                f"requires_grad_: only floating-point tensors can require gradients, got "
                f"{self.dtype}"
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False): only leaf tensors can stop requiring "
                               "grad; use .detach() for a non-leaf")
        self.requires_grad = requires_grad
        return self

    def detach_(self) -> TensorBase:
        self.grad_fn, self.requires_grad = None, False
        return self

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        if self.grad_fn is None:
            return
        self._retains_grad = True
        self._watch()

    def register_hook(self, hook) -> Any:
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a
        replacement. Returns a handle whose ``remove()`` unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does "
                               "not require gradient")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        if self.grad_fn is not None:
            self._watch()
        return _HookHandle(self._hooks, hook)

    def _watch(self) -> None:
        fn = self.grad_fn
        if fn._watched is None:
            fn._watched = {}
        fn._watched[self._out_index] = self


class _HookHandle:
    def __init__(self, hooks: list, hook: Any) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)
