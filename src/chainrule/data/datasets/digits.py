"""The UCI handwritten digits, embedded in the package (57 KB): arrays and a Dataset."""

from __future__ import annotations

import gzip
import math
from importlib import resources

import numpy as np

from chainrule.data.dataset import TensorDataset

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


class Digits(TensorDataset):
    """The embedded UCI digits as a dataset, split into a fixed train and test part.

    Samples are ``(image, label)``: a float32 tensor of shape (1, 8, 8) scaled to [0, 1]
    (or (64,) with ``flatten=True``) and an int64 label 0..9. The split is a permutation drawn
    from ``seed`` alone (independent of ``chainrule.manual_seed``): the same seed always gives
    the same test set, and the train and test parts of one seed never overlap.

    Args:
        train: the training part (1437 samples by default), else the test part
            (``ceil(test_fraction * 1797)`` samples, 360 by default).
        test_fraction: share of the 1797 samples held out for testing.
        seed: seed of the split.
        flatten: give each image as a vector of 64 values.

    >>> from chainrule.data.datasets import Digits
    >>> train, test = Digits(train=True), Digits(train=False)
    >>> len(train), len(test), tuple(train[0][0].shape)
    (1437, 360, (1, 8, 8))
    """

    def __init__(self, train: bool = True, *, test_fraction: float = 0.2, seed: int = 0,
                 flatten: bool = False) -> None:
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"Digits: test_fraction must be in (0, 1), got {test_fraction}")
        X, y = load_digits()
        order = np.random.default_rng(seed).permutation(len(X))
        n_test = math.ceil(test_fraction * len(X))
        part = order[n_test:] if train else order[:n_test]
        images = X[part] / 16.0
        images = images if flatten else images.reshape(-1, 1, 8, 8)
        super().__init__(images, y[part])
        self.data, self.targets = self.tensors
        self.train = train
        self.classes = [str(d) for d in range(10)]
