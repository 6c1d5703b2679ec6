"""DataLoader, samplers, collation and splits: PyTorch's semantics, checked directly and against
torch.utils.data where the outputs can be compared."""

import collections

import numpy as np
import pytest

import chainrule
from chainrule.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    random_split,
)


def index_dataset(n):
    return TensorDataset(chainrule.arange(n), chainrule.arange(n).float() * 2)


def epoch_indices(loader):
    return [int(i) for x, _ in loader for i in x.numpy()]


def test_every_index_once_per_epoch_and_fresh_order():
    loader = DataLoader(index_dataset(103), batch_size=10, shuffle=True)
    assert len(loader) == 11
    epochs = [epoch_indices(loader) for _ in range(3)]
    for e in epochs:
        assert sorted(e) == list(range(103))
    assert epochs[0] != epochs[1] != epochs[2]
    assert [len(x) for x, _ in loader] == [10] * 10 + [3]


def test_sequential_by_default():
    assert epoch_indices(DataLoader(index_dataset(7), batch_size=3)) == list(range(7))


def test_drop_last():
    loader = DataLoader(index_dataset(103), batch_size=10, shuffle=True, drop_last=True)
    assert len(loader) == 10
    seen = epoch_indices(loader)
    assert len(seen) == 100 and len(set(seen)) == 100
    assert all(len(x) == 10 for x, _ in loader)


def test_reproducible_with_manual_seed():
    loader = DataLoader(index_dataset(50), batch_size=8, shuffle=True)
    chainrule.manual_seed(3)
    a = [epoch_indices(loader) for _ in range(2)]
    chainrule.manual_seed(3)
    b = [epoch_indices(loader) for _ in range(2)]
    assert a == b and a[0] != a[1]


def test_reproducible_with_generator_independent_of_global_seed():
    def run():
        g = chainrule.Generator().manual_seed(5)
        loader = DataLoader(index_dataset(50), batch_size=8, shuffle=True, generator=g)
        chainrule.manual_seed(np.random.randint(1000))  # the global seed must not matter
        return [epoch_indices(loader) for _ in range(2)]

    assert run() == run()


def test_batches_keep_dtypes_and_match_per_sample_collation():
    ds = TensorDataset(np.arange(24, dtype=np.float64).reshape(12, 2), np.arange(12) % 3)
    fast = list(DataLoader(ds, batch_size=5))
    slow = list(DataLoader(ds, batch_size=5, collate_fn=lambda b: default_collate(b)))
    assert len(fast) == len(slow) == 3
    for (fx, fy), (sx, sy) in zip(fast, slow):
        assert type(fx) is chainrule.Tensor and fx.dtype == np.float64 and fy.dtype == np.int64
        np.testing.assert_array_equal(fx.numpy(), sx.numpy())
        np.testing.assert_array_equal(fy.numpy(), sy.numpy())
        assert fx.dtype == sx.dtype and fy.dtype == sy.dtype
    assert isinstance(fast[0], list) and isinstance(slow[0], list)  # as PyTorch: a list


class Samples(Dataset):
    def __init__(self, make):
        self.make = make

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return self.make(i)


Point = collections.namedtuple("Point", ["x", "label"])


def test_collate_dicts_strings_numbers_and_namedtuples():
    ds = Samples(lambda i: {"x": np.full(3, i, dtype=np.float32), "y": i, "w": 0.5 * i,
                            "name": f"s{i}", "flag": i % 2 == 0})
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["x"].shape == (4, 3) and batch["x"].dtype == np.float32
    assert batch["y"].dtype == np.int64 and batch["y"].tolist() == [0, 1, 2, 3]
    assert batch["w"].dtype == np.float64  # Python floats collate to float64, as in PyTorch
    assert batch["name"] == ["s0", "s1", "s2", "s3"]
    assert batch["flag"].dtype == np.bool_
    nt = next(iter(DataLoader(Samples(lambda i: Point(chainrule.ones(2) * i, i)), batch_size=2)))
    assert isinstance(nt, Point) and nt.x.shape == (2, 2) and nt.label.tolist() == [0, 1]
    nested = default_collate([(1, (2.0, "a")), (3, (4.0, "b"))])
    assert nested[0].tolist() == [1, 3] and nested[1][0].tolist() == [2.0, 4.0]
    assert nested[1][1] == ["a", "b"]


def test_collate_structure_matches_torch():
    import torch  # imported here: only the worker running this test pays for it

    samples = [(np.ones(2, dtype=np.float32) * i, i, {"k": 1.5 * i}) for i in range(3)]
    ours = default_collate(samples)
    theirs = torch.utils.data.default_collate(samples)
    assert type(ours) is type(theirs) is list
    for a, b in [(ours[0], theirs[0]), (ours[1], theirs[1]), (ours[2]["k"], theirs[2]["k"])]:
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert str(a.dtype) == str(b.dtype).replace("torch.", "")


def test_collate_errors():
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="found <class 'object'>"):
        default_collate([object(), object()])


def test_batch_size_none_yields_samples_converted():
    ds = Samples(lambda i: (np.arange(2) + i, i))
    out = list(DataLoader(ds, batch_size=None))
    assert len(out) == 4 and isinstance(out[1][0], chainrule.Tensor)
    assert out[1][0].tolist() == [1, 2] and out[1][1] == 1


def test_sampler_and_batch_sampler_arguments():
    ds = index_dataset(10)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0, 1]], batch_size=4)
    loader = DataLoader(ds, batch_sampler=[[3, 1], [0]])
    assert [x.tolist() for x, _ in loader] == [[3, 1], [0]]
    loader = DataLoader(ds, batch_size=4, sampler=SubsetRandomSampler([9, 8, 7, 6, 5]))
    assert len(loader) == 2 and sorted(epoch_indices(loader)) == [5, 6, 7, 8, 9]


def test_samplers():
    g = chainrule.Generator().manual_seed(0)
    assert sorted(RandomSampler(range(6), generator=g)) == list(range(6))
    s = RandomSampler(range(4), num_samples=10, generator=g)
    drawn = list(s)
    assert len(s) == 10 and len(drawn) == 10 and sorted(drawn[:8]) == sorted(list(range(4)) * 2)
    s = RandomSampler(range(3), replacement=True, num_samples=50, generator=g)
    assert len(list(s)) == 50 and set(s) <= {0, 1, 2}
    w = WeightedRandomSampler([0.0, 1.0, 3.0], 4000, generator=g)
    counts = np.bincount(list(w), minlength=3)
    assert counts[0] == 0 and 2.5 < counts[2] / counts[1] < 3.5
    assert list(BatchSampler(range(5), 2, drop_last=False)) == [[0, 1], [2, 3], [4]]
    assert len(BatchSampler(range(5), 2, drop_last=True)) == 2
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(range(5), 0, False)


class Stream(IterableDataset):
    def __iter__(self):
        return iter(np.arange(7))

    def __len__(self):
        return 7


def test_iterable_dataset():
    loader = DataLoader(Stream(), batch_size=3)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]] and len(loader) == 3
    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3, drop_last=True)] == [
        [0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="IterableDataset"):
        DataLoader(Stream(), shuffle=True)


def test_tensor_dataset_subset_concat():
    ds = index_dataset(10)
    assert len(ds) == 10 and ds[3][0].item() == 3 and ds[3][1].item() == 6.0
    with pytest.raises(ValueError, match=r"Size mismatch.*\(3,\), \(4,\)"):
        TensorDataset(chainrule.zeros(3), chainrule.zeros(4))
    sub = Subset(ds, [8, 2, 5])
    assert len(sub) == 3 and sub[0][0].item() == 8
    assert [x.tolist() for x, _ in DataLoader(sub, batch_size=2)] == [[8, 2], [5]]
    cat = ds + Subset(ds, [0])
    assert isinstance(cat, ConcatDataset) and len(cat) == 11 and cat[10][0].item() == 0
    assert cat[-1][0].item() == 0 and cat[9][0].item() == 9
    with pytest.raises(IndexError):
        cat[11]
    assert sorted(epoch_indices(DataLoader(cat, batch_size=4, shuffle=True))) == sorted(
        list(range(10)) + [0])


def test_random_split_lengths_and_fractions_like_torch():
    import torch

    ds = index_dataset(10)
    g = chainrule.Generator().manual_seed(0)
    parts = random_split(ds, [3, 7], generator=g)
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    for n, fractions in [(10, [0.33, 0.33, 0.34]), (11, [0.5, 0.5]), (7, [0.1, 0.2, 0.7]),
                         (5, [1 / 3, 1 / 3, 1 / 3])]:
        ours = [len(p) for p in random_split(index_dataset(n), fractions, generator=g)]
        theirs = [len(p) for p in torch.utils.data.random_split(range(n), fractions)]
        assert ours == theirs, (n, fractions)
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(ds, [3, 8])


def test_random_split_reproducible():
    ds = index_dataset(20)
    a = random_split(ds, [0.5, 0.5], generator=chainrule.Generator().manual_seed(1))
    b = random_split(ds, [0.5, 0.5], generator=chainrule.Generator().manual_seed(1))
    assert a[0].indices == b[0].indices
    chainrule.manual_seed(4)
    c = random_split(ds, [10, 10])
    chainrule.manual_seed(4)
    assert random_split(ds, [10, 10])[0].indices == c[0].indices


def test_utils_data_is_an_alias():
    import chainrule.utils.data as ud

    assert ud.DataLoader is DataLoader and ud.TensorDataset is TensorDataset
    assert chainrule.utils.data.random_split is random_split
