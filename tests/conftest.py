"""Suite-wide settings.

pytest runs the suite in two worker processes on a 2-core machine, so PyTorch (the oracle) runs
on one thread: with more, its idle workers spin and make each tiny op in a parity test slower.
"""

import os

import numpy as np
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


def _compare(a, b, rtol, atol, where):
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _compare(x, y, rtol, atol, f"{where}[{i}]")
        return
    if a is None or b is None:
        assert a is None and b is None, where
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (where, a.shape, b.shape, a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=where)


@pytest.fixture
def compiled_vs_reference():
    """``check(fn, rtol=0, atol=0)``: runs ``fn()`` on the NumPy reference path and on the
    compiled kernels (the ``fast`` extra, installed for the tests) and asserts the results
    (arrays or nested tuples/lists of arrays and None) agree in shape, dtype and value; returns
    both. With CHAINRULE_NO_NUMBA set the compiled side is the reference too, and says so."""
    from chainrule import _jit

    _skip_if_switched_off(_jit.ENV_OFF)
    if not _jit.available():
        raise AssertionError("numba is not installed: `make test` installs the 'fast' extra")

    def check(fn, rtol=0.0, atol=0.0):
        with _jit.reference():
            ref = fn()
        assert _jit.enabled()
        fast = fn()
        _compare(fast, ref, rtol, atol, "compiled vs reference")
        return fast, ref

    return check


@pytest.fixture
def fast_paths():
    """For tests of the fast paths themselves (the 'fast' extra, installed for the tests):
    skipped when the user switched them off with CHAINRULE_NO_NUMBA or CHAINRULE_NO_MKL."""
    from chainrule import _jit, _mkl

    _skip_if_switched_off(_jit.ENV_OFF, _mkl.ENV_OFF)


def _skip_if_switched_off(*names):
    for name in names:
        if os.environ.get(name, "") not in ("", "0"):
            pytest.skip(f"fast paths switched off by {name}")
