"""Suite-wide settings.

pytest runs the suite in two worker processes on a 2-core machine, so PyTorch (the oracle) runs
on one thread: with more, its idle workers spin and make each tiny op in a parity test slower.
"""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _torch_one_thread():
    try:
        import torch
    except ImportError:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
