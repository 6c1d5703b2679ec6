"""Function: one differentiable operation, forward and backward side by side.

Every primitive in chainrule (and every user-defined op) is a subclass::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            y = np.exp(x)
            ctx.y = y
            return y

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.y

``forward`` receives the inputs' NumPy arrays (non-tensor arguments pass through unchanged) and
returns an array or a tuple of arrays; ``backward`` receives one gradient array per output and
returns one gradient per input (an array or ``None``). Rules never build graph nodes, so
autograd is first-order. The engine undoes broadcasting: a rule may return a gradient in the
broadcast shape of its output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import grad_mode

_anomaly = {"enabled": False}


class Function:
    """Base class of differentiable operations; call ``YourFunction.apply(*inputs)``.

    ``ctx`` is the node itself: set attributes on it in ``forward`` (or call
    ``ctx.save_for_backward(*arrays)``) and read them in ``backward``. ``ctx.needs_input_grad``
    says which inputs want a gradient, so a rule can skip the others.

    >>> import numpy as np, chainrule
    >>> class Cube(chainrule.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.x = x
    ...         return x**3
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         return 3 * ctx.x**2 * grad
    >>> x = chainrule.tensor([2.0], requires_grad=True)
    >>> Cube.apply(x).sum().backward()
    >>> x.grad
    tensor([12.])
    """

    needs_input_grad: tuple[bool, ...]
    _parents: tuple
    _freed = False
    _watched: dict | None = None
    _n_out = 1
    _out_meta: tuple | None = None
    _trace: str  # the forward call's stack, set by apply() only under detect_anomaly

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *arrays)")

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved_tensors = arrays

    @property
    def next_functions(self) -> tuple:
        return tuple((p.grad_fn, p._out_index) if isinstance(p, Tensor) else (None, 0)
                     for p in self._parents)

    def name(self) -> str:
        return type(self).__name__ + "Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"

    def _release(self) -> None:
        parents, watched = self._parents, self._watched
        self.__dict__.clear()
        self._parents, self._watched, self._freed = parents, watched, True

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        arrays = []
        needs = []
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a._data)
                needs.append(a.requires_grad)
            else:
                arrays.append(a)
                needs.append(False)
        ctx = cls()
        requires = grad_mode._state.enabled and True in needs
        if requires:
            ctx.needs_input_grad = tuple(needs)
            ctx._parents = args
            if _anomaly["enabled"]:
                import traceback

                ctx._trace = "".join(traceback.format_stack(limit=12)[:-1])
        else:
            ctx.needs_input_grad = (False,) * len(args)
        out = cls.forward(ctx, *arrays, **kwargs)
        if type(out) is tuple:
            if requires:
                ctx._n_out = len(out)
                outs = tuple(_wrap(o, ctx, i) for i, o in enumerate(out))
                ctx._out_meta = tuple((o.shape, o.dtype) for o in outs)
                return outs
            return tuple(_wrap(o, None, 0) for o in out)
        return _wrap(out, ctx if requires else None, 0)


def _wrap(out: Any, ctx: Function | None, index: int) -> Tensor:
    if isinstance(out, Tensor):
        out = out._data
    elif type(out) is not np.ndarray:
        out = np.asarray(out)
    t = Tensor.__new__(Tensor)
    t._data = out
    t.grad = None
    t._hooks = None
    t._retains_grad = False
    if ctx is not None and out.dtype.kind in "fc":
        t.requires_grad = True
        t.grad_fn = ctx
        t._out_index = index
    else:
        t.requires_grad = False
        t.grad_fn = None
        t._out_index = 0
    return t


from chainrule.tensor import Tensor  # noqa: E402  (Tensor's methods call into Functions)
