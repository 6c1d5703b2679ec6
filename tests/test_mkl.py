"""2-D GEMMs through MKL (chainrule._mkl, installed with the 'fast' extra) equal NumPy's."""

import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import _jit, _mkl

pytestmark = pytest.mark.usefixtures("fast_paths")


def _layouts(rng, shape, dtype):
    """The same matrix as a C-contiguous array, a transposed view, a strided row view (lda >
    cols) and a view with gaps in both axes (not BLAS-strided: NumPy must take it)."""
    m = rng.standard_normal(shape).astype(dtype)
    big = np.zeros((shape[0] * 2, shape[1] * 3), dtype)
    big[::2, 1::3] = m
    wide = np.zeros((shape[0], shape[1] + 5), dtype)
    wide[:, :shape[1]] = m
    return {"c": m, "t": np.ascontiguousarray(m.T).T, "rows": wide[:, :shape[1]],
            "gaps": big[::2, 1::3]}


def _record_calls(monkeypatch) -> list:
    """(m, n, k) of each product that one MKL call on a thread of ours runs from now on."""
    calls = []
    real = _mkl._call
    monkeypatch.setattr(_mkl, "_call", lambda a, b, out, *rest: calls.append(
        (a.shape[0], out.shape[1], a.shape[1])) or real(a, b, out, *rest))
    return calls


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mnk", [(128, 512, 784), (64, 70, 33), (1, 300, 400), (300, 1, 400),
                                 (200, 300, 1), (4, 5, 6)])
def test_gemm_matches_numpy_for_every_operand_layout(compiled_vs_reference, monkeypatch, dtype,
                                                     mnk):
    assert _mkl.available()
    monkeypatch.setattr(_mkl, "_MIN_WORK", 0)  # small products through MKL too
    monkeypatch.setattr(_mkl, "_SPLIT_WORK", 0)  # every product through MKL (as halves)
    monkeypatch.setattr(_mkl, "_SINGLE_WORK", 0)
    m, n, k = mnk
    rng = np.random.default_rng(0)
    tol = 1e-5 if dtype == "float32" else 1e-12
    took = []  # what the MKL calls returned: True when they computed the product
    for name in ("_call", "_split"):
        real = getattr(_mkl, name)
        monkeypatch.setattr(_mkl, name, lambda *args, _real=real: took.append(_real(*args))
                            or took[-1])
    for la, a in _layouts(rng, (m, k), dtype).items():
        for lb, b in _layouts(rng, (k, n), dtype).items():
            del took[:]
            fast, ref = compiled_vs_reference(lambda: _mkl.matmul(a, b), rtol=tol,  # noqa: B023
                                              atol=tol * np.sqrt(k))
            assert fast.flags.c_contiguous, (la, lb)
            blas_strided = _mkl._operand(a)[0] != 0 and _mkl._operand(b)[0] != 0
            assert took == [blas_strided], (la, lb)  # MKL took what it can, NumPy the rest
            if "gaps" not in (la, lb) and min(mnk) > 1:
                assert blas_strided, (la, lb)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("halves", [False, True])
def test_addmm_and_addmm_relu_for_every_operand_layout(compiled_vs_reference, monkeypatch,
                                                       dtype, halves):
    # each thread adds the bias to its rows of the product (and rectifies them for
    # addmm_relu), on one thread or as two halves (the partner's half too); NumPy's product
    # plus the bias is the reference; addmm_relu is addmm's very result, rectified (NaN kept)
    monkeypatch.setattr(_mkl, "_MIN_WORK", 0)
    monkeypatch.setattr(_mkl, "_SPLIT_WORK", 0)
    monkeypatch.setattr(_mkl, "_SINGLE_WORK", 0 if halves else 1 << 62)
    m, n, k = 96, 70, 33
    rng = np.random.default_rng(2)
    tol = 1e-5 if dtype == "float32" else 1e-12
    bias = rng.standard_normal(n).astype(dtype)
    bias[3] = np.nan
    before = bias.copy()
    for la, a in _layouts(rng, (m, k), dtype).items():
        for lb, b in _layouts(rng, (k, n), dtype).items():
            fast, ref = compiled_vs_reference(lambda: _mkl.addmm(bias, a, b),  # noqa: B023
                                              rtol=tol, atol=tol * np.sqrt(k))
            np.testing.assert_allclose(fast, np.matmul(a, b) + bias, rtol=tol,
                                       atol=tol * np.sqrt(k), err_msg=f"{la} {lb}")
            assert fast.dtype == np.dtype(dtype) and fast.flags.c_contiguous
            fused = _mkl.addmm_relu(bias, a, b)
            if fused is None:  # MKL declined: only an operand it cannot take
                assert not _mkl._blas_strided(a, b, fast), f"{la} {lb}"
                continue
            np.testing.assert_array_equal(fused, np.maximum(fast, 0), err_msg=f"{la} {lb}")
            assert np.isnan(fused[:, 3]).all() and (fused[:, :3] >= 0).all()
            unbiased = _mkl.addmm_relu(None, a, b)  # (a Linear layer without bias)
            np.testing.assert_allclose(unbiased, np.maximum(np.matmul(a, b), 0), rtol=tol,
                                       atol=tol * np.sqrt(k), err_msg=f"{la} {lb}")
    np.testing.assert_array_equal(bias, before)  # the bias itself is never written


def test_addmm_relu_declines_what_mkl_does_not_take():
    a, b = np.ones((5, 4)), np.ones((4, 3))
    assert _mkl.addmm_relu(np.ones(3), a, b) is None  # small: NumPy's, so the caller's relu
    big = np.ones((600, 600), np.float32)
    assert _mkl.addmm_relu(np.ones(600), big, big) is None  # a float64 bias for float32


def test_addmm_outside_mkl_still_adds_the_bias():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    for bias in (rng.standard_normal(3), np.float64(2.5)):
        np.testing.assert_allclose(_mkl.addmm(bias, a, b), a @ b + bias)  # small: NumPy's
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    got = _mkl.addmm(np.ones(3), a32, b32)  # a float64 bias: NumPy adds it into float32
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, a32 @ b32 + 1, rtol=1e-6)


def test_what_mkl_does_not_take_falls_back_to_numpy():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 400)).astype(np.float32)
    b = rng.standard_normal((400, 300)).astype(np.float32)
    for x, y in [(a.astype(np.int64), b.astype(np.int64)),  # integer GEMM
                 (a, b.astype(np.float64)),  # mixed dtypes: NumPy's promotion
                 (a[:0], b), (a[:, :0], b[:0]),  # empty
                 (np.broadcast_to(a[:1], a.shape), b)]:  # stride 0
        np.testing.assert_allclose(_mkl.matmul(x, y), np.matmul(x, y), rtol=1e-5, atol=1e-3)
        assert _mkl.matmul(x, y).dtype == np.matmul(x, y).dtype


def test_linear_and_matmul_gradients_are_the_same_with_and_without_mkl(compiled_vs_reference,
                                                                       monkeypatch):
    monkeypatch.setattr(_mkl, "_SPLIT_WORK", 0)
    monkeypatch.setattr(_mkl, "_SINGLE_WORK", 0)
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal((128, 300)).astype(np.float32)
    w0 = rng.standard_normal((200, 300)).astype(np.float32)
    b0 = rng.standard_normal(200).astype(np.float32)

    def run():
        x, w, b = (cr.tensor(v, requires_grad=True) for v in (x0, w0, b0))
        y = cr.nn.functional.linear(x, w, b)
        z = (y @ w) @ x.T  # 2-D matmul, both gradients
        (z.sum() + y.sum()).backward()
        return y.numpy(), z.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()

    compiled_vs_reference(run, rtol=1e-4, atol=1e-2)


def test_the_switch_and_that_import_chainrule_does_not_load_mkl():
    code = ("import sys, chainrule, numpy as np; from chainrule import _mkl; "
            "loaded = lambda: any('libmkl_rt' in l for l in open('/proc/self/maps')); "
            "print(loaded(), _mkl.available(), loaded())")
    env = {k: v for k, v in os.environ.items() if k != _mkl.ENV_OFF}
    run = dict(capture_output=True, text=True, check=True)
    out = subprocess.run([sys.executable, "-c", code], env=env, **run).stdout.split()
    assert out == ["False", "True", "True"]
    env[_mkl.ENV_OFF] = "1"
    out = subprocess.run([sys.executable, "-c", code], env=env, **run).stdout.split()
    assert out == ["False", "False", "False"]
    with _jit.reference():
        assert not _mkl.available()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_out_receives_the_product_also_as_a_row_strided_view(compiled_vs_reference, monkeypatch,
                                                             dtype):
    monkeypatch.setattr(_mkl, "_MIN_WORK", 0)
    monkeypatch.setattr(_mkl, "_SPLIT_WORK", 0)
    monkeypatch.setattr(_mkl, "_SINGLE_WORK", 0)
    rng = np.random.default_rng(3)
    a = rng.standard_normal((100, 200)).astype(dtype)
    b = rng.standard_normal((300, 200)).astype(dtype).T

    def run():
        buf = np.full((100, 310), 7, dtype)
        out = buf[:, 5:305]
        got = _mkl.matmul(a, b, out=out)
        assert got is out
        return buf

    fast, _ = compiled_vs_reference(run, rtol=1e-5, atol=1e-4)
    assert (fast[:, :5] == 7).all() and (fast[:, 305:] == 7).all()


@pytest.mark.parametrize("shape", [(300, 200, 250), (128, 300, 900), (20, 300, 900)])
@pytest.mark.parametrize("where", ["partner", "worker", "nested"])
def test_big_products_are_split_over_two_threads_and_chunks_call_mkl_once(monkeypatch, shape,
                                                                          where):
    from chainrule import _partner
    from chainrule.ops import _threads

    monkeypatch.setattr(_mkl, "_SPLIT_WORK", 0)
    monkeypatch.setattr(_mkl, "_SINGLE_WORK", 0)
    if where == "worker":  # without numba, the second half goes to a worker of ops/_threads
        monkeypatch.setattr(_jit, "_available", False)
    calls = _record_calls(monkeypatch)
    rng = np.random.default_rng(4)
    m, k, n = shape
    a, b = rng.standard_normal((m, k)), rng.standard_normal((n, k)).T
    if where == "nested":  # inside a chunk of _threads._chunked: one call on this thread
        got = []
        _threads._each(1, lambda lo, hi, slot: got.append(_mkl.matmul(a, b)))
        got = got[0]
    else:
        got = _mkl.matmul(a, b)
    np.testing.assert_allclose(got, np.matmul(a, b), rtol=1e-12, atol=1e-12)
    by_rows = m >= 2 * _mkl._MIN_HALF_ROWS or m >= n
    cut = -(-m // 2) if by_rows else -(-n // 2)
    halves = [(cut, n, k), (m - cut, n, k)] if by_rows else [(m, cut, k), (m, n - cut, k)]
    if where == "nested":
        assert calls == [(m, n, k)]
    elif where == "partner":  # one compiled call ran both halves, the partner the second
        assert calls == []
        assert tuple(int(v) for v in _partner._partner.job[3:6]) == halves[1]
    else:
        assert sorted(calls) == sorted(halves)


def test_mkl_is_loaded_sequential_so_no_openmp_runtime_joins_the_process():
    _mkl.matmul(np.ones((300, 300), np.float32), np.ones((300, 300), np.float32))
    with open("/proc/self/maps") as f:
        maps = f.read()
    assert "libmkl_rt" in maps and "libiomp5" not in maps


@pytest.mark.parametrize("numba", [True, False])
def test_medium_products_go_to_the_partner_or_else_stay_with_openblas(monkeypatch, numba):
    if not numba:
        monkeypatch.setattr(_jit, "_available", False)
    calls = _record_calls(monkeypatch)
    split = []
    real_split = _mkl._split
    monkeypatch.setattr(_mkl, "_split", lambda *args: split.append(1) or real_split(*args))
    a = np.ones((128, 784), np.float32)
    b = np.ones((784, 512), np.float32)
    np.testing.assert_array_equal(_mkl.matmul(a, b), np.full((128, 512), 784, np.float32))
    # 51M multiply-adds: halves with the spinning partner beat OpenBLAS's threads, which beat
    # halves handed to a sleeping worker
    assert calls == [] and split == ([1] if numba else [])
    if numba:
        from chainrule import _partner

        assert tuple(int(v) for v in _partner._partner.job[3:6]) == (64, 512, 784)


def test_small_products_take_one_mkl_call_on_the_calling_thread(monkeypatch):
    calls = _record_calls(monkeypatch)
    a = np.ones((64, 400), np.float32)  # LeNet-5's first Linear layer: 3M multiply-adds
    b = np.ones((400, 120), np.float32)
    np.testing.assert_array_equal(_mkl.matmul(a, b), np.full((64, 120), 400, np.float32))
    assert calls == [(64, 120, 400)]


@pytest.mark.parametrize("stride", [1, 2])
def test_convolution_gemms_go_to_mkl_and_match_the_numpy_reference(compiled_vs_reference,
                                                                   monkeypatch, stride):
    # forward, weight gradient and input gradient: each chunk's GEMM is one MKL call on its
    # thread (stride 2 takes the col2im route for the input gradient, stride 1 the full
    # convolution); the NumPy reference (OpenBLAS) agrees
    calls = _record_calls(monkeypatch)
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((8, 16, 20, 20)).astype(np.float32)
    w0 = rng.standard_normal((32, 16, 3, 3)).astype(np.float32) * 0.1

    def run():
        x, w = cr.tensor(x0, requires_grad=True), cr.tensor(w0, requires_grad=True)
        y = cr.nn.functional.conv2d(x, w, stride=stride, padding=1)
        (y * y).sum().backward()
        return y.numpy(), x.grad.numpy(), w.grad.numpy()

    compiled_vs_reference(run, rtol=1e-4, atol=1e-3)
    k = 16 * 9
    # (m, n, k) per call: forward (rows, 32, k), input gradient (rows, k, 32), weight
    # gradient (32, k, rows)
    assert {(n, kk) for _, n, kk in calls} >= {(32, k), (k, 32)}, calls
    assert any(m == 32 and n == k for m, n, _ in calls), calls
