"""Elementwise ops shared with the GEMM partner thread (chainrule._two_cores) equal NumPy's
exactly, and are declined (None) where they do not apply."""

import numpy as np
import pytest

from chainrule import _mkl, _two_cores

pytestmark = pytest.mark.usefixtures("fast_paths")


@pytest.fixture
def partner(monkeypatch):
    """``wake()``: a big product, which leaves the partner thread awake (here for a second after
    each job, so that a slow moment of the machine does not put it to sleep mid-test); returns
    the partner's count of jobs done."""
    import time

    from chainrule import _partner

    a = np.ones((200, 300), np.float32)
    b = np.ones((300, 400), np.float32)

    def wake():
        assert (_mkl.matmul(a, b) == 300).all()
        return _partner._partner.ctl[_partner._DONE]

    def sleep():  # the next product starts it on the SPIN_NS of the moment
        _partner.quiet()
        deadline = time.monotonic() + 10
        while not _partner._partner.ctl[_partner._ASLEEP]:
            assert time.monotonic() < deadline, "the partner never went to sleep"
            time.sleep(0.001)

    assert _mkl.available()
    wake()
    sleep()
    monkeypatch.setattr(_partner, "SPIN_NS", 10**9)
    wake()
    yield wake
    sleep()


def _arrays(rng, shape, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[::7] = 0  # relu'(0) = 0
    x.flat[3] = np.nan  # relu keeps NaN
    return x


SHAPES = [(128, 512), (257, 131), (40000,), (3, 70, 301)]  # odd rows, 1-D, 3-D


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES)
def test_every_op_equals_numpy_bit_for_bit_and_runs_on_both_threads(partner, dtype, shape):
    rng = np.random.default_rng(0)
    x, y = _arrays(rng, shape, dtype), _arrays(rng, shape, dtype)
    row = rng.standard_normal(shape[-1]).astype(dtype)
    cases = [(np.add, x, y), (np.subtract, x, y), (np.multiply, x, y),
             (np.add, x, 0.25), (np.multiply, 0.01, x), (np.subtract, x, 3),
             (np.add, row, x), (np.subtract, x, row), (np.multiply, x, row)]
    for ufunc, a, b in cases:
        if np.ndim(a) + np.ndim(b) == 2 and len(shape) == 1:
            continue  # no rows to repeat a row over
        want = ufunc(a, b)
        # into a new array, and in place when the array comes first (then the compiled loops
        # run over two arrays, see _partner._elementwise)
        for in_place in (False, True) if a is x else (False,):
            done = partner()
            out = x.copy() if in_place else None
            got = _two_cores.binary(ufunc, a if out is None else out, b, out=out)
            assert got is not None and got.dtype == want.dtype, (ufunc, np.shape(a), np.shape(b))
            assert out is None or got is out
            np.testing.assert_array_equal(got, want)
            assert _partner_did(done + 1)
    for got, want in [(_two_cores.relu(x), np.maximum(x, 0)),
                      (_two_cores.relu_grad(y, x), np.where(x <= 0, 0, y))]:  # as torch
        assert got is not None
        np.testing.assert_array_equal(got, want)


def _partner_did(count):
    from chainrule import _partner

    return _partner._partner.ctl[_partner._DONE] == count


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_in_place_updates_as_an_optimizer_step_makes_them(partner, dtype):
    rng = np.random.default_rng(1)
    p = rng.standard_normal((784, 512)).astype(dtype)
    g = rng.standard_normal((784, 512)).astype(dtype)
    want = p.copy()
    want -= 0.01 * g
    partner()
    step = _two_cores.binary(np.multiply, 0.01, g)
    assert _two_cores.binary(np.subtract, p, step, out=p) is p
    np.testing.assert_array_equal(p, want)


def test_what_does_not_apply_is_declined(partner):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((128, 512)).astype(np.float32)
    base = rng.standard_normal(128 * 512 + 512).astype(np.float32)
    declined = [
        (np.add, x[:32], x[32:64]),  # too small
        (np.add, x, x.astype(np.float64)),  # mixed dtypes: NumPy promotes
        (np.add, x.T, x.T),  # not C-contiguous
        (np.add, x.astype(np.int64), 1),  # integers
        (np.subtract, 3.0, x),  # scalar first (not commutative)
        (np.subtract, x[0], x),  # a row first
        (np.add, x, x[:, :1]),  # a column
        (np.divide, x, x),  # not one of the ops
        (np.add, x, True),
    ]
    for ufunc, a, b in declined:
        assert _two_cores.binary(ufunc, a, b) is None, (ufunc, np.shape(a), np.shape(b))
    # an output overlapping an operand without being it: NumPy buffers, halves would race
    out = base[512:].reshape(128, 512)
    assert _two_cores.binary(np.add, out, base[:-512].reshape(128, 512), out=out) is None
    assert _two_cores.relu_grad(x, x.astype(np.float64)) is None
    assert _two_cores.binary(np.add, x, x) is not None  # (the partner was awake all along)


def test_nothing_is_handed_to_a_sleeping_partner(partner):
    import time

    from chainrule import _partner

    _partner.quiet()
    deadline = time.monotonic() + 10
    while not _partner._partner.ctl[_partner._ASLEEP]:
        assert time.monotonic() < deadline, "the partner never went to sleep"
        time.sleep(0.001)
    x = np.ones((128, 512), np.float32)
    assert _two_cores.relu(x) is None and _partner._partner.ctl[_partner._ASLEEP]
