"""Time series as windows: the embedded yearly sunspot numbers and a generic window dataset."""

from __future__ import annotations

import math
from importlib import resources

import numpy as np

from chainrule.data.dataset import TensorDataset

SUNSPOTS_ATTRIBUTION = ("Yearly sunspot activity 1700-2008, public domain, as distributed with "
                        "statsmodels")


def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """The yearly sunspot numbers 1700-2008 as ``(years, activity)``: int64 and float32, 309
    values each.

    >>> from chainrule.data.datasets import load_sunspots
    >>> years, activity = load_sunspots()
    >>> int(years[0]), int(years[-1]), activity.dtype
    (1700, 2008, dtype('float32'))
    """
    text = resources.files("chainrule.data.datasets").joinpath("sunspots.csv").read_text()
    table = np.loadtxt(text.splitlines()[1:], delimiter=",", dtype=np.float64)
    if table.shape != (309, 2):
        raise ValueError(f"load_sunspots: the embedded file has shape {table.shape}, expected "
                         "(309, 2); the package data is damaged")
    return table[:, 0].astype(np.int64), table[:, 1].astype(np.float32)


def _windows(series: np.ndarray, window: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(series) - window - horizon + 1
    if n <= 0:
        raise ValueError(f"WindowDataset: a series of length {len(series)} is too short for "
                         f"window={window} and horizon={horizon}")
    starts = np.arange(n)[:, None]
    return series[starts + np.arange(window)], series[np.arange(n) + window + horizon - 1]


class WindowDataset(TensorDataset):
    """Sliding windows over a series: sample ``i`` is ``(series[i:i+window], series[i+window+
    horizon-1])``.

    Args:
        series: shape (T,) or (T, F); a 1-d series is treated as one feature.
        window: time steps in each input.
        horizon: how many steps after the window's last one the target lies (1 = the next).

    Shape:
        - input of one sample: (window, F), batch-first for RNNs;
        - target: (F,).

    >>> import numpy as np
    >>> from chainrule.data.datasets import WindowDataset
    >>> ds = WindowDataset(np.arange(6, dtype=np.float32), window=3)
    >>> len(ds), ds[0][0].tolist(), ds[0][1].tolist()
    (3, [[0.0], [1.0], [2.0]], [3.0])
    """

    def __init__(self, series: np.ndarray, window: int, horizon: int = 1) -> None:
        series = np.asarray(series)
        if series.ndim == 1:
            series = series[:, None]
        if series.ndim != 2 or window < 1 or horizon < 1:
            raise ValueError(f"WindowDataset: expected a series of shape (T,) or (T, F), "
                             f"window >= 1 and horizon >= 1; got shape {series.shape}, "
                             f"window={window}, horizon={horizon}")
        self.window, self.horizon = window, horizon
        super().__init__(*_windows(series, window, horizon))


class Sunspots(WindowDataset):
    """Windows over the yearly sunspot numbers (embedded, 309 years), split in time.

    The test part's targets are the last ``ceil(test_fraction * 309)`` years; its input windows
    may reach back into the training years (the values, never the targets). With
    ``standardize=True`` both parts are scaled by the training years' mean and standard
    deviation (kept in ``.mean`` and ``.std`` to undo it).

    Args:
        window: years in each input (default 20).
        train: the earlier part, else the later part.
        horizon: years ahead predicted (1 = the next year).
        test_fraction: share of the years whose values are test targets.
        standardize: scale to zero mean and unit variance with the training statistics.

    >>> from chainrule.data.datasets import Sunspots
    >>> train, test = Sunspots(train=True), Sunspots(train=False)
    >>> len(train), len(test), tuple(train[0][0].shape)
    (227, 62, (20, 1))
    """

    def __init__(self, window: int = 20, train: bool = True, *, horizon: int = 1,
                 test_fraction: float = 0.2, standardize: bool = True) -> None:
        years, values = load_sunspots()
        split = len(values) - math.ceil(test_fraction * len(values))
        head = values[:split]
        self.mean = float(head.mean()) if standardize else 0.0
        self.std = float(head.std()) if standardize else 1.0
        scaled = ((values - self.mean) / self.std).astype(np.float32)
        part = scaled[:split] if train else scaled[split - window - horizon + 1:]
        super().__init__(part, window, horizon)
        first = window + horizon - 1 if train else split
        self.years = years[first:first + len(self)]
        self.train = train
