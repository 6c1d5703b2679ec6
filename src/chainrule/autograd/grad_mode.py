"""The one grad-mode flag: whether new operations record a graph."""

from __future__ import annotations

import functools


class _State:
    enabled = True


_state = _State()


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backpropagation.

    >>> import chainrule
    >>> with chainrule.no_grad():
    ...     chainrule.is_grad_enabled()
    False
    """
    return _state.enabled


def set_grad_enabled(mode: bool) -> None:
    _state.enabled = bool(mode)


class _GradMode:
    _mode = True

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
