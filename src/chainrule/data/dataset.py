"""Datasets: the map-style ``Dataset`` protocol, tensors as a dataset, subsets and splits.

PyTorch's ``torch.utils.data`` names and semantics. A dataset may also define
``_get_batch(indices) -> list | None``: the batch for an index array, already collated as
``default_collate`` would (``None`` when it cannot); ``DataLoader`` uses it to fetch a whole
batch with one fancy-indexing per tensor instead of one ``__getitem__`` per sample.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from chainrule.creation import as_tensor
from chainrule.random import Generator, default_generator, rng
from chainrule.tensor import Tensor


class Dataset:
    """A map-style dataset: ``dataset[i]`` is the i-th sample and ``len(dataset)`` their count.

    Subclass it and define ``__getitem__`` and ``__len__``.

    >>> from chainrule.data import Dataset
    >>> class Squares(Dataset):
    ...     def __len__(self):
    ...         return 4
    ...     def __getitem__(self, i):
    ...         return i, i * i
    >>> Squares()[3]
    (3, 9)
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__}: subclasses of Dataset must define "
                                  "__getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: define ``__iter__`` (DataLoader batches it in order).

    >>> from chainrule.data import IterableDataset
    >>> class Count(IterableDataset):
    ...     def __iter__(self):
    ...         return iter(range(3))
    >>> list(Count())
    [0, 1, 2]
    """

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__}: subclasses of IterableDataset must "
                                  "define __iter__")


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _take(t: Tensor, indices: np.ndarray) -> Tensor:
    # NOTE: data tensors that require grad are indexed through autograd, as PyTorch would.
    if t.requires_grad:
        return t[indices]
    return Tensor._wrap(t._data[indices])


class TensorDataset(Dataset):
    """Tensors that share their first dimension; sample ``i`` is ``tuple(t[i] for t in tensors)``.

    NumPy arrays are accepted and wrapped without copying (their dtype is kept).

    Args:
        *tensors: tensors (or arrays) with the same size of the first dimension.

    >>> import chainrule
    >>> from chainrule.data import TensorDataset
    >>> ds = TensorDataset(chainrule.arange(6).reshape(3, 2), chainrule.tensor([0, 1, 0]))
    >>> len(ds), ds[1]
    (3, (tensor([2, 3]), tensor(1)))
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        self.tensors = tuple(_as_tensor(t) for t in tensors)
        sizes = [t.shape[0] if t.ndim else None for t in self.tensors]
        if any(s != sizes[0] for s in sizes) or sizes[0] is None:
            raise ValueError("TensorDataset: Size mismatch between tensors: the first "
                             f"dimensions must be equal, got shapes "
                             f"{[tuple(t.shape) for t in self.tensors]}")

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _get_batch(self, indices: np.ndarray) -> list[Tensor] | None:
        if type(self).__getitem__ is not TensorDataset.__getitem__:
            return None  # a subclass changed what a sample is
        return [_take(t, indices) for t in self.tensors]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    >>> from chainrule.data import Subset, TensorDataset
    >>> import chainrule
    >>> sub = Subset(TensorDataset(chainrule.arange(10)), [7, 2])
    >>> len(sub), sub[0]
    (2, (tensor(7),))
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices
        self._index_array = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __getitem__(self, idx: int | list[int]) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]  # type: ignore[index]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)

    def _get_batch(self, indices: np.ndarray) -> list | None:
        inner = getattr(self.dataset, "_get_batch", None)
        return None if inner is None else inner(self._index_array[indices])


class ConcatDataset(Dataset):
    """Several datasets one after the other.

    >>> from chainrule.data import ConcatDataset, TensorDataset
    >>> import chainrule
    >>> ds = ConcatDataset([TensorDataset(chainrule.zeros(2)), TensorDataset(chainrule.ones(3))])
    >>> len(ds), ds.cumulative_sizes, ds[4]
    (5, [2, 5], (tensor(1.),))
    """

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset: does not support IterableDataset "
                                f"({type(d).__name__})")
        sizes = [len(d) for d in self.datasets]  # type: ignore[arg-type]
        self.cumulative_sizes = np.cumsum(sizes).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> Any:
        if idx < 0:
            if -idx > len(self):
                raise IndexError(f"ConcatDataset: index {idx} out of range for length "
                                 f"{len(self)}")
            idx += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        if which == len(self.datasets):
            raise IndexError(f"ConcatDataset: index {idx} out of range for length {len(self)}")
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    lengths = list(lengths)
    if lengths and math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1:
        if any(f < 0 for f in lengths):
            raise ValueError(f"random_split: fractions must be non-negative, got {lengths}")
        counts = [int(math.floor(n * f)) for f in lengths]
        # NOTE: as PyTorch: the remainder goes one by one to the first lengths, round-robin.
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0; this might "
                              "result in an empty dataset", stacklevel=3)
        return counts
    if any(int(v) != v or v < 0 for v in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions "
                         f"summing to 1, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: Sum of input lengths ({int(sum(lengths))}) does not "
                         f"equal the length of the input dataset ({n})")
    return [int(v) for v in lengths]


def random_split(dataset: Dataset, lengths: Sequence[float],
                 generator: Generator | None = default_generator) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    Args:
        dataset: the dataset to split.
        lengths: sizes that sum to ``len(dataset)``, or fractions that sum to 1 (each gets
            ``floor(n * f)`` samples, the remainder spread one by one over the first splits).
        generator: source of the permutation (default: the one ``manual_seed`` seeds).

    >>> import chainrule
    >>> from chainrule.data import TensorDataset, random_split
    >>> ds = TensorDataset(chainrule.arange(10))
    >>> a, b = random_split(ds, [0.7, 0.3], generator=chainrule.Generator().manual_seed(0))
    >>> len(a), len(b), sorted(a.indices + b.indices) == list(range(10))
    (7, 3, True)
    """
    n = len(dataset)  # type: ignore[arg-type]
    counts = _split_lengths(n, lengths)
    perm = rng(generator).permutation(n).tolist()
    out, start = [], 0
    for c in counts:
        out.append(Subset(dataset, perm[start:start + c]))
        start += c
    return out
