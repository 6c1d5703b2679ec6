"""Fixtures shared by the tests of ops."""

import pytest

from chainrule.ops import _recurrent_steps as steps
from chainrule.ops import _threads
from chainrule.ops import recurrent_kernels as kernels


@pytest.fixture
def split(monkeypatch):
    """Cut every batch into parts of >= 2 rows on 3 threads; record the ranges used."""
    if not _threads._OpenBLAS.found():
        pytest.skip("the batch is only cut over threads with OpenBLAS")
    monkeypatch.setattr(_threads, "_THREADS", 3)
    monkeypatch.setattr(steps, "_MIN_PART_ROWS", 2)
    monkeypatch.setattr(steps, "_THREADED_GEMM_MACS", 0)
    seen = []
    run = steps.run_parts

    def spy(ranges, work):
        seen.append(list(ranges))
        run(ranges, work)

    monkeypatch.setattr(kernels, "run_parts", spy)
    return seen
