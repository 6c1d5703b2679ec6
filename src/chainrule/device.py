"""Devices: chainrule runs on the CPU; ``device('cpu')`` exists so ported scripts run."""

from __future__ import annotations


class device:  # noqa: N801 (PyTorch's name)
    """The CPU. Asking for any other device raises a clear error.

    >>> import chainrule
    >>> chainrule.device("cpu")
    device(type='cpu')
    """

    def __init__(self, type: str = "cpu", index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            type = type.type
        kind = str(type).split(":")[0]
        if kind != "cpu":
            raise RuntimeError(
                f"device: {type!r} is not available; chainrule runs on the CPU only (NumPy)"
            )
        self.type = "cpu"
        self.index = index

    def __repr__(self) -> str:
        return "device(type='cpu')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, device) or other == "cpu"

    def __hash__(self) -> int:
        return hash("cpu")


cpu = device("cpu")


class cuda:  # noqa: N801 (PyTorch's module name)
    """``chainrule.cuda.is_available()`` is False: there is no GPU backend."""

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def device_count() -> int:
        return 0
