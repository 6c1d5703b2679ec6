import resource
import sys

import numpy as np
import pytest

import chainrule  # noqa: F401  (importing tunes malloc)
from chainrule._memory import tune_malloc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning is Linux-only")
def test_freed_buffers_are_reused_without_page_faults():
    def step():
        a = np.ones((1024, 1024), np.float32)  # 4 MB: above glibc's default mmap threshold
        return float(a[0, 0])

    step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 100  # glibc defaults: about 500 here (the block is unmapped and refaulted)


def test_opt_out(monkeypatch):
    monkeypatch.setenv("CHAINRULE_KEEP_MALLOC", "1")
    assert tune_malloc() is False
