"""Random numbers: explicit ``np.random.Generator`` objects, seeded by ``manual_seed``."""

from __future__ import annotations

from typing import Any, cast

import numpy as np


class Generator:
    """A source of random numbers (NumPy's PCG64) that can be seeded and passed around.

    >>> import chainrule
    >>> g = chainrule.Generator().manual_seed(0)
    >>> chainrule.rand(2, generator=g).shape
    (2,)
    """

    def __init__(self, device: str = "cpu") -> None:
        self._seed = 67280421310721
        self._np: np.random.Generator | None = None

    @property
    def np(self) -> np.random.Generator:
        """The NumPy generator behind this one."""
        # NOTE: made on first use, so that `import chainrule` does not import numpy.random.
        if self._np is None:
            self._np = np.random.default_rng(self._seed)
        return self._np

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self._np = None  # a fresh NumPy generator from this seed on next use
        return self

    def seed(self) -> int:
        entropy = np.random.SeedSequence().entropy
        # SeedSequence() with no argument draws its entropy from the OS as one int (the stub
        # also allows the None and Sequence[int] that a caller may pass in).
        assert isinstance(entropy, int)
        s = int(entropy % (2**63))
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict[str, Any]:
        # NumPy documents (and returns) a fresh dict; its stub says only Mapping.
        return cast("dict[str, Any]", self.np.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> Generator:
        self.np.bit_generator.state = state
        return self


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (used by every random function without ``generator=``).

    >>> import chainrule
    >>> _ = chainrule.manual_seed(0); a = chainrule.rand(3)
    >>> _ = chainrule.manual_seed(0); b = chainrule.rand(3)
    >>> bool((a == b).all())
    True
    """
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def rng(generator: Generator | None = None) -> np.random.Generator:
    return (generator or default_generator).np
