"""Property tests (hypothesis): broadcasting of binary ops, and shape ops' round trips and
gradient shapes, on random shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import chainrule as cr
from tests.parity.helpers import check_parity

FAST = settings(max_examples=50, deadline=None)
SHAPES = array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
PAIRS = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)
SEEDS = st.integers(0, 2**32 - 1)


def data(shape, seed, low=None):
    rng = np.random.default_rng(seed)
    if low is None:
        return rng.standard_normal(shape)
    return rng.uniform(low, low + 1.5, shape)


def leaf(a):
    return cr.tensor(a, requires_grad=True)


# --- broadcasting ---

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow": (lambda a, b: a**b, lambda a, b: a**b),
    "maximum": (lambda a, b: cr.maximum(a, b), lambda a, b: torch.maximum(a, b)),
    "minimum": (lambda a, b: cr.minimum(a, b), lambda a, b: torch.minimum(a, b)),
    "where": (lambda a, b: cr.where(a > 0, a, b), lambda a, b: torch.where(a > 0, a, b)),
}


@pytest.mark.parametrize("op", list(BINARY))
@FAST
@given(shapes=PAIRS, seed=SEEDS)
def test_binary_ops_broadcast_like_numpy_and_torch(op, shapes, seed):
    (sa, sb), expected = shapes.input_shapes, shapes.result_shape
    a = data(sa, seed, low=0.5 if op == "pow" else None)
    b = data(sb, seed + 1, low=0.5 if op == "div" else None)
    f, g = BINARY[op]
    x, y = leaf(a), leaf(b)
    out = f(x, y)
    assert out.shape == np.broadcast_shapes(sa, sb) == expected
    out.sum().backward()
    assert x.grad.shape == sa and y.grad.shape == sb
    check_parity(f, g, [a, b])


@FAST
@given(shapes=PAIRS, seed=SEEDS)
def test_comparisons_broadcast_and_give_bools(shapes, seed):
    (sa, sb) = shapes.input_shapes
    a, b = cr.tensor(data(sa, seed)), cr.tensor(data(sb, seed + 1))
    for r in (a < b, a >= b, a == b, a != b):
        assert r.shape == shapes.result_shape and r.dtype == np.bool_


@FAST
@given(
    shapes=mutually_broadcastable_shapes(
        num_shapes=2, min_dims=0, max_dims=2, max_side=3, base_shape=(2, 3)
    ),
    seed=SEEDS,
)
def test_batched_matmul_broadcasts_the_batch_dims(shapes, seed):
    (ba, bb) = shapes.input_shapes
    a, b = data(ba + (2, 3), seed), data(bb + (3, 4), seed + 1)
    outs, _ = check_parity(lambda x, y: x @ y, lambda x, y: x @ y, [a, b])
    assert outs[0].shape == np.broadcast_shapes(ba + (1, 1), bb + (1, 1))[:-2] + (2, 4)


@FAST
@given(shape=SHAPES, seed=SEEDS, scalar=st.one_of(st.floats(-3, 3), st.integers(-3, 3)))
def test_a_python_scalar_broadcasts_and_gets_no_gradient(shape, seed, scalar):
    x = leaf(data(shape, seed))
    y = (x * scalar + scalar) - scalar / 2.5
    assert y.shape == shape and y.dtype == x.dtype
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(shape, float(scalar)))


# --- shape ops ---


def shapes_and_axis(min_dims=1):
    return array_shapes(min_dims=min_dims, max_dims=4, min_side=1, max_side=4).flatmap(
        lambda s: st.tuples(st.just(s), st.integers(-len(s), len(s) - 1))
    )


@FAST
@given(shape=SHAPES, seed=SEEDS, data_=st.data())
def test_reshape_round_trip(shape, seed, data_):
    n = int(np.prod(shape))
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    d = data_.draw(st.sampled_from(divisors))
    target = data_.draw(st.sampled_from([(d, n // d), (d, -1), (-1,), (n // d, 1, d)]))
    a = data(shape, seed)
    x = leaf(a)
    y = x.reshape(target)
    assert y.numel() == n
    z = y.reshape(shape)
    np.testing.assert_array_equal(z.numpy(), a)
    (z * 2).sum().backward()
    assert x.grad.shape == shape
    check_parity(lambda t: t.reshape(target), lambda t: t.reshape(target), [a])


@FAST
@given(shape=SHAPES, seed=SEEDS, data_=st.data())
def test_permute_round_trip_and_torch(shape, seed, data_):
    perm = data_.draw(st.permutations(range(len(shape))))
    a = data(shape, seed)
    x = leaf(a)
    y = x.permute(*perm)
    assert y.shape == tuple(shape[p] for p in perm)
    back = y.permute(*np.argsort(perm).tolist())
    np.testing.assert_array_equal(back.numpy(), a)
    check_parity(lambda t: t.permute(tuple(perm)), lambda t: t.permute(tuple(perm)), [a])


@FAST
@given(shape=array_shapes(min_dims=1, max_dims=4, max_side=4), seed=SEEDS, data_=st.data())
def test_transpose_twice_is_the_identity(shape, seed, data_):
    nd = len(shape)
    d0, d1 = data_.draw(st.integers(-nd, nd - 1)), data_.draw(st.integers(-nd, nd - 1))
    a = data(shape, seed)
    y = cr.tensor(a).transpose(d0, d1)
    np.testing.assert_array_equal(y.numpy(), np.swapaxes(a, d0, d1))
    np.testing.assert_array_equal(y.transpose(d0, d1).numpy(), a)
    check_parity(lambda t: t.transpose(d0, d1), lambda t: t.transpose(d0, d1), [a])


@FAST
@given(shape=SHAPES, seed=SEEDS, data_=st.data())
def test_unsqueeze_then_squeeze_round_trip(shape, seed, data_):
    d = data_.draw(st.integers(-len(shape) - 1, len(shape)))
    a = data(shape, seed)
    x = leaf(a)
    y = x.unsqueeze(d)
    assert y.ndim == len(shape) + 1 and y.shape[d] == 1
    z = y.squeeze(d)
    assert z.shape == shape
    z.sum().backward()
    assert x.grad.shape == shape
    check_parity(lambda t: t.unsqueeze(d), lambda t: t.unsqueeze(d), [a])
    check_parity(lambda t: t.squeeze(), lambda t: t.squeeze(), [a])


@FAST
@given(shape=array_shapes(min_dims=1, max_dims=4, max_side=4), seed=SEEDS, data_=st.data())
def test_flatten_round_trip(shape, seed, data_):
    nd = len(shape)
    s = data_.draw(st.integers(0, nd - 1))
    e = data_.draw(st.integers(s, nd - 1))
    a = data(shape, seed)
    y = cr.tensor(a).flatten(s, e)
    assert y.shape == shape[:s] + (int(np.prod(shape[s : e + 1])),) + shape[e + 1 :]
    np.testing.assert_array_equal(y.reshape(shape).numpy(), a)
    check_parity(lambda t: t.flatten(s, e), lambda t: t.flatten(s, e), [a])


@FAST
@given(shapes=PAIRS, seed=SEEDS)
def test_expand_to_a_broadcast_shape_sums_the_gradient_back(shapes, seed):
    sa = shapes.input_shapes[0]
    target = np.broadcast_shapes(*shapes.input_shapes)
    a = data(sa, seed)
    x = leaf(a)
    y = x.expand(*target) if target else x.expand(target)
    assert y.shape == target
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to(a, target))
    y.sum().backward()
    assert x.grad.shape == sa
    np.testing.assert_allclose(x.grad.numpy(), np.full(sa, np.prod(target) / max(a.size, 1)))
    check_parity(lambda t: t.expand(target), lambda t: t.expand(target), [a])


@FAST
@given(case=shapes_and_axis(), seed=SEEDS, data_=st.data())
def test_split_then_cat_round_trip(case, seed, data_):
    shape, dim = case
    n = shape[dim]
    cuts = sorted(data_.draw(st.lists(st.integers(0, n), max_size=3)))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, n])]
    a = data(shape, seed)
    x = leaf(a)
    pieces = x.split(sizes, dim)
    assert [p.shape[dim] for p in pieces] == sizes
    y = cr.cat(pieces, dim)
    np.testing.assert_array_equal(y.numpy(), a)
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * a)
    check_parity(lambda t: t.split(sizes, dim), lambda t: t.split(sizes, dim), [a])


@FAST
@given(shape=SHAPES, seed=SEEDS, data_=st.data(), k=st.integers(1, 3))
def test_stack_then_unbind_round_trip(shape, seed, data_, k):
    dim = data_.draw(st.integers(-len(shape) - 1, len(shape)))
    arrays = [data(shape, seed + i) for i in range(k)]
    xs = [leaf(a) for a in arrays]
    y = cr.stack(xs, dim)
    assert y.shape[dim] == k and y.ndim == len(shape) + 1
    parts = y.unbind(dim)
    for p, a in zip(parts, arrays):
        np.testing.assert_array_equal(p.numpy(), a)
    sum((p * (i + 1)).sum() for i, p in enumerate(parts)).backward()
    for i, x in enumerate(xs):
        assert x.grad.shape == shape
        np.testing.assert_allclose(x.grad.numpy(), np.full(shape, i + 1.0))
    check_parity(lambda *t: cr.stack(t, dim), lambda *t: torch.stack(t, dim), arrays)


def basic_keys(shape):
    """Random basic indices: an int, a slice (any step > 0) or None per dimension."""

    def part(n):
        return st.one_of(
            st.integers(-n, n - 1),
            st.builds(
                slice,
                st.one_of(st.none(), st.integers(-n - 1, n + 1)),
                st.one_of(st.none(), st.integers(-n - 1, n + 1)),
                st.one_of(st.none(), st.integers(1, 3)),
            ),
        )

    parts = [part(n) for n in shape]
    return st.tuples(*parts).flatmap(
        lambda t: st.sampled_from([t, (None, *t), (Ellipsis, *t[1:]) if t else (Ellipsis,)])
    )


@FAST
@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=5), seed=SEEDS, data_=st.data())
def test_basic_indexing_matches_numpy_and_scatters_the_gradient(shape, seed, data_):
    key = data_.draw(basic_keys(shape))
    a = data(shape, seed)
    x = leaf(a)
    y = x[key]
    np.testing.assert_array_equal(y.numpy(), a[key])
    y.sum().backward()
    expected = np.zeros(shape)
    expected[key] = 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    check_parity(lambda t: t[key], lambda t: t[key], [a])


@FAST
@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=5), seed=SEEDS, data_=st.data())
def test_integer_array_indexing_counts_repeats_in_the_gradient(shape, seed, data_):
    n = shape[0]
    idx = np.array(data_.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=8)))
    a = data(shape, seed)
    x = leaf(a)
    x[cr.tensor(idx)].sum().backward()
    counts = np.bincount(idx % n, minlength=n).astype(float)
    np.testing.assert_array_equal(
        x.grad.numpy(), np.broadcast_to(counts.reshape((n,) + (1,) * (len(shape) - 1)), shape)
    )
    check_parity(lambda t: t[cr.tensor(idx)], lambda t: t[torch.tensor(idx)], [a])


@FAST
@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=5), seed=SEEDS)
def test_boolean_mask_indexing_and_assignment(shape, seed):
    a = data(shape, seed)
    mask = a > 0.3
    check_parity(lambda t: t[cr.tensor(mask)], lambda t: t[torch.tensor(mask)], [a])
    y = cr.tensor(a)
    y[cr.tensor(mask)] = 0.0
    np.testing.assert_array_equal(y.numpy(), np.where(mask, 0.0, a))
