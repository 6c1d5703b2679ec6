"""History: the per-epoch logs of a ``fit`` run, and their plot."""

from __future__ import annotations

import math
import os
from pathlib import Path


class History:
    """Logs of every epoch: ``history["loss"]`` is the list of epoch losses.

    Attributes:
        history: dict from log key (``loss``, metrics, ``val_*``, ``lr``) to a list of floats,
            one per epoch (NaN where a key was missing that epoch).
        epoch: the epoch numbers (from 0).

    >>> from chainrule.train import History
    >>> h = History()
    >>> h.append(0, {"loss": 0.9}); h.append(1, {"loss": 0.5, "val_loss": 0.6})
    >>> h.history
    {'loss': [0.9, 0.5], 'val_loss': [nan, 0.6]}
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        """Record the logs of one epoch."""
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, [math.nan] * (len(self.epoch) - 1)).append(float(value))
        for values in self.history.values():
            if len(values) < len(self.epoch):
                values.append(math.nan)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"

    def plot(self, path: str | os.PathLike, keys: list[str] | None = None) -> Path:
        """Save the curves to a PNG: one panel per quantity (training and ``val_`` together),
        the learning rate on a log scale. Needs matplotlib (``pip install chainrule[train]``).

        Args:
            path: the image file to write.
            keys: the quantities to draw (default: every key without the ``val_`` prefix).

        Returns:
            The path written.
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as e:
            raise ImportError("History.plot needs matplotlib: pip install 'chainrule[train]' "
                              "(or pip install matplotlib)") from e
        if not self.epoch:
            raise ValueError("History.plot: there are no epochs to plot")
        keys = keys or [k for k in self.history if not k.startswith("val_")]
        missing = [k for k in keys if k not in self.history and f"val_{k}" not in self.history]
        if missing:
            raise ValueError(f"History.plot: no values for {missing}; keys are "
                             f"{list(self.history)}")
        fig = Figure(figsize=(4.0 * len(keys), 3.2))
        FigureCanvasAgg(fig)
        # NOTE: fixed margins instead of a layout engine: constrained layout doubles the time.
        fig.subplots_adjust(left=0.5 / len(keys) / 4 + 0.04, right=0.98, bottom=0.16, top=0.9,
                            wspace=0.35)
        epochs = [e + 1 for e in self.epoch]
        for ax, key in zip(fig.subplots(1, len(keys), squeeze=False)[0], keys):
            for name, style in ((key, "-"), (f"val_{key}", "--")):
                if name in self.history:
                    ax.plot(epochs, self.history[name], style, marker=".", label=name)
            if key == "lr":
                ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.set_title(key)
            ax.grid(alpha=0.3)
            ax.legend()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=100)
        return path
