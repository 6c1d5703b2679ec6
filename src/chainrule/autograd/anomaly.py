"""Anomaly detection: name the op whose backward produced a NaN or infinity."""

from __future__ import annotations

from chainrule.autograd.function import _anomaly


class detect_anomaly:  # noqa: N801 (PyTorch's name)
    """Within this context, backward raises as soon as a rule returns a non-finite gradient,
    naming the op and showing where it was called in the forward pass.

    >>> import chainrule
    >>> x = chainrule.tensor([0.0], requires_grad=True)
    >>> with chainrule.autograd.detect_anomaly():
    ...     try:
    ...         chainrule.sqrt(x).sum().backward()
    ...     except RuntimeError as e:
    ...         print(str(e).split(" returned")[0])
    detect_anomaly: SqrtBackward
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check = check_nan

    def __enter__(self) -> None:
        self._prev = _anomaly["enabled"]
        _anomaly["enabled"] = self.check

    def __exit__(self, *exc) -> None:
        _anomaly["enabled"] = self._prev


def set_detect_anomaly(mode: bool) -> None:
    _anomaly["enabled"] = bool(mode)
