"""Batches of variable-length sequences: padding and packing, as ``torch.nn.utils.rnn``.

A packed sequence holds the sequences sorted by length (longest first) and time-major: the
``batch_sizes[t]`` sequences still running at step ``t`` contribute one row each to ``data``.
The recurrent layers run a packed batch without ever seeing padding, so each sequence's final
state is the one after its own last step.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from chainrule.ops.recurrent import GatherRows, ScatterRows
from chainrule.ops.shape import cat, reshape
from chainrule.tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pack_sequence",
           "pad_packed_sequence", "pad_sequence", "unpack_sequence", "unpad_sequence"]

_PackedSequenceBase = namedtuple(
    "_PackedSequenceBase", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


class PackedSequence(_PackedSequenceBase):
    """A batch of variable-length sequences packed for the recurrent layers.

    Make one with :func:`pack_padded_sequence` or :func:`pack_sequence`, never by hand.

    Attributes:
        data: (sum(batch_sizes), *) rows, time-major, sequences sorted longest first.
        batch_sizes: int64 tensor, how many sequences are still running at each time step.
        sorted_indices: int64 tensor, the original batch index of each sorted sequence (None
            when the batch was already sorted).
        unsorted_indices: its inverse permutation (None likewise).

    >>> import chainrule
    >>> from chainrule.nn.utils.rnn import pack_sequence
    >>> p = pack_sequence([chainrule.ones(3, 2), chainrule.ones(1, 2)])
    >>> p.data.shape, p.batch_sizes.tolist()
    ((4, 2), [2, 1, 1])
    """

    __slots__ = ()

    def __new__(cls, data: Tensor, batch_sizes: Tensor | None = None,
                sorted_indices: Tensor | None = None,
                unsorted_indices: Tensor | None = None) -> PackedSequence:
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """The same sequence with ``data`` converted (e.g. ``.to(chainrule.float64)``)."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def double(self) -> PackedSequence:
        return self.to(np.float64)

    def float(self) -> PackedSequence:
        return self.to(np.float32)

    def cpu(self) -> PackedSequence:
        return self

    @property
    def is_cuda(self) -> bool:
        return False


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a 1-D permutation tensor (None stays None)."""
    if permutation is None:
        return None
    p = np.asarray(permutation._data if isinstance(permutation, Tensor) else permutation)
    inv = np.empty_like(p)
    inv[p] = np.arange(p.size, dtype=p.dtype)
    return Tensor._wrap(inv)


def _lengths(lengths, batch: int, steps: int) -> np.ndarray:
    arr = np.asarray(lengths._data if isinstance(lengths, Tensor) else lengths)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"pack_padded_sequence: lengths should be a 1-D list or tensor of "
                         f"integers, got shape {arr.shape} and dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size != batch:
        raise ValueError(f"pack_padded_sequence: expected one length per sequence, got "
                         f"{arr.size} lengths for a batch of {batch}")
    if arr.size and arr.min() <= 0:
        raise ValueError("pack_padded_sequence: every length has to be greater than 0, got "
                         f"{arr.tolist()}")
    if arr.size and arr.max() > steps:
        raise ValueError(f"pack_padded_sequence: a length of {arr.max()} exceeds the "
                         f"{steps} time steps of the padded input")
    return arr


def _rows(batch_sizes: np.ndarray, order: np.ndarray, batch: int, steps: int,
          batch_first: bool) -> np.ndarray:
    """For each packed row (step t, sorted position j), its row in the padded batch flattened
    to (steps * batch) or (batch * steps)."""
    t, j = np.nonzero(np.arange(batch_sizes[0])[None, :] < batch_sizes[:, None])
    b = order[j]
    return b * steps + t if batch_first else t * batch + b


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch of variable-length sequences.

    Args:
        input: (T, B, *) padded sequences, or (B, T, *) if ``batch_first``.
        lengths: each sequence's length (a list or a 1-D integer tensor).
        batch_first: whether ``input`` is batch-major.
        enforce_sorted: if True the lengths must be non-increasing; if False the batch is
            sorted here and ``sorted_indices`` / ``unsorted_indices`` record the permutation.

    >>> import chainrule
    >>> from chainrule.nn.utils.rnn import pack_padded_sequence
    >>> p = pack_padded_sequence(chainrule.ones(4, 3, 2), [2, 4, 1], enforce_sorted=False)
    >>> p.batch_sizes.tolist(), p.sorted_indices.tolist()
    ([3, 2, 1, 1], [1, 0, 2])
    """
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: expected a padded input with at least 2 dims, "
                         f"got shape {input.shape}")
    batch, steps = (input.shape[0], input.shape[1]) if batch_first else input.shape[1::-1]
    lens = _lengths(lengths, batch, steps)
    if enforce_sorted:
        if np.any(lens[1:] > lens[:-1]):
            raise RuntimeError(
                f"pack_padded_sequence: `lengths` {lens.tolist()} must be sorted in decreasing "
                "order when enforce_sorted is True; pass enforce_sorted=False to sort them here")
        order, sorted_indices = np.arange(batch), None
    else:
        # NOTE: a stable sort, so equal lengths keep their order.
        order = np.argsort(-lens, kind="stable")
        sorted_indices = Tensor._wrap(order.astype(np.int64))
    sizes = (lens[order][None, :] > np.arange(lens.max())[:, None]).sum(axis=1)
    rows = _rows(sizes, order, batch, steps, batch_first)
    flat = reshape(input, (batch * steps,) + input.shape[2:])
    data = GatherRows.apply(flat, rows)
    return PackedSequence(data, Tensor._wrap(sizes.astype(np.int64)), sorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Undo :func:`pack_padded_sequence`: ``(padded, lengths)`` in the original batch order.

    Args:
        sequence: the packed batch.
        batch_first: return (B, T, *) instead of (T, B, *).
        padding_value: the value of the padded positions.
        total_length: pad to this many steps (at least the longest length).

    >>> import chainrule
    >>> from chainrule.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    >>> p = pack_padded_sequence(chainrule.ones(4, 2, 3), [4, 2])
    >>> x, lengths = pad_packed_sequence(p, batch_first=True)
    >>> x.shape, lengths.tolist()
    ((2, 4, 3), [4, 2])
    """
    data, batch_sizes, sorted_indices, unsorted_indices = sequence
    sizes = np.asarray(batch_sizes._data if isinstance(batch_sizes, Tensor) else batch_sizes)
    steps, batch = sizes.size, int(sizes[0])
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "pad_packed_sequence: expected total_length to be at least the length of the "
                f"longest sequence in input, but got total_length={total_length} and max "
                f"sequence length being {steps}")
        steps = int(total_length)
    order = np.arange(batch) if sorted_indices is None else np.asarray(sorted_indices._data)
    rows = _rows(sizes, order, batch, steps, batch_first)
    out = ScatterRows.apply(data, rows, steps * batch, float(padding_value))
    shape = (batch, steps) if batch_first else (steps, batch)
    sorted_lengths = (sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)
    lengths = np.empty(batch, np.int64)
    lengths[order] = sorted_lengths
    return reshape(out, shape + data.shape[1:]), Tensor._wrap(lengths)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack (L_i, *) tensors into a (T, B, *) batch (or (B, T, *)), padding to the longest.

    >>> import chainrule
    >>> from chainrule.nn.utils.rnn import pad_sequence
    >>> pad_sequence([chainrule.ones(25, 300), chainrule.ones(22, 300)]).shape
    (25, 2, 300)
    """
    if isinstance(sequences, Tensor):
        sequences = list(sequences)
    seqs = list(sequences)
    if not seqs:
        raise ValueError("pad_sequence: expected a non-empty list of tensors")
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side should be 'left' or 'right', got "
                         f"{padding_side!r}")
    trail = seqs[0].shape[1:]
    if any(s.ndim < 1 or s.shape[1:] != trail for s in seqs):
        raise ValueError(f"pad_sequence: every sequence should be (L, *{trail}), got shapes "
                         f"{[s.shape for s in seqs]}")
    lens = np.array([s.shape[0] for s in seqs], np.int64)
    batch, steps = len(seqs), int(lens.max())
    b = np.repeat(np.arange(batch), lens)
    t = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
    if padding_side == "left":
        t = t + np.repeat(steps - lens, lens)
    rows = b * steps + t if batch_first else t * batch + b
    out = ScatterRows.apply(cat(seqs, 0), rows, steps * batch, float(padding_value))
    return reshape(out, ((batch, steps) if batch_first else (steps, batch)) + trail)


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of (L_i, *) tensors (sorted longest first unless ``enforce_sorted=False``)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """The list of unpadded (L_i, *) sequences of a padded batch."""
    lens = np.asarray(lengths._data if isinstance(lengths, Tensor) else lengths).tolist()
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, :n] for i, n in enumerate(lens)]


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of (L_i, *) sequences of a packed batch, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
