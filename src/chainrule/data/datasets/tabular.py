"""A dataset from a CSV table: numeric feature columns and one target column."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np

from chainrule.data.dataset import TensorDataset
from chainrule.data.datasets._storage import read_maybe_gzip

_MISSING = {"", "na", "nan", "null", "none", "?"}


def _number(cell: str) -> float | None:
    c = cell.strip()
    if c.lower() in _MISSING:
        return math.nan
    try:
        return float(c)
    except ValueError:
        return None


class CSVDataset(TensorDataset):
    """Rows of a CSV file (gzipped or not) as ``(features, target)`` samples.

    Features are float32 (empty cells and ``NA``/``nan``/``?`` become NaN); a numeric target
    is float32 (or ``target_dtype``), a non-numeric one becomes class indices (int64) into
    ``.classes`` (sorted). ``.columns`` names the feature columns.

    Args:
        path: the CSV file.
        target: the target column, by name or index (default: the last); ``None`` for none
            (samples are then ``(features,)``).
        features: the feature columns, by name or index (default: all others).
        delimiter: the field separator.
        header: the first row holds column names.
        target_dtype: dtype of a numeric target, e.g. ``"int64"`` for integer class labels.

    >>> import os, tempfile
    >>> from chainrule.data.datasets import CSVDataset
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("a,b,kind\\n1,2,cat\\n3,,dog\\n")
    >>> ds = CSVDataset(path, target="kind")
    >>> ds.columns, ds.classes, ds[1]
    (['a', 'b'], ['cat', 'dog'], (tensor([ 3., nan]), tensor(1)))
    """

    def __init__(self, path: str | os.PathLike, target: str | int | None = -1,
                 features: list[str | int] | None = None, delimiter: str = ",",
                 header: bool = True, target_dtype: str | None = None) -> None:
        path = Path(path)
        text = read_maybe_gzip(path).decode("utf-8-sig")
        rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
        names = [c.strip() for c in rows[0]] if header and rows else []
        body = rows[1:] if header else rows
        if not body:
            raise ValueError(f"CSVDataset: {path} has no data rows")
        width = len(names) if header else len(body[0])
        names = names or [str(i) for i in range(width)]
        for line, r in enumerate(body, start=2 if header else 1):
            if len(r) != width:
                raise ValueError(f"CSVDataset: {path}, line {line}: {len(r)} fields, expected "
                                 f"{width} like the first row")

        def column(c: str | int) -> int:
            if isinstance(c, int) and -width <= c < width:
                return c % width
            if isinstance(c, str) and c in names:
                return names.index(c)
            raise ValueError(f"CSVDataset: {path} has no column {c!r}; columns are {names}")

        t = None if target is None else column(target)
        cols = [column(c) for c in features] if features is not None else [
            i for i in range(width) if i != t]
        X = np.empty((len(body), len(cols)), dtype=np.float32)
        for i, r in enumerate(body):
            for j, c in enumerate(cols):
                v = _number(r[c])
                if v is None:
                    raise ValueError(f"CSVDataset: {path}, line {i + (2 if header else 1)}, "
                                     f"column {names[c]!r}: {r[c]!r} is not a number")
                X[i, j] = v
        self.columns = [names[c] for c in cols]
        self.classes: list[str] | None = None
        if t is None:
            super().__init__(X)
            return
        cells = [r[t].strip() for r in body]
        values = [_number(c) for c in cells]
        if any(v is None for v in values):
            self.classes = sorted(set(cells))
            index = {c: k for k, c in enumerate(self.classes)}
            y = np.array([index[c] for c in cells], dtype=np.int64)
        else:
            y = np.array(values, dtype=target_dtype or np.float32)
        self.target = names[t]
        super().__init__(X, y)
