"""Metrics as functions of whole arrays (or tensors): scikit-learn's definitions and argument
order ``(y_true, y_pred)``.

Classification functions take ``y_pred`` as labels, or as scores of shape (N, C) (the argmax is
the predicted label), or as 1-d probabilities for binary tasks (thresholded at ``threshold``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

AVERAGES = ("binary", "micro", "macro", "weighted", None)


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy array of ``x`` (a tensor's array is shared, not copied)."""
    numpy = getattr(x, "numpy", None)
    if callable(numpy) and not isinstance(x, np.ndarray):
        return np.asarray(x.detach().numpy() if hasattr(x, "detach") else numpy())
    return np.asarray(x)


def to_labels(y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """Predicted labels from labels, (N, C) scores or 1-d binary probabilities."""
    p = to_numpy(y_pred)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.ndim == 2:
        return p.argmax(axis=1)
    if p.ndim != 1:
        raise ValueError(f"metrics: predictions of shape {p.shape} are not labels (N,), scores "
                         "(N, C) or binary probabilities (N,) / (N, 1)")
    if p.dtype.kind == "f":
        # NOTE: float predictions that are all whole numbers are labels (e.g. 0., 1., 2.);
        # others are probabilities of the positive class, cut at `threshold`.
        if np.all(p == np.round(p)):
            return p.astype(np.int64)
        return (p >= threshold).astype(np.int64)
    return p


def _labels_and_true(y_true: Any, y_pred: Any, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    t = to_numpy(y_true)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    p = to_labels(y_pred, threshold)
    if t.ndim != 1 or t.shape != p.shape:
        raise ValueError(f"metrics: y_true of shape {t.shape} does not match the predicted "
                         f"labels of shape {p.shape}; expected one label per sample")
    return t, p


def accuracy(y_true: Any, y_pred: Any, *, threshold: float = 0.5) -> float:
    """The fraction of samples whose predicted label equals the true one.

    >>> from chainrule.metrics import accuracy
    >>> accuracy([0, 1, 2, 2], [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [1, 0, 0]])
    0.75
    """
    t, p = _labels_and_true(y_true, y_pred, threshold)
    if t.size == 0:
        raise ValueError("accuracy: no samples")
    return float((t == p).mean())


def top_k_accuracy(y_true: Any, y_score: Any, k: int = 5) -> float:
    """The fraction of samples whose true class is among the ``k`` highest of its scores.

    ``y_score`` has shape (N, C); class ``c`` is column ``c``.

    >>> from chainrule.metrics import top_k_accuracy
    >>> top_k_accuracy([0, 1, 2], [[0.5, 0.3, 0.2], [0.5, 0.2, 0.3], [0.1, 0.5, 0.4]], k=2)
    0.6666666666666666
    """
    return float(top_k_correct(y_true, y_score, k).mean())


def top_k_correct(y_true: Any, y_score: Any, k: int) -> np.ndarray:
    t, s = to_numpy(y_true).reshape(-1), to_numpy(y_score)
    if s.ndim != 2 or s.shape[0] != t.shape[0]:
        raise ValueError(f"top_k_accuracy: expected scores of shape (N, C) with N = "
                         f"{t.shape[0]} labels, got {s.shape}")
    if t.size and (t.min() < 0 or t.max() >= s.shape[1]):
        raise ValueError(f"top_k_accuracy: labels must be in 0..{s.shape[1] - 1} (a column of "
                         f"the scores), got {t.min()}..{t.max()}")
    true_score = s[np.arange(len(t)), t]
    # NOTE: a sample counts as correct when fewer than k classes score strictly higher than the
    # true class (ties are resolved in its favour).
    return (s > true_score[:, None]).sum(axis=1) < k


def confusion_matrix(y_true: Any, y_pred: Any, labels: Sequence | None = None, *,
                     threshold: float = 0.5) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``labels[i]`` predicted as ``labels[j]``.

    ``labels`` default to the sorted union of the labels in ``y_true`` and ``y_pred``.

    >>> from chainrule.metrics import confusion_matrix
    >>> confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2])
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    t, p = _labels_and_true(y_true, y_pred, threshold)
    classes = np.unique(np.concatenate([t, p])) if labels is None else np.asarray(labels)
    return _confusion(t, p, classes)


def _confusion(t: np.ndarray, p: np.ndarray, classes: np.ndarray) -> np.ndarray:
    # NOTE: samples whose true or predicted label is not in `classes` are left out (as in
    # scikit-learn).
    n = len(classes)
    if t.dtype.kind in "iu" and p.dtype.kind in "iu" and np.array_equal(classes, np.arange(n)):
        ti, pi = t.astype(np.int64), p.astype(np.int64)
    else:
        index = {c: i for i, c in enumerate(classes.tolist())}
        ti = np.array([index.get(c, -1) for c in t.tolist()], dtype=np.int64)
        pi = np.array([index.get(c, -1) for c in p.tolist()], dtype=np.int64)
    keep = (ti >= 0) & (ti < n) & (pi >= 0) & (pi < n)
    return np.bincount(ti[keep] * n + pi[keep], minlength=n * n).reshape(n, n)


def _divide(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    out = np.full(num.shape, float(zero_division))
    np.divide(num, den, out=out, where=den != 0)
    return out


def scores_from_confusion(cm: np.ndarray, classes: np.ndarray, kind: str, average: str | None,
                          pos_label: Any = 1, zero_division: float = 0.0) -> Any:
    """Precision, recall or F1 (``kind``) from a confusion matrix over ``classes``."""
    if average not in AVERAGES:
        raise ValueError(f"{kind}: average must be one of {AVERAGES}, got {average!r}")
    tp = np.diag(cm).astype(np.float64)
    pred, true = cm.sum(axis=0).astype(np.float64), cm.sum(axis=1).astype(np.float64)
    if average == "binary":
        if len(classes) > 2:
            raise ValueError(f"{kind}: Target is multiclass ({len(classes)} labels) but "
                             "average='binary'; choose average='micro', 'macro' or 'weighted'")
        where = np.flatnonzero(classes == pos_label)
        if where.size == 0 and len(classes) == 2:
            raise ValueError(f"{kind}: pos_label={pos_label!r} is not a valid label; the "
                             f"labels are {classes.tolist()}")
        if where.size:
            i = where[0]
            tp, pred, true = tp[i:i + 1], pred[i:i + 1], true[i:i + 1]
        else:  # the positive class occurs nowhere: every count is 0
            tp = pred = true = np.zeros(1)
    elif average == "micro":
        tp, pred, true = tp.sum(keepdims=True), pred.sum(keepdims=True), true.sum(keepdims=True)
    if kind == "precision":
        per = _divide(tp, pred, zero_division)
    elif kind == "recall":
        per = _divide(tp, true, zero_division)
    else:
        # NOTE: F1 = 2 tp / (2 tp + fp + fn), scikit-learn's form (defined whenever the class
        # occurs at all, equal to the harmonic mean of precision and recall).
        per = _divide(2 * tp, pred + true, zero_division)
    if average is None:
        return per
    if average == "weighted":
        if true.sum() == 0:
            return float(zero_division)
        return float(np.average(per, weights=true))
    return float(per.mean()) if per.size else float(zero_division)


def _prf(kind: str, y_true: Any, y_pred: Any, average: str | None, labels: Sequence | None,
         pos_label: Any, zero_division: float, threshold: float) -> Any:
    t, p = _labels_and_true(y_true, y_pred, threshold)
    classes = np.unique(np.concatenate([t, p])) if labels is None else np.asarray(labels)
    return scores_from_confusion(_confusion(t, p, classes), classes, kind, average, pos_label,
                                 zero_division)


def precision(y_true: Any, y_pred: Any, *, average: str | None = "binary",
              labels: Sequence | None = None, pos_label: Any = 1, zero_division: float = 0.0,
              threshold: float = 0.5) -> Any:
    """Precision tp / (tp + fp), as scikit-learn's ``precision_score``.

    Args:
        average: ``'binary'`` (the class ``pos_label`` only), ``'micro'`` (pooled counts),
            ``'macro'`` (unweighted mean over classes), ``'weighted'`` (mean weighted by each
            class's true count) or ``None`` (one value per class).
        labels: the classes to consider (default: those in y_true or y_pred).
        zero_division: the value of 0/0.

    >>> from chainrule.metrics import precision
    >>> precision([0, 1, 1, 0], [1, 1, 1, 0])
    0.6666666666666666
    >>> precision([0, 1, 2, 2], [0, 2, 2, 2], average="macro")
    0.5555555555555555
    """
    return _prf("precision", y_true, y_pred, average, labels, pos_label, zero_division,
                threshold)


def recall(y_true: Any, y_pred: Any, *, average: str | None = "binary",
           labels: Sequence | None = None, pos_label: Any = 1, zero_division: float = 0.0,
           threshold: float = 0.5) -> Any:
    """Recall tp / (tp + fn), as scikit-learn's ``recall_score`` (arguments as
    :func:`precision`).

    >>> from chainrule.metrics import recall
    >>> recall([0, 1, 1, 0], [1, 1, 0, 0])
    0.5
    """
    return _prf("recall", y_true, y_pred, average, labels, pos_label, zero_division, threshold)


def f1_score(y_true: Any, y_pred: Any, *, average: str | None = "binary",
             labels: Sequence | None = None, pos_label: Any = 1, zero_division: float = 0.0,
             threshold: float = 0.5) -> Any:
    """F1, the harmonic mean of precision and recall, as scikit-learn's ``f1_score``
    (arguments as :func:`precision`).

    >>> from chainrule.metrics import f1_score
    >>> f1_score([0, 1, 1, 0], [1, 1, 0, 0])
    0.5
    """
    return _prf("f1", y_true, y_pred, average, labels, pos_label, zero_division, threshold)


def regression_pair(y_true: Any, y_pred: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` and ``y_pred`` as 2-d (N, outputs) float64 arrays of the same shape."""
    t, p = to_numpy(y_true), to_numpy(y_pred)
    if t.shape != p.shape:
        # NOTE: (N,) against (N, 1) is reshaped, never broadcast to (N, N).
        if t.size != p.size:
            raise ValueError(f"{name}: y_true of shape {t.shape} and y_pred of shape {p.shape} "
                             "do not match")
        p = p.reshape(t.shape)
    t = t.reshape(len(t), -1) if t.ndim else t.reshape(1, 1)
    return t.astype(np.float64), p.reshape(t.shape).astype(np.float64)


def mean_squared_error(y_true: Any, y_pred: Any) -> float:
    """The mean of the squared differences (over all samples and outputs).

    >>> from chainrule.metrics import mean_squared_error
    >>> mean_squared_error([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    1.3333333333333333
    """
    t, p = regression_pair(y_true, y_pred, "mean_squared_error")
    return float(np.mean((t - p) ** 2))


def mean_absolute_error(y_true: Any, y_pred: Any) -> float:
    """The mean of the absolute differences (over all samples and outputs).

    >>> from chainrule.metrics import mean_absolute_error
    >>> mean_absolute_error([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    0.6666666666666666
    """
    t, p = regression_pair(y_true, y_pred, "mean_absolute_error")
    return float(np.mean(np.abs(t - p)))


def r2_from_sums(ss_res: np.ndarray, ss_tot: np.ndarray) -> float:
    # NOTE: scikit-learn's convention for a constant target: 1 if predicted exactly, else 0.
    r2 = np.where(ss_tot != 0, 1.0 - ss_res / np.where(ss_tot != 0, ss_tot, 1.0),
                  np.where(ss_res == 0, 1.0, 0.0))
    return float(r2.mean())


def r2_score(y_true: Any, y_pred: Any) -> float:
    """The coefficient of determination 1 - SS_res / SS_tot, averaged over outputs.

    >>> from chainrule.metrics import r2_score
    >>> r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.5
    """
    t, p = regression_pair(y_true, y_pred, "r2_score")
    ss_res = ((t - p) ** 2).sum(axis=0)
    ss_tot = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    return r2_from_sums(ss_res, ss_tot)
