"""Character-level text: a vocabulary, encode/decode, and sequences with next-character targets."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data.dataset import Dataset
from chainrule.data.datasets import _storage
from chainrule.tensor import Tensor


class CharDataset(Dataset):
    """Text cut into sequences of ``seq_len`` characters; the target of each position is the
    next character.

    Sample ``i`` is ``(x, y)``, two int64 tensors of shape (seq_len,) with
    ``y[t] == x[t + 1]``: ``x`` starts at character ``i * stride``.

    Args:
        text: the corpus (see :meth:`from_file` for a file, gzipped or not).
        seq_len: characters per sequence.
        stride: distance between the starts of consecutive sequences (default ``seq_len``:
            non-overlapping; 1 gives every offset).
        vocab: the characters, in index order (default: the sorted characters of ``text``).

    >>> from chainrule.data.datasets import CharDataset
    >>> ds = CharDataset("hello world", seq_len=4)
    >>> ds.vocab_size, len(ds), ds.decode(ds[0][0]), ds.decode(ds[0][1])
    (8, 2, 'hell', 'ello')
    """

    def __init__(self, text: str, seq_len: int, stride: int | None = None,
                 vocab: Sequence[str] | None = None) -> None:
        stride = seq_len if stride is None else stride
        if seq_len < 1 or stride < 1:
            raise ValueError(f"CharDataset: seq_len and stride must be >= 1, got seq_len="
                             f"{seq_len}, stride={stride}")
        self.vocab = list(vocab) if vocab is not None else sorted(set(text))
        if len(set(self.vocab)) != len(self.vocab):
            raise ValueError("CharDataset: vocab has repeated characters")
        self.stoi = {c: i for i, c in enumerate(self.vocab)}
        self.itos = dict(enumerate(self.vocab))
        self.seq_len, self.stride = seq_len, stride
        self.ids = self.encode(text)
        self._offsets = np.arange(seq_len + 1)

    @classmethod
    def from_file(cls, path: str | os.PathLike, seq_len: int, stride: int | None = None,
                  vocab: Sequence[str] | None = None, encoding: str = "utf-8") -> CharDataset:
        """A CharDataset of a text file (gzipped or not)."""
        text = _storage.read_maybe_gzip(Path(path)).decode(encoding)
        return cls(text, seq_len, stride, vocab)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> np.ndarray:
        """The int64 indices of the characters of ``text``."""
        try:
            return np.fromiter((self.stoi[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as e:
            raise ValueError(f"CharDataset.encode: character {e.args[0]!r} is not in the "
                             f"vocabulary of {self.vocab_size} characters") from None

    def decode(self, ids: Any) -> str:
        """The text of a sequence of indices (a list, array or tensor)."""
        flat = np.asarray(ids.numpy() if isinstance(ids, Tensor) else ids).reshape(-1)
        return "".join(self.itos[int(i)] for i in flat)

    def __len__(self) -> int:
        return max(0, (len(self.ids) - self.seq_len - 1) // self.stride + 1)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"CharDataset: index {index} out of range for {len(self)} "
                             "sequences")
        start = (index % len(self)) * self.stride
        chunk = self.ids[start:start + self.seq_len + 1]
        return Tensor._wrap(chunk[:-1].copy()), Tensor._wrap(chunk[1:].copy())

    def _get_batch(self, indices: np.ndarray) -> list[Tensor]:
        chunks = self.ids[(indices % len(self))[:, None] * self.stride + self._offsets]
        return [Tensor._wrap(chunks[:, :-1]), Tensor._wrap(chunks[:, 1:])]


def shakespeare(seq_len: int = 100, stride: int | None = None,
                root: str | os.PathLike | None = None) -> CharDataset:
    """Six Shakespeare tragedies (841,779 characters, Open Knowledge Foundation, CC BY 2.5) as
    a CharDataset, read from ``shakespeare/tragedies.txt.gz`` in the data folders (see
    ``chainrule.data.datasets._storage``); it is not embedded in the package.
    """
    dirs = _storage.search_dirs("shakespeare", root)
    path = _storage.find_file(dirs, "tragedies.txt")
    if path is None:
        raise FileNotFoundError(f"shakespeare: tragedies.txt(.gz) not found in "
                                f"{', '.join(str(d) for d in dirs)}; pass root=<folder> or set "
                                f"{_storage.ENV_VAR}")
    return CharDataset.from_file(path, seq_len, stride)
