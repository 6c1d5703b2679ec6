"""DataLoader: batches from a dataset, in sequential or shuffled order, with PyTorch's arguments.

Loading runs in the calling process. When the dataset can hand out a whole batch at once
(``TensorDataset`` and the built-in data sets, see ``Dataset._get_batch``) and ``collate_fn`` is
the default, a batch is one fancy-indexing per tensor; the result equals ``default_collate`` of
the samples.
"""

from __future__ import annotations

import collections.abc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule.creation import as_tensor, tensor
from chainrule.data.dataset import Dataset, IterableDataset
from chainrule.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from chainrule.ops.shape import stack
from chainrule.random import Generator
from chainrule.tensor import Tensor


def _np_to_tensor(x: np.ndarray | np.generic) -> Tensor:
    if x.dtype.kind not in "biuf":
        raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, "
                        f"dicts or lists; found a numpy array of dtype {x.dtype}")
    return as_tensor(np.asarray(x))


def default_convert(data: Any) -> Any:
    """NumPy arrays (also inside tuples, lists and dicts) to tensors; everything else as is.

    >>> import numpy as np
    >>> from chainrule.data import default_convert
    >>> default_convert({"x": np.zeros(2)})
    {'x': tensor([0., 0.], dtype=float64)}
    """
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return _np_to_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return type(data)({k: default_convert(v) for k, v in data.items()})  # type: ignore
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data


def default_collate(batch: list) -> Any:
    """Merge a list of samples into a batch, as PyTorch's ``default_collate``.

    Tensors and NumPy arrays are stacked along a new first dimension; Python floats become a
    float64 tensor, ints an int64 tensor; strings stay a list; dicts are collated per key;
    named tuples stay named tuples; tuples and lists are collated per position (a tuple gives a
    list, as in PyTorch).

    >>> import chainrule
    >>> from chainrule.data import default_collate
    >>> default_collate([(chainrule.zeros(2), 0), (chainrule.ones(2), 1)])
    [tensor([[0., 0.],
            [1., 1.]]), tensor([0, 1])]
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch, 0)
    if isinstance(elem, np.ndarray):
        return stack([_np_to_tensor(b) for b in batch], 0)
    if isinstance(elem, np.generic):
        return _np_to_tensor(np.asarray(batch))
    if isinstance(elem, bool):
        return tensor(batch)
    if isinstance(elem, float):
        return tensor(batch, dtype="float64")
    if isinstance(elem, int):
        return tensor(batch, dtype="int64")
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return type(elem)({k: default_collate([d[k] for d in batch]) for k in elem})  # type: ignore
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(b) != len(elem) for b in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of "
                               f"equal size, got sizes {sorted({len(b) for b in batch})}")
        columns = [default_collate(list(s)) for s in zip(*batch)]
        return columns if isinstance(elem, tuple) else type(elem)(columns)  # type: ignore
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts "
                    f"or lists; found {type(elem)}")


class DataLoader:
    """Iterate over a dataset in mini-batches.

    Args:
        dataset: a map-style ``Dataset`` (``__getitem__``/``__len__``) or an
            ``IterableDataset``.
        batch_size: samples per batch (default 1); ``None`` yields single samples, uncollated.
        shuffle: visit the samples in a new random order every epoch (default False).
        sampler: the order of the indices (exclusive with ``shuffle``).
        batch_sampler: yields whole lists of indices (exclusive with ``batch_size``,
            ``shuffle``, ``sampler`` and ``drop_last``).
        num_workers: accepted for compatibility; loading always runs in this process.
        collate_fn: merges a list of samples into a batch (default ``default_collate``).
        pin_memory: accepted for compatibility (there is no GPU).
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        generator: random source of ``shuffle`` (default: the one ``chainrule.manual_seed``
            seeds).

    Every index is visited once per epoch; each ``iter(loader)`` draws a fresh order.

    >>> import chainrule
    >>> from chainrule.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(chainrule.arange(10).float(), chainrule.arange(10))
    >>> loader = DataLoader(ds, batch_size=4, shuffle=True)
    >>> len(loader), [tuple(x.shape) for x, y in loader]
    (3, [(4,), (4,), (2,)])
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | Any = None, batch_sampler: Any = None,
                 num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable | None = None, multiprocessing_context: Any = None,
                 generator: Generator | None = None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = "",
                 in_order: bool = True) -> None:
        self.dataset = dataset
        self.num_workers, self.pin_memory, self.timeout = num_workers, pin_memory, timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        iterable = isinstance(dataset, IterableDataset)
        if iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise ValueError("DataLoader: an IterableDataset has its own order; expected "
                             "shuffle, sampler and batch_sampler unset")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is "
                             "mutually exclusive with drop_last")
        if sampler is None and not iterable:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None and not iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last = batch_size, drop_last
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self._auto_collation = batch_sampler is not None or (iterable and batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None
                   else self.sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        if isinstance(self.dataset, IterableDataset):
            return self._iter_stream()
        if not self._auto_collation:
            return (self.collate_fn(self.dataset[i]) for i in self.sampler)
        get_batch = getattr(self.dataset, "_get_batch", None)
        if self.collate_fn is not default_collate:
            get_batch = None
        return self._iter_batches(get_batch)

    def _iter_batches(self, get_batch: Callable | None) -> Iterator[Any]:
        for indices in self.batch_sampler:
            batch = None
            if get_batch is not None:
                batch = get_batch(np.asarray(indices, dtype=np.int64))
                if batch is None:
                    get_batch = None
            if batch is None:
                batch = self.collate_fn([self.dataset[i] for i in indices])
            yield batch

    def _iter_stream(self) -> Iterator[Any]:
        if self.batch_size is None:
            yield from (self.collate_fn(s) for s in self.dataset)
            return
        batch: list = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {_len_or_q(self.dataset)} "
                f"samples, batch_size={self.batch_size}, "
                f"shuffle={isinstance(self.sampler, RandomSampler)}, drop_last={self.drop_last})")


def _len_or_q(dataset: Dataset) -> str:
    try:
        return str(len(dataset))  # type: ignore[arg-type]
    except TypeError:
        return "?"
