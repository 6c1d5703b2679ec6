"""Data sets: embedded (UCI digits, sunspots), read from files (MNIST, Fashion-MNIST, CSV, text)
and generated (the adding problem)."""

from chainrule.data.datasets.digits import ATTRIBUTION, Digits, load_digits
from chainrule.data.datasets.idx import read_idx, write_idx
from chainrule.data.datasets.mnist import MNIST, FashionMNIST
from chainrule.data.datasets.synthetic import AddingProblem
from chainrule.data.datasets.tabular import CSVDataset
from chainrule.data.datasets.text import CharDataset, shakespeare
from chainrule.data.datasets.timeseries import (
    SUNSPOTS_ATTRIBUTION,
    Sunspots,
    WindowDataset,
    load_sunspots,
)

__all__ = ["ATTRIBUTION", "AddingProblem", "CSVDataset", "CharDataset", "Digits",
           "FashionMNIST", "MNIST", "SUNSPOTS_ATTRIBUTION", "Sunspots", "WindowDataset",
           "load_digits", "load_sunspots", "read_idx", "shakespeare", "write_idx"]
