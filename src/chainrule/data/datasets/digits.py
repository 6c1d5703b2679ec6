"""The UCI handwritten digits, embedded in the package (57 KB)."""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np

ATTRIBUTION = ("UCI Optical Recognition of Handwritten Digits: E. Alpaydin, C. Kaynak (1998), "
               "UCI Machine Learning Repository, CC BY 4.0")


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digit images as ``(X, y)``: X float32 of shape (1797, 64) with values 0..16,
    y int64 labels 0..9.

    >>> from chainrule.data.datasets import load_digits
    >>> X, y = load_digits()
    >>> X.shape, y.shape, int(y.max())
    ((1797, 64), (1797,), 9)
    """
    raw = resources.files("chainrule.data.datasets").joinpath("digits.csv.gz").read_bytes()
    table = np.loadtxt(gzip.decompress(raw).decode().splitlines(), delimiter=",", dtype=np.int64)
    if table.shape != (1797, 65):
        raise ValueError(f"load_digits: the embedded file has shape {table.shape}, "
                         "expected (1797, 65); the package data is damaged")
    return table[:, :64].astype(np.float32), table[:, 64]
