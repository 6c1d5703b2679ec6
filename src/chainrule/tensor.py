"""Tensor: one NumPy array, plus what autograd needs to know about it.

The state and the op-free methods (what it is, conversions to Python and NumPy, autograd flags
and hooks) are in :class:`chainrule._tensor_base.TensorBase`; here are the constructors and every
op as a method, each a one-liner into a function of ``chainrule.ops`` (grep finds it there),
in place or not.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from chainrule import _dtype, _two_cores
from chainrule._tensor_base import TensorBase, array_from
from chainrule.autograd import grad_mode


def as_tensor_like(x: Any) -> Any:
    """Tensors and Python scalars pass through; NumPy scalars become Python scalars; arrays
    and lists become tensors."""
    if isinstance(x, Tensor) or type(x) in (float, int, bool):
        return x
    if isinstance(x, np.generic):
        return x.item()
    return Tensor._wrap(array_from(x))


class Tensor(TensorBase):
    """An n-dimensional array that can record the operations applied to it.

    Create tensors with :func:`chainrule.tensor`, :func:`chainrule.zeros`, etc.

    >>> import chainrule
    >>> x = chainrule.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = ()
    __array_ufunc__ = None  # so ndarray * Tensor reaches Tensor.__rmul__
    __array_priority__ = 1000

    def __init__(self, data: Any = (), dtype=None, requires_grad: bool = False) -> None:
        self._data = array_from(data, dtype if dtype is not None else (
            None if isinstance(data, np.ndarray) else _dtype.get_default_dtype()))
        self.grad = None
        self.requires_grad = False
        self.grad_fn = None
        self._out_index = 0
        self._hooks = None
        self._retains_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _wrap(arr: np.ndarray, requires_grad: bool = False) -> Tensor:
        t = Tensor.__new__(Tensor)
        t._data = arr if type(arr) is np.ndarray else np.asarray(arr)
        t.grad = None
        t.requires_grad = requires_grad
        t.grad_fn = None
        t._out_index = 0
        t._hooks = None
        t._retains_grad = False
        return t

    # --- views of the same array ---
    @property
    def data(self) -> Tensor:
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    @property
    def T(self) -> Tensor:  # noqa: N802
        return _shape.permute(self, tuple(range(self.ndim))[::-1])

    @property
    def mT(self) -> Tensor:  # noqa: N802
        return _shape.transpose(self, -2, -1)

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(_shape.unbind(self, 0))

    # --- autograd ---
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate the gradient of this tensor into every leaf's ``.grad``."""
        _engine.backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        """A tensor sharing this one's memory, outside the graph."""
        return Tensor._wrap(self._data)

    # --- in place (outside the graph, or rebinding this tensor to a new node) ---
    def _inplace(self, op, *args, **kwargs) -> Tensor:
        """``self = op(self, *args, **kwargs)``, in place."""
        src = self
        if grad_mode._state.enabled:
            # NOTE: the op reads a snapshot of this tensor (same array, same node), so that
            # rebinding this tensor to the op's node does not make the node its own parent.
            src = Tensor._wrap(self._data, self.requires_grad)
            src.grad_fn, src._out_index = self.grad_fn, self._out_index
            args = tuple(src if a is self else a for a in args)  # x *= x
        return self._assign(op(src, *args, **kwargs))

    def _assign(self, result: Tensor) -> Tensor:
        if self.requires_grad and self.grad_fn is None and grad_mode._state.enabled:
            raise RuntimeError(
                f"a leaf tensor that requires grad (shape {self.shape}) is being used in an "
                "in-place operation; wrap it in chainrule.no_grad() or use an out-of-place op"
            )
        if _dtype._category(result._data.dtype) > _dtype._category(self._data.dtype):
            raise RuntimeError(f"in-place op: result type {result.dtype} can't be cast to the "
                               f"tensor's dtype {self.dtype} (use an out-of-place op)")
        if result.grad_fn is None:
            if result._data.shape != self._data.shape:
                raise RuntimeError(f"in-place op: result shape {result.shape} does not match "
                                   f"the tensor's shape {self.shape}")
            np.copyto(self._data, result._data, casting="unsafe")
        else:
            self._data = result._data.astype(self._data.dtype, copy=False)
            self.grad_fn, self._out_index, self.requires_grad = result.grad_fn, 0, True
        return self

    def _inplace_ufunc(self, ufunc, op, other, **kwargs) -> Tensor:
        """``self = op(self, other, **kwargs)``, in place. When that records no graph and
        ``other`` needs no cast or broadcast, ``ufunc`` writes straight into this tensor's array
        (no temporary, no copy: ``p -= lr * p.grad`` under no_grad)."""
        data = self._data
        recording = grad_mode._state.enabled and (
            self.requires_grad or (isinstance(other, Tensor) and other.requires_grad))
        if not recording and kwargs.get("alpha", 1) == 1 and data.dtype.kind == "f":
            if isinstance(other, Tensor):
                if other._data.dtype is data.dtype and other._data.shape == data.shape:
                    _two_cores.apply(ufunc, data, other._data, out=data)
                    return self
            elif type(other) in (float, int):
                _two_cores.apply(ufunc, data, other, out=data)
                return self
        return self._inplace(op, other, **kwargs)

    def add_(self, other, *, alpha=1):
        return self._inplace_ufunc(np.add, _ew.add, other, alpha=alpha)

    def sub_(self, other, *, alpha=1):
        return self._inplace_ufunc(np.subtract, _ew.sub, other, alpha=alpha)

    def mul_(self, other): return self._inplace_ufunc(np.multiply, _ew.mul, other)
    def div_(self, other): return self._inplace_ufunc(np.true_divide, _ew.div, other)
    def pow_(self, e): return self._inplace(_ew.pow, e)
    def clamp_(self, min=None, max=None): return self._inplace(_ew.clamp, min, max)  # noqa: A002
    def neg_(self): return self._inplace(_ew.neg)
    def exp_(self): return self._inplace(_ew.exp)
    def sqrt_(self): return self._inplace(_ew.sqrt)
    def relu_(self): return self._inplace(_ew.relu)
    def sigmoid_(self): return self._inplace(_ew.sigmoid)
    def tanh_(self): return self._inplace(_ew.tanh)
    def abs_(self): return self._inplace(_ew.abs)
    def masked_fill_(self, mask, value): return self._inplace(_shape.masked_fill, mask, value)

    def copy_(self, src) -> Tensor:
        src = src if isinstance(src, Tensor) else Tensor._wrap(array_from(src))
        return self._assign(_ew.add(_shape.expand(src.to(self.dtype), *self.shape), 0))

    def fill_(self, value) -> Tensor:
        return self._assign(Tensor._wrap(np.full(self.shape, value, self.dtype)))

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def uniform_(self, a=0.0, b=1.0, *, generator=None) -> Tensor:
        from chainrule.random import rng

        return self._assign(Tensor._wrap(rng(generator).uniform(a, b, self.shape)))

    def normal_(self, mean=0.0, std=1.0, *, generator=None) -> Tensor:
        from chainrule.random import rng

        return self._assign(Tensor._wrap(rng(generator).normal(mean, std, self.shape)))

    def __setitem__(self, key, value) -> None:
        if not (grad_mode._state.enabled and (self.requires_grad or (
                isinstance(value, Tensor) and value.requires_grad))):
            v = value._data if isinstance(value, Tensor) else value
            self._data[_indexing._index(key)] = v
            return
        self._inplace(_shape.setitem, key, value)

    # --- dtype ---
    def to(self, *args, **kwargs) -> Tensor:
        """Convert to a dtype (``to(chainrule.float64)``, ``to(other)``); devices are CPU."""
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (np.dtype, type)) and a is not str:
                dtype = a
            elif isinstance(a, str) and a not in ("cpu",) and not a.startswith("cpu"):
                try:
                    dtype = np.dtype(a)
                except TypeError:
                    from chainrule.device import device

                    device(a)  # raises for devices other than the CPU
        if dtype is None or np.dtype(dtype) == self._data.dtype:
            return self
        return _ew.Cast.apply(self, _dtype.to_dtype(dtype))

    def type(self, dtype=None) -> Any:
        if dtype is None:
            return f"chainrule.{self.dtype}"
        return self.to(dtype)

    def float(self): return self.to(_dtype.float32)
    def double(self): return self.to(_dtype.float64)
    def half(self): return self.to(_dtype.float16)
    def long(self): return self.to(_dtype.int64)
    def int(self): return self.to(_dtype.int32)
    def bool(self): return self.to(_dtype.bool_)
    def cpu(self): return self
    def contiguous(self, memory_format=None): return self
    # (``builtins.bool``: inside the class body ``bool`` names the method above)
    def is_floating_point(self) -> builtins.bool: return self._data.dtype.kind == "f"

    def cuda(self, *args, **kwargs):
        raise RuntimeError("cuda: chainrule runs on the CPU only (NumPy); there is no GPU device")

    # --- arithmetic ---
    def __add__(self, o): return _ew.add(self, o)
    def __radd__(self, o): return _ew.add(o, self)
    def __sub__(self, o): return _ew.sub(self, o)
    def __rsub__(self, o): return _ew.sub(o, self)
    def __mul__(self, o): return _ew.mul(self, o)
    def __rmul__(self, o): return _ew.mul(o, self)
    def __truediv__(self, o): return _ew.div(self, o)
    def __rtruediv__(self, o): return _ew.div(o, self)
    def __floordiv__(self, o): return _ew.div(self, o, rounding_mode="floor")
    def __rfloordiv__(self, o): return _ew.div(o, self, rounding_mode="floor")
    def __mod__(self, o): return self - _ew.div(self, o, rounding_mode="floor") * o
    def __pow__(self, o): return _ew.pow(self, o)
    def __rpow__(self, o): return _ew.pow(o, self)
    def __matmul__(self, o): return _la.matmul(self, o)
    def __rmatmul__(self, o): return _la.matmul(o, self)
    def __neg__(self): return _ew.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ew.abs(self)
    def __iadd__(self, o): return self.add_(o)
    def __isub__(self, o): return self.sub_(o)
    def __imul__(self, o): return self.mul_(o)
    def __itruediv__(self, o): return self.div_(o)
    def __invert__(self): return _ew.logical_not(self)
    def __and__(self, o): return _ew.logical_and(self, o)
    def __or__(self, o): return _ew.logical_or(self, o)

    def __eq__(self, o): return _ew.eq(self, o)  # type: ignore[override]
    def __ne__(self, o): return _ew.ne(self, o)  # type: ignore[override]
    def __lt__(self, o): return _ew.lt(self, o)
    def __le__(self, o): return _ew.le(self, o)
    def __gt__(self, o): return _ew.gt(self, o)
    def __ge__(self, o): return _ew.ge(self, o)
    __hash__ = object.__hash__

    def add(self, o, *, alpha=1): return _ew.add(self, o, alpha=alpha)
    def sub(self, o, *, alpha=1): return _ew.sub(self, o, alpha=alpha)
    def mul(self, o): return _ew.mul(self, o)
    def div(self, o, *, rounding_mode=None): return _ew.div(self, o, rounding_mode=rounding_mode)
    def pow(self, e): return _ew.pow(self, e)
    def matmul(self, o): return _la.matmul(self, o)
    def mm(self, o): return _la.mm(self, o)
    def bmm(self, o): return _la.bmm(self, o)
    def dot(self, o): return _la.dot(self, o)
    def maximum(self, o): return _ew.maximum(self, o)
    def minimum(self, o): return _ew.minimum(self, o)
    def eq(self, o): return _ew.eq(self, o)
    def ne(self, o): return _ew.ne(self, o)
    def lt(self, o): return _ew.lt(self, o)
    def le(self, o): return _ew.le(self, o)
    def gt(self, o): return _ew.gt(self, o)
    def ge(self, o): return _ew.ge(self, o)
    def equal(self, o): return _ew.equal(self, o)
    def allclose(self, o, rtol=1e-05, atol=1e-08): return _ew.allclose(self, o, rtol, atol)

    # --- elementwise maths ---
    def neg(self): return _ew.neg(self)
    def exp(self): return _ew.exp(self)
    def log(self): return _ew.log(self)
    def log1p(self): return _ew.log1p(self)
    def expm1(self): return _ew.expm1(self)
    def sqrt(self): return _ew.sqrt(self)
    def rsqrt(self): return _ew.rsqrt(self)
    def abs(self): return _ew.abs(self)
    def sin(self): return _ew.sin(self)
    def cos(self): return _ew.cos(self)
    def tanh(self): return _ew.tanh(self)
    def sigmoid(self): return _ew.sigmoid(self)
    def relu(self): return _ew.relu(self)
    def square(self): return _ew.square(self)
    def reciprocal(self): return _ew.reciprocal(self)
    def sign(self): return _ew.sign(self)
    def floor(self): return _ew.floor(self)
    def ceil(self): return _ew.ceil(self)
    def round(self): return _ew.round(self)
    def trunc(self): return _ew.trunc(self)
    def clone(self, *, memory_format=None): return _ew.clone(self)
    def clamp(self, min=None, max=None): return _ew.clamp(self, min, max)  # noqa: A002
    clip = clamp
    def clamp_min(self, m): return _ew.clamp(self, m, None)
    def clamp_max(self, m): return _ew.clamp(self, None, m)
    def isnan(self): return _ew.isnan(self)
    def isinf(self): return _ew.isinf(self)
    def isfinite(self): return _ew.isfinite(self)
    def logical_not(self): return _ew.logical_not(self)

    # --- reductions ---
    def sum(self, dim=None, keepdim=False, *, dtype=None):
        return _red.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim=None, keepdim=False, *, dtype=None):
        return _red.mean(self, dim, keepdim, dtype=dtype)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _red.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _red.std(self, dim, unbiased, keepdim, correction=correction)

    def prod(self, dim=None, keepdim=False): return _red.prod(self, dim, keepdim)
    def max(self, dim=None, keepdim=False): return _red.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return _red.min(self, dim, keepdim)
    def amax(self, dim=(), keepdim=False): return _red.amax(self, dim, keepdim)
    def amin(self, dim=(), keepdim=False): return _red.amin(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return _red.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return _red.argmin(self, dim, keepdim)
    def logsumexp(self, dim=None, keepdim=False): return _red.logsumexp(self, dim, keepdim)
    def softmax(self, dim=None, dtype=None): return _red.softmax(self, dim, dtype)
    def log_softmax(self, dim=None, dtype=None): return _red.log_softmax(self, dim, dtype)
    def cumsum(self, dim, *, dtype=None): return _red.cumsum(self, dim, dtype=dtype)
    def norm(self, p=2, dim=None, keepdim=False): return _red.norm(self, p, dim, keepdim)
    def all(self, dim=None): return Tensor._wrap(np.all(self._data, axis=dim))
    def any(self, dim=None): return Tensor._wrap(np.any(self._data, axis=dim))

    # --- shape and indexing ---
    def reshape(self, *shape): return _shape.reshape(self, *shape)
    def view(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):
            # NOTE: view(dtype) reinterprets the bytes (no gradient flows), as in PyTorch.
            return Tensor._wrap(self._data.view(_dtype.to_dtype(shape[0])))
        return _shape.reshape(self, *shape)
    def view_as(self, other): return _shape.reshape(self, other.shape)
    def reshape_as(self, other): return _shape.reshape(self, other.shape)
    def flatten(self, start_dim=0, end_dim=-1): return _shape.flatten(self, start_dim, end_dim)
    def squeeze(self, dim=None): return _shape.squeeze(self, dim)
    def unsqueeze(self, dim): return _shape.unsqueeze(self, dim)
    def permute(self, *dims): return _shape.permute(self, *dims)
    def transpose(self, dim0, dim1): return _shape.transpose(self, dim0, dim1)
    def t(self): return _shape.transpose(self, 0, 1) if self.ndim == 2 else self
    def expand(self, *sizes): return _shape.expand(self, *sizes)
    def expand_as(self, other): return _shape.expand(self, other.shape)
    def repeat(self, *sizes): return _shape.repeat(self, *sizes)
    def flip(self, dims): return _shape.flip(self, dims)
    def split(self, split_size, dim=0): return _shape.split(self, split_size, dim)
    def chunk(self, chunks, dim=0): return _shape.chunk(self, chunks, dim)
    def unbind(self, dim=0): return _shape.unbind(self, dim)
    def narrow(self, dim, start, length): return _shape.narrow(self, dim, start, length)
    def index_select(self, dim, index): return _shape.index_select(self, dim, index)
    def gather(self, dim, index): return _shape.gather(self, dim, index)
    def masked_fill(self, mask, value): return _shape.masked_fill(self, mask, value)
    def where(self, condition, other): return _shape.where(condition, self, other)
    def __getitem__(self, key): return _shape.getitem(self, key)


from chainrule.autograd import engine as _engine  # noqa: E402
from chainrule.ops import elementwise as _ew  # noqa: E402
from chainrule.ops import linalg as _la  # noqa: E402
from chainrule.ops import reduction as _red  # noqa: E402
from chainrule.ops import shape as _shape  # noqa: E402
from chainrule.ops.shape import indexing as _indexing  # noqa: E402
