"""Synthetic tasks generated on the spot: the adding problem for recurrent networks."""

from __future__ import annotations

import numpy as np

from chainrule.data.dataset import TensorDataset
from chainrule.random import Generator, rng


class AddingProblem(TensorDataset):
    """The adding problem (Hochreiter & Schmidhuber 1997, "Long Short-Term Memory", experiment 4):
    a long-range memory task for recurrent networks.

    Each input is a sequence of ``seq_len`` pairs ``(value, marker)``: values uniform in [0, 1),
    markers 0 except at two positions, one in each half of the sequence (the form of Le, Jaitly
    & Hinton 2015 and Arjovsky et al. 2016). The target is the sum of the two marked values.
    Always predicting 1.0 gives a mean squared error of about 1/6 (the variance of the sum):
    the baseline a model must beat.

    Args:
        num_samples: how many sequences.
        seq_len: time steps per sequence (>= 2).
        generator: the random source (default: the one ``chainrule.manual_seed`` seeds).

    Shape:
        - input of one sample: (seq_len, 2) float32, batch-first for RNNs;
        - target: (1,) float32.

    >>> import chainrule
    >>> from chainrule.data.datasets import AddingProblem
    >>> ds = AddingProblem(100, seq_len=10, generator=chainrule.Generator().manual_seed(0))
    >>> x, y = ds[0]
    >>> tuple(x.shape), int(x[:, 1].sum().item())
    ((10, 2), 2)
    >>> bool(abs((x[:, 0] * x[:, 1]).sum() - y[0]) < 1e-6)
    True
    """

    def __init__(self, num_samples: int, seq_len: int = 50,
                 generator: Generator | None = None) -> None:
        if num_samples < 1 or seq_len < 2:
            raise ValueError(f"AddingProblem: expected num_samples >= 1 and seq_len >= 2, got "
                             f"num_samples={num_samples}, seq_len={seq_len}")
        g = rng(generator)
        values = g.random((num_samples, seq_len), dtype=np.float32)
        half = seq_len // 2
        first = g.integers(0, half, num_samples)
        second = g.integers(half, seq_len, num_samples)
        markers = np.zeros((num_samples, seq_len), dtype=np.float32)
        rows = np.arange(num_samples)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        target = (values[rows, first] + values[rows, second])[:, None]
        super().__init__(np.stack([values, markers], axis=-1), target)
        self.seq_len = seq_len
