"""Streaming metrics: accumulate over every batch of an epoch, then compute once.

Each keeps the sufficient statistics (counts, a confusion matrix, sums), so the result over an
epoch equals the function applied to the whole epoch's predictions, not a mean of batch values.
``update(y_true, y_pred)`` takes the same arguments as the functions in
``chainrule.metrics.functional``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.metrics import functional as M


class Metric:
    """Base of the streaming metrics: ``reset()``, ``update(y_true, y_pred)``, ``compute()``.

    ``name`` is the key under which ``fit`` logs the value.
    """

    name = "metric"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, y_true: Any, y_pred: Any) -> None:
        raise NotImplementedError

    def compute(self) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Accuracy(Metric):
    """The fraction of correctly labelled samples over everything seen since ``reset()``.

    >>> from chainrule.metrics import Accuracy
    >>> m = Accuracy()
    >>> m.update([0, 1], [0, 0]); m.update([1, 1, 1], [1, 1, 1])
    >>> m.compute()
    0.8
    """

    name = "accuracy"

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        super().__init__()

    def reset(self) -> None:
        self.correct, self.total = 0, 0

    def update(self, y_true: Any, y_pred: Any) -> None:
        t, p = M._labels_and_true(y_true, y_pred, self.threshold)
        self.correct += int((t == p).sum())
        self.total += t.size

    def compute(self) -> float:
        return self.correct / self.total if self.total else float("nan")


class TopKAccuracy(Metric):
    """The fraction of samples whose true class is among the ``k`` highest scores."""

    def __init__(self, k: int = 5) -> None:
        self.k, self.name = k, f"top{k}_accuracy"
        super().__init__()

    def reset(self) -> None:
        self.correct, self.total = 0, 0

    def update(self, y_true: Any, y_pred: Any) -> None:
        hit = M.top_k_correct(y_true, y_pred, self.k)
        self.correct += int(hit.sum())
        self.total += hit.size

    def compute(self) -> float:
        return self.correct / self.total if self.total else float("nan")


def _padded(matrix: np.ndarray, n: int, copy: bool = False) -> np.ndarray:
    """``matrix`` grown with zeros to at least n x n (itself when large enough, unless ``copy``)."""
    if n <= len(matrix):
        return matrix.copy() if copy else matrix
    out = np.zeros((n, n), dtype=np.int64)
    out[:len(matrix), :len(matrix)] = matrix
    return out


class _ConfusionMetric(Metric):
    """Accumulates a confusion matrix over integer labels 0, 1, 2, ... (grown as needed)."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        super().__init__()

    def reset(self) -> None:
        self.matrix = np.zeros((0, 0), dtype=np.int64)

    def update(self, y_true: Any, y_pred: Any) -> None:
        t, p = M._labels_and_true(y_true, y_pred, self.threshold)
        if t.size == 0:
            return
        if t.dtype.kind == "f" and np.all(t == np.round(t)):
            t = t.astype(np.int64)
        if t.dtype.kind not in "iu" or t.min() < 0 or p.min() < 0:
            raise ValueError(f"{type(self).__name__}: streaming metrics need labels 0, 1, 2, "
                             f"...; got y_true of dtype {t.dtype} in {t.min()}..{t.max()}")
        self.matrix = _padded(self.matrix, max(int(t.max()), int(p.max())) + 1)
        self.matrix += M._confusion(t, p, np.arange(len(self.matrix)))

    def present(self) -> tuple[np.ndarray, np.ndarray]:
        """The confusion matrix over the labels seen (in y_true or y_pred), and those labels."""
        seen = np.flatnonzero(self.matrix.sum(axis=0) + self.matrix.sum(axis=1))
        return self.matrix[np.ix_(seen, seen)], seen


class ConfusionMatrix(_ConfusionMetric):
    """The confusion matrix of everything seen, rows true and columns predicted labels.

    ``num_classes`` fixes its size; by default it covers 0..(the largest label seen).

    >>> from chainrule.metrics import ConfusionMatrix
    >>> m = ConfusionMatrix(num_classes=3)
    >>> m.update([0, 2], [0, 1]); m.update([1], [1])
    >>> m.compute()
    array([[1, 0, 0],
           [0, 1, 0],
           [0, 1, 0]])
    """

    name = "confusion_matrix"

    def __init__(self, num_classes: int | None = None, threshold: float = 0.5) -> None:
        self.num_classes = num_classes
        super().__init__(threshold)

    def compute(self) -> np.ndarray:
        return _padded(self.matrix, self.num_classes or 0, copy=True)


class _PRF(_ConfusionMetric):
    kind = ""

    def __init__(self, average: str | None = "binary", pos_label: int = 1,
                 zero_division: float = 0.0, threshold: float = 0.5) -> None:
        if average not in M.AVERAGES:
            raise ValueError(f"{type(self).__name__}: average must be one of {M.AVERAGES}, got "
                             f"{average!r}")
        self.average, self.pos_label, self.zero_division = average, pos_label, zero_division
        self.name = self.kind if average in ("binary", None) else f"{average}_{self.kind}"
        super().__init__(threshold)

    def compute(self) -> Any:
        cm, classes = self.present()
        return M.scores_from_confusion(cm, classes, self.kind, self.average, self.pos_label,
                                       self.zero_division)


class Precision(_PRF):
    """Precision over everything seen; ``average`` as in :func:`chainrule.metrics.precision`.

    >>> from chainrule.metrics import Precision
    >>> m = Precision(average="macro")
    >>> m.update([0, 1], [0, 2]); m.update([2, 2], [2, 2])
    >>> m.name, round(m.compute(), 4)
    ('macro_precision', 0.5556)
    """

    kind = "precision"


class Recall(_PRF):
    """Recall over everything seen; ``average`` as in :func:`chainrule.metrics.recall`."""

    kind = "recall"


class F1Score(_PRF):
    """F1 over everything seen; ``average`` as in :func:`chainrule.metrics.f1_score`."""

    kind = "f1"


class MeanSquaredError(Metric):
    """The mean squared error over every sample and output seen."""

    name = "mse"

    def reset(self) -> None:
        self.sum, self.count = 0.0, 0

    def update(self, y_true: Any, y_pred: Any) -> None:
        t, p = M.regression_pair(y_true, y_pred, type(self).__name__)
        self.sum += float(np.square(t - p).sum())
        self.count += t.size

    def compute(self) -> float:
        return self.sum / self.count if self.count else float("nan")


class MeanAbsoluteError(MeanSquaredError):
    """The mean absolute error over every sample and output seen."""

    name = "mae"

    def update(self, y_true: Any, y_pred: Any) -> None:
        t, p = M.regression_pair(y_true, y_pred, type(self).__name__)
        self.sum += float(np.abs(t - p).sum())
        self.count += t.size


class R2Score(Metric):
    """The coefficient of determination over everything seen (averaged over outputs).

    >>> import numpy as np
    >>> from chainrule.metrics import R2Score, r2_score
    >>> t, p = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.5, 4.5])
    >>> m = R2Score(); m.update(t[:1], p[:1]); m.update(t[1:], p[1:])
    >>> bool(np.isclose(m.compute(), r2_score(t, p)))
    True
    """

    name = "r2"

    def reset(self) -> None:
        self.count = 0
        self.mean: Any = 0.0
        self.m2: Any = 0.0
        self.ss_res: Any = 0.0

    def update(self, y_true: Any, y_pred: Any) -> None:
        t, p = M.regression_pair(y_true, y_pred, type(self).__name__)
        if len(t) == 0:
            return
        # NOTE: the total sum of squares is merged batch by batch with Chan et al.'s update
        # (mean and sum of squared deviations), not as sum(y^2) - n mean^2, which cancels
        # catastrophically when the mean is large.
        nb, mb = len(t), t.mean(axis=0)
        m2b = ((t - mb) ** 2).sum(axis=0)
        n = self.count + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2b + delta ** 2 * (self.count * nb / n)
        self.ss_res = self.ss_res + ((t - p) ** 2).sum(axis=0)
        self.count = n

    def compute(self) -> float:
        if not self.count:
            return float("nan")
        return M.r2_from_sums(np.asarray(self.ss_res), np.asarray(self.m2))


class FunctionMetric(Metric):
    """Any ``fn(y_true, y_pred) -> float``, applied once to everything seen (concatenated)."""

    def __init__(self, fn: Callable[[Any, Any], float], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or str(getattr(fn, "__name__", "metric"))
        super().__init__()

    def reset(self) -> None:
        self.trues: list[np.ndarray] = []
        self.preds: list[np.ndarray] = []

    def update(self, y_true: Any, y_pred: Any) -> None:
        self.trues.append(np.array(M.to_numpy(y_true)))
        self.preds.append(np.array(M.to_numpy(y_pred)))

    def compute(self) -> Any:
        return self.fn(np.concatenate(self.trues), np.concatenate(self.preds))


_NAMED: dict[str, Callable[[], Metric]] = {
    "accuracy": Accuracy, "acc": Accuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "r2": R2Score, "r2_score": R2Score,
}
_PRF_KINDS = {"precision": Precision, "recall": Recall, "f1": F1Score, "f1_score": F1Score}


def get_metric(spec: str | Metric | Callable) -> Metric:
    """A fresh streaming metric from a name, a ``Metric`` (returned as is) or a function.

    Names: ``accuracy``, ``top5_accuracy`` (any k; ``top_k_accuracy`` is k=5), ``precision``,
    ``recall``, ``f1`` (binary) and their ``micro_``/``macro_``/``weighted_`` forms
    (``macro_f1``...), ``mse``, ``mae``, ``r2``.

    >>> from chainrule.metrics import get_metric
    >>> get_metric("macro_f1")
    F1Score(name='macro_f1')
    """
    if isinstance(spec, Metric):
        return spec
    if callable(spec):
        return FunctionMetric(spec)
    if not isinstance(spec, str):
        raise TypeError(f"get_metric: expected a name, a Metric or a function, got "
                        f"{type(spec).__name__}")
    name = spec.lower()
    if name in _NAMED:
        return _NAMED[name]()
    if name.startswith("top") and name.endswith("_accuracy"):
        k = name[3:-len("_accuracy")].strip("_")
        if k == "k" or k.isdigit():
            return TopKAccuracy(5 if k == "k" else int(k))
    average, kind = "binary", name
    for prefix in ("micro_", "macro_", "weighted_"):
        if name.startswith(prefix):
            average, kind = prefix[:-1], name[len(prefix):]
    if kind in _PRF_KINDS:
        return _PRF_KINDS[kind](average=average)
    raise ValueError(f"get_metric: unknown metric {spec!r}; expected 'accuracy', "
                     "'top5_accuracy', 'precision'/'recall'/'f1' optionally prefixed by "
                     "'micro_', 'macro_' or 'weighted_', 'mse', 'mae', 'r2', a Metric or a "
                     "function(y_true, y_pred)")
