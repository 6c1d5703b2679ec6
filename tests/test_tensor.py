"""Tensor: factories, random numbers, conversions, repr, dtype casts, indexing and the methods
that return more than one thing, compared with PyTorch where it has the same call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
from tests.parity.helpers import check_parity


def same(a, t) -> None:
    """A chainrule tensor equals a torch tensor: shape, dtype and values."""
    assert a.shape == tuple(t.shape)
    assert a.dtype == t.numpy().dtype
    np.testing.assert_allclose(a.numpy(), t.numpy(), rtol=1e-6)


# --- factories ---


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.tensor([[1.0, 2.0], [3.0, 4.0]]),
        lambda m: m.tensor(3),
        lambda m: m.tensor([]),
        lambda m: m.zeros(2, 3),
        lambda m: m.zeros((2, 3)),
        lambda m: m.zeros([2, 3]),
        lambda m: m.zeros(()),
        lambda m: m.zeros(0, 3),
        lambda m: m.ones(4),
        lambda m: m.ones((2, 1), dtype=m.int64),
        lambda m: m.full((2, 3), 1.5),
        lambda m: m.full([2], 7),
        lambda m: m.empty(2, 3).zero_(),
        lambda m: m.arange(5),
        lambda m: m.arange(1, 4),
        lambda m: m.arange(0, 1, 0.25),
        lambda m: m.arange(5, 0, -2),
        lambda m: m.arange(3, dtype=m.float64),
        lambda m: m.linspace(0, 1, 5),
        lambda m: m.linspace(-1, 1, steps=3),
        lambda m: m.eye(3),
        lambda m: m.eye(2, 3),
        lambda m: m.zeros_like(m.ones(2, 3)),
        lambda m: m.ones_like(m.tensor([1, 2])),
        lambda m: m.full_like(m.ones(2), 4.0),
        lambda m: m.empty_like(m.ones(2, dtype=m.float64)).zero_(),
        lambda m: m.ones_like(m.ones(2), dtype=m.float64),
    ],
)
def test_factories_match_torch(make):
    same(make(cr), make(torch))


@pytest.mark.parametrize(
    "make, shape, dtype",
    [
        (lambda m: m.rand(2, 3), (2, 3), np.float32),
        (lambda m: m.rand((2, 3)), (2, 3), np.float32),
        (lambda m: m.randn(4), (4,), np.float32),
        (lambda m: m.randn(2, 2, dtype=m.float64), (2, 2), np.float64),
        (lambda m: m.randint(0, 10, (3, 2)), (3, 2), np.int64),
        (lambda m: m.randint(10, (5,)), (5,), np.int64),
        (lambda m: m.randperm(6), (6,), np.int64),
        (lambda m: m.rand_like(m.ones(2, 3)), (2, 3), np.float32),
        (lambda m: m.randn_like(m.ones(3, dtype=m.float64)), (3,), np.float64),
        (lambda m: m.empty(2, 3), (2, 3), np.float32),
        (lambda m: m.empty((4,)), (4,), np.float32),
    ],
)
def test_random_and_empty_factories_have_torchs_shape_and_dtype(make, shape, dtype):
    for m in (cr, torch):
        t = make(m)
        assert tuple(t.shape) == shape and np.asarray(t).dtype == dtype


def test_random_values_are_in_range():
    cr.manual_seed(0)
    u = cr.rand(1000).numpy()
    assert 0 <= u.min() and u.max() < 1 and 0.4 < u.mean() < 0.6
    n = cr.randn(10_000).numpy()
    assert abs(n.mean()) < 0.05 and 0.95 < n.std() < 1.05
    r = cr.randint(3, 7, (1000,)).numpy()
    assert set(r.tolist()) == {3, 4, 5, 6}
    assert sorted(cr.randperm(10).tolist()) == list(range(10))


def test_factory_requires_grad():
    for make in (
        lambda: cr.zeros(2, requires_grad=True),
        lambda: cr.randn(2, requires_grad=True),
        lambda: cr.tensor([1.0], requires_grad=True),
        lambda: cr.full((2,), 1.0, requires_grad=True),
    ):
        t = make()
        assert t.requires_grad and t.is_leaf and t.grad is None


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="non-negative"):
        cr.zeros(-1)
    with pytest.raises(ValueError, match="non-negative"):
        cr.ones(2.5)


def test_tensor_copies_but_from_numpy_and_as_tensor_share_memory():
    a = np.array([1.0, 2.0])
    t, f, s = cr.tensor(a), cr.from_numpy(a), cr.as_tensor(a)
    a[0] = 10.0
    assert t.tolist() == [1.0, 2.0]
    assert f.tolist() == [10.0, 2.0] and s.tolist() == [10.0, 2.0]
    f.numpy()[1] = 20.0
    assert a[1] == 20.0
    assert f.dtype == np.float64  # from_numpy keeps the array's dtype
    with pytest.raises(TypeError, match="numpy.ndarray"):
        cr.from_numpy([1.0, 2.0])


def test_as_tensor_of_a_tensor_is_the_same_tensor_unless_the_dtype_changes():
    x = cr.ones(2)
    assert cr.as_tensor(x) is x
    assert cr.as_tensor(x, dtype=cr.float64).dtype == np.float64


def test_tensor_from_a_list_of_tensors():
    t = cr.tensor([cr.tensor(1.0), cr.tensor(2.0)])
    assert t.tolist() == [1.0, 2.0] and t.dtype == np.float32


def test_tensor_of_an_object_raises_a_clear_error():
    with pytest.raises(TypeError, match="tensor"):
        cr.tensor(["a", "b"])


# --- random numbers ---


def test_manual_seed_makes_every_random_factory_reproducible():
    def draw():
        return [
            cr.rand(3).tolist(),
            cr.randn(2, 2).tolist(),
            cr.randint(0, 100, (4,)).tolist(),
            cr.randperm(8).tolist(),
            cr.randn_like(cr.ones(2)).tolist(),
        ]

    cr.manual_seed(123)
    a = draw()
    cr.manual_seed(123)
    b = draw()
    cr.manual_seed(124)
    c = draw()
    assert a == b and a != c
    assert cr.initial_seed() == 124


def test_generators_are_independent_of_the_default_one():
    g1 = cr.Generator().manual_seed(7)
    g2 = cr.Generator().manual_seed(7)
    cr.manual_seed(0)
    a = cr.rand(3, generator=g1)
    cr.rand(5)  # draws from the default generator do not move g1 or g2
    b = cr.rand(3, generator=g2)
    assert a.tolist() == b.tolist()
    assert cr.randperm(5, generator=g1).tolist() == cr.randperm(5, generator=g2).tolist()
    assert g1.initial_seed() == 7


def test_generator_state_round_trip():
    g = cr.Generator().manual_seed(3)
    state = g.get_state()
    a = cr.randn(4, generator=g)
    g.set_state(state)
    assert cr.randn(4, generator=g).tolist() == a.tolist()


# --- conversions and what a tensor is ---


def test_item_tolist_numpy_and_sizes():
    for m in (cr, torch):
        x = m.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        assert x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
        assert tuple(x.shape) == (2, 3) and tuple(x.size()) == (2, 3)
        assert x.size(1) == 3 and x.size(-1) == 3
        assert x.ndim == 2 and x.dim() == 2 and x.numel() == 6 and len(x) == 2
        assert x[1, 2].item() == 6.0 and isinstance(x[1, 2].item(), float)
        assert isinstance(m.tensor(3).item(), int)
        assert isinstance(m.tensor(True).item(), bool)
        assert float(m.tensor(2.5)) == 2.5 and int(m.tensor(7)) == 7
    x = cr.tensor([1.0, 2.0])
    assert isinstance(x.numpy(), np.ndarray) and np.shares_memory(x.numpy(), x.numpy())
    assert x.numpy().dtype == np.float32
    np.testing.assert_array_equal(np.asarray(x), [1.0, 2.0])


def test_item_of_many_elements_and_truth_of_many_elements_raise():
    x = cr.ones(2)
    with pytest.raises(RuntimeError, match=r"\(2,\)"):
        x.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)
    with pytest.raises(TypeError, match="0-d"):
        len(cr.tensor(1.0))
    assert bool(cr.tensor([1.0]))


def test_a_tensor_can_be_an_index():
    lst = [10, 20, 30]
    assert lst[cr.tensor(2)] == 30
    with pytest.raises(TypeError):
        lst[cr.tensor(1.0)]


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.tensor([[1.0, 2.0], [3.0, 4.5]]),
        lambda m: m.tensor(2.0),
        lambda m: m.tensor([1, 2, 3]),
        lambda m: m.tensor([True, False]),
        lambda m: m.tensor([1.0, 2.0], dtype=m.float64),
        lambda m: m.zeros(0),
    ],
)
def test_repr_matches_torchs_layout(make):
    a, t = repr(make(cr)), repr(make(torch)).replace("torch.", "")
    assert a.startswith("tensor(") and a.endswith(")")
    assert _numbers(a) == _numbers(t)  # NumPy and torch pad digits differently
    assert _keywords(a) == _keywords(t)


def _numbers(s: str) -> list[float]:
    import re

    return [float(v) for v in re.findall(r"-?\d+\.?\d*", s.split(",  dtype")[0].split("dtype")[0])]


def _keywords(s: str) -> list[str]:
    import re

    return re.findall(r"(\w+)=", s)


def test_repr_shows_requires_grad_and_grad_fn():
    x = cr.tensor([1.0], requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=<MulBackward>" in repr(x * 2)


def test_T_reverses_the_dims_and_mT_swaps_the_last_two():
    a = np.arange(24.0).reshape(2, 3, 4)
    assert cr.tensor(a[0]).T.shape == (4, 3)
    np.testing.assert_array_equal(cr.tensor(a[0]).T.numpy(), a[0].T)
    np.testing.assert_array_equal(cr.tensor(a).mT.numpy(), np.swapaxes(a, -1, -2))
    assert cr.tensor([1.0, 2.0]).T.shape == (2,)


@pytest.mark.parametrize(
    "conv",
    [
        lambda m, x: x.float(),
        lambda m, x: x.double(),
        lambda m, x: x.long(),
        lambda m, x: x.int(),
        lambda m, x: x.half(),
        lambda m, x: x.bool(),
        lambda m, x: x.to(m.float64),
        lambda m, x: x.to(dtype=m.int64),
        lambda m, x: x.to("cpu"),
        lambda m, x: x.to("cpu", m.float64),
        lambda m, x: x.to(m.ones(1, dtype=m.float64)),
        lambda m, x: x.type(m.int32),
    ],
)
def test_dtype_conversions(conv):
    a = np.array([[-1.5, 0.0], [2.7, 3.2]], np.float32)
    same(conv(cr, cr.tensor(a)), conv(torch, torch.tensor(a)))


def test_to_the_same_dtype_returns_self_and_converting_keeps_gradients():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert x.to(cr.float32) is x and x.float() is x
    y = x.double()
    assert y.dtype == np.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [2.0, 4.0]
    with pytest.raises(RuntimeError, match="cuda"):
        x.to("cuda")


def test_ndarray_times_tensor_reaches_tensor_rmul():
    a = np.array([1.0, 2.0])
    x = cr.tensor([3.0, 4.0], requires_grad=True)
    for y in (a * x, a + x, a - x, a / x, a @ x):
        assert isinstance(y, cr.Tensor) and y.requires_grad
    y = a * x
    assert y.dtype == np.float64 and y.tolist() == [3.0, 8.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 2.0]
    assert (a - x).tolist() == [-2.0, -2.0] and (a / x).tolist() == pytest.approx([1 / 3, 0.5])


# --- indexing, against torch, with gradients ---

X = np.arange(60.0).reshape(3, 4, 5) / 7


def _key(m, key):
    """Turn lists and NumPy arrays in a key into the framework's tensors."""
    conv = (lambda v: m.tensor(v)) if m is not None else (lambda v: v)
    if isinstance(key, tuple):
        return tuple(conv(k) if isinstance(k, np.ndarray) else k for k in key)
    return conv(key) if isinstance(key, np.ndarray) else key


KEYS = [
    1,
    -1,
    (0, 2),
    (-1, -2, -3),
    slice(1, None),
    slice(None, -1),
    slice(None, None, 2),
    (slice(None), slice(1, 4, 2)),
    (Ellipsis, 0),
    (None, 1),
    (0, None, slice(None), None),
    (Ellipsis, None),
    (1, Ellipsis, slice(0, 3)),
    (slice(5, 10),),
    np.array([0, 2, 0]),
    np.array([-1, 1]),
    (np.array([0, 2]), np.array([1, 3])),
    (slice(None), np.array([3, 0, 3])),
    (np.array([[0], [2]]), np.array([[1, 2]])),
    (1, np.array([0, 0, 3])),
    (np.array([0, 1]), slice(None), np.array([4, 4])),
    X[:, 0, 0] > 0.5,
    X[..., 0] > 3,
    X > 4,
    (slice(None), X[0, :, 0] > 2),
    (Ellipsis, np.array([True, False, True, False, True])),
]


@pytest.mark.parametrize("key", KEYS, ids=[repr(k)[:40] for k in KEYS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_indexing_matches_torch_with_gradients(key, dtype):
    check_parity(lambda x: x[_key(cr, key)], lambda x: x[_key(torch, key)], [X.astype(dtype)])


def test_indexing_with_python_lists_and_tensor_scalars():
    x = cr.tensor(X, requires_grad=True)
    t = torch.tensor(X, requires_grad=True)
    for key, tkey in (
        ([0, 2], [0, 2]),
        (cr.tensor(1), torch.tensor(1)),
        ([0, slice(1, 3)], (0, slice(1, 3))),
        # a nested list is one index tensor (torch's deprecated tuple reading aside)
        ([[0, 1], [2, 2]], torch.tensor([[0, 1], [2, 2]])),
    ):
        same(x[key].detach(), t[tkey].detach())
    x[[0, 0, 2]].sum().backward()
    t[[0, 0, 2]].sum().backward()
    same(x.grad, t.grad)


def test_a_basic_index_out_of_range_names_the_shape():
    with pytest.raises(IndexError, match=r"\(3, 4, 5\)"):
        cr.tensor(X)[3]


@pytest.mark.parametrize(
    "key, value",
    [
        ((0, 1), 5.0),
        (slice(None, 2), np.float64(1.0)),
        ((Ellipsis, 0), np.arange(4.0)),
        (np.array([0, 2]), 0.0),
        (X > 4, -1.0),
    ],
    ids=["int", "slice", "ellipsis", "int_array", "mask"],
)
def test_setitem_matches_torch(key, value):
    a, t = cr.tensor(X), torch.tensor(X)
    v_cr = cr.tensor(value) if isinstance(value, np.ndarray) else value
    v_t = torch.tensor(value) if isinstance(value, np.ndarray) else value
    a[_key(cr, key)] = v_cr
    t[_key(torch, key)] = v_t
    same(a, t)


# --- methods that return (values, indices), and var/std ---


def test_max_and_min_with_dim_return_a_values_indices_namedtuple():
    a = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    for name in ("max", "min"):
        for dim, keepdim in ((0, False), (1, False), (-1, True)):
            r = getattr(cr.tensor(a), name)(dim=dim, keepdim=keepdim)
            tr = getattr(torch.tensor(a), name)(dim=dim, keepdim=keepdim)
            values, indices = r  # unpacks like a tuple
            assert r.values is values and r.indices is indices and r[0] is values
            same(values, tr.values)
            same(indices, tr.indices)
        same(getattr(cr, name)(cr.tensor(a)), getattr(torch, name)(torch.tensor(a)))
        r = getattr(cr, name)(cr.tensor(a), 1)
        same(r.indices, getattr(torch, name)(torch.tensor(a), 1).indices)


def test_max_of_two_tensors_is_elementwise():
    a, b = np.array([1.0, 5.0]), np.array([3.0, 2.0])
    same(cr.max(cr.tensor(a), cr.tensor(b)), torch.max(torch.tensor(a), torch.tensor(b)))
    same(cr.min(cr.tensor(a), cr.tensor(b)), torch.min(torch.tensor(a), torch.tensor(b)))


def test_max_with_ties_splits_the_gradient_like_torch():
    a = np.array([[3.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    check_parity(lambda x: x.max(), lambda x: x.max(), [a])
    check_parity(lambda x: x.amax(1), lambda x: x.amax(1), [a])
    check_parity(lambda x: cr.maximum(x, x.flip(1)), lambda x: torch.maximum(x, x.flip(1)), [a])
    vals, idx = cr.tensor(a).max(dim=1)  # with dim: the first maximal index, like torch
    assert idx.tolist() == torch.tensor(a).max(dim=1).indices.tolist()


@pytest.mark.parametrize(
    "call",
    [
        lambda x: x.var(),
        lambda x: x.std(),
        lambda x: x.var(0),
        lambda x: x.std(1),
        lambda x: x.var(1, keepdim=True),
        lambda x: x.var(unbiased=False),
        lambda x: x.std(0, unbiased=False),
        lambda x: x.var(dim=1, correction=0),
        lambda x: x.std(dim=(0, 1), correction=0),
        lambda x: x.var(dim=0, correction=2),
    ],
)
def test_var_and_std_are_unbiased_by_default_like_torch(call):
    a = np.random.default_rng(1).standard_normal((5, 4))
    check_parity(call, call, [a])


def test_unbiased_var_divides_by_n_minus_one():
    x = cr.tensor([1.0, 2.0, 3.0, 4.0])
    assert x.var().item() == pytest.approx(5 / 3)
    assert x.var(correction=0).item() == pytest.approx(5 / 4)
    assert x.std(unbiased=False).item() == pytest.approx(np.sqrt(5 / 4))


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x: x.argmax(),
        lambda m, x: x.argmin(1),
        lambda m, x: x.argmax(0, keepdim=True),
        lambda m, x: x.sum(dtype=m.float64),
        lambda m, x: x.cumsum(1),
        lambda m, x: x.norm(),
        lambda m, x: x.prod(1),
        lambda m, x: x.all(),
        lambda m, x: (x > 0).any(),
        lambda m, x: m.where(x > 0),
        lambda m, x: x.split(2, 1),
        lambda m, x: x.chunk(2),
        lambda m, x: x.unbind(),
        lambda m, x: m.allclose(x, x + 1e-9),
        lambda m, x: m.equal(x, x.clone()),
        lambda m, x: x.clamp(min=0),
        lambda m, x: x.view(m.int32),
        lambda m, x: x.view(m.float32),
        lambda m, x: x.isnan().any(),
        lambda m, x: (x.sign(), x.floor(), x.ceil(), x.round(), x.trunc()),
        lambda m, x: x // 0.5,
        lambda m, x: x % 0.5,
        lambda m, x: m.tensor([7, -7]) // 2,
        lambda m, x: m.tensor([7, -7]) % 3,
        lambda m, x: m.div(m.tensor([7, -7]), 2, rounding_mode="trunc"),
        lambda m, x: m.div(x, 0.3, rounding_mode="floor"),
    ],
)
def test_more_methods_match_torch(call):
    a = np.array([[1.5, -2.0, 0.25], [3.0, 0.5, -1.0]], np.float32)
    r, t = call(cr, cr.tensor(a)), call(torch, torch.tensor(a))
    if isinstance(t, bool):
        assert r == t
        return
    rs, ts = (list(r), list(t)) if isinstance(t, (tuple, list)) else ([r], [t])
    assert len(rs) == len(ts)
    for ri, ti in zip(rs, ts):
        same(ri, ti)
