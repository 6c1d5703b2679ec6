"""The grad-mode flag (whether new operations record a graph) and PyTorch's inference-mode
flag beside it."""

from __future__ import annotations

import functools


class _State:
    enabled = True
    inference = False  # inside inference_mode (which also turns recording off)


_state = _State()


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backpropagation.

    >>> import chainrule
    >>> with chainrule.no_grad():
    ...     chainrule.is_grad_enabled()
    False
    """
    return _state.enabled


class set_grad_enabled:  # noqa: N801 (PyTorch's name)
    """Turn recording on or off: as a call (the mode stays), a context manager (the mode is
    restored on exit) or a decorator.

    >>> import chainrule
    >>> with chainrule.set_grad_enabled(False):
    ...     chainrule.is_grad_enabled()
    False
    >>> chainrule.is_grad_enabled()
    True
    """

    def __init__(self, mode: bool) -> None:
        self._prev, self._mode = _state.enabled, bool(mode)
        _state.enabled = self._mode

    def __enter__(self) -> None:
        pass  # the mode was set on construction

    def __exit__(self, *exc) -> None:
        _state.enabled = self._prev

    def __call__(self, fn):
        _state.enabled = self._prev  # as a decorator, nothing changes until fn runs
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class _GradMode:
    _mode = True

    def __new__(cls, fn=None):
        if fn is None:
            return super().__new__(cls)
        return cls()(fn)  # used as a bare decorator: @no_grad

    def __enter__(self) -> None:
        self._prev = _state.enabled
        _state.enabled = self._mode

    def __exit__(self, *exc) -> None:
        _state.enabled = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801 (PyTorch's name)
    """Context manager (or decorator) that stops recording the graph.

    >>> import chainrule
    >>> x = chainrule.ones(2, requires_grad=True)
    >>> with chainrule.no_grad():
    ...     (x * 2).requires_grad
    False
    """

    _mode = False


class enable_grad(_GradMode):  # noqa: N801 (PyTorch's name)
    """Context manager (or decorator) that turns recording back on inside ``no_grad``."""

    _mode = True


def is_inference_mode_enabled() -> bool:
    """Whether code runs inside ``inference_mode``.

    >>> import chainrule
    >>> with chainrule.inference_mode():
    ...     chainrule.is_inference_mode_enabled()
    True
    """
    return _state.inference


class inference_mode:  # noqa: N801 (PyTorch's name)
    """PyTorch's ``inference_mode(mode=True)``: a context manager (or decorator, also bare) that
    turns recording off (``mode`` True) or on (False) and sets the inference flag to ``mode``;
    both are restored on exit, as in PyTorch (``enable_grad`` inside it records again).

    PyTorch's inference tensors also refuse later use in autograd; here the results are
    ordinary tensors made under ``no_grad``, so code written for PyTorch runs unchanged.

    >>> import chainrule
    >>> x = chainrule.ones(2, requires_grad=True)
    >>> with chainrule.inference_mode():
    ...     (x * 2).requires_grad
    False
    """

    def __new__(cls, mode=True):
        if callable(mode):  # used as a bare decorator: @inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        self._mode = bool(mode)

    def __enter__(self) -> None:
        self._prev = (_state.enabled, _state.inference)
        _state.enabled, _state.inference = not self._mode, self._mode

    def __exit__(self, *exc) -> None:
        _state.enabled, _state.inference = self._prev

    def __call__(self, fn):
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)

        return wrapper
