"""The built-in data sets: digits, CSV tables, sunspots windows, character text, adding problem."""

import gzip
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.data import DataLoader, default_collate
from chainrule.data.datasets import (
    AddingProblem,
    CharDataset,
    CSVDataset,
    Digits,
    Sunspots,
    WindowDataset,
    load_digits,
    load_sunspots,
    shakespeare,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def batches_equal_samples(ds, batch_size=7):
    """The whole-batch fetch gives what collating the samples one by one gives."""
    fast = next(iter(DataLoader(ds, batch_size=batch_size, shuffle=True)))
    indices = list(range(min(batch_size, len(ds))))
    a = ds._get_batch(np.array(indices))
    b = default_collate([ds[i] for i in indices])
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    return fast


def test_digits_split():
    X, y = load_digits()
    train, test = Digits(train=True), Digits(train=False)
    assert (len(train), len(test)) == (1437, 360)
    image, label = train[0]
    assert image.shape == (1, 8, 8) and image.dtype == np.float32 and label.dtype == np.int64
    both = np.concatenate([train.data.numpy().reshape(-1, 64), test.data.numpy().reshape(-1, 64)])
    assert both.min() == 0.0 and both.max() == 1.0
    def rows_sorted(a):
        return a[np.lexsort(a.T)]

    # train and test together are exactly the 1797 digits
    np.testing.assert_array_equal(rows_sorted(both * 16), rows_sorted(X))
    assert sorted(np.concatenate([train.targets.numpy(), test.targets.numpy()])) == sorted(y)
    flat = Digits(train=False, flatten=True)
    assert flat[0][0].shape == (64,)
    np.testing.assert_array_equal(flat.data.numpy(), test.data.numpy().reshape(-1, 64))
    other = Digits(train=False, seed=1)
    assert not np.array_equal(other.targets.numpy(), test.targets.numpy())
    np.testing.assert_array_equal(Digits(train=False).data.numpy(), test.data.numpy())
    batches_equal_samples(train)


def test_csv_dataset(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,kind,score\n1,2.5,cat,0.5\n3,,dog,1.5\n-1,NA,cat,2\n")
    ds = CSVDataset(path, target="kind")
    assert ds.columns == ["a", "b", "score"] and ds.classes == ["cat", "dog"]
    x, y = ds[1]
    assert x.dtype == np.float32 and np.isnan(x.numpy()[1]) and y.item() == 1
    assert ds.tensors[1].tolist() == [0, 1, 0]
    reg = CSVDataset(path, target=-1, features=["a"])
    assert reg.columns == ["a"] and reg.tensors[1].dtype == np.float32
    assert reg.tensors[1].tolist() == [0.5, 1.5, 2.0]
    ints = CSVDataset(path, target="a", features=["score"], target_dtype="int64")
    assert ints.tensors[1].dtype == np.int64 and ints.tensors[1].tolist() == [1, 3, -1]
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(b"1;2;0\n3;4;1\n"))
    plain = CSVDataset(gz, delimiter=";", header=False)
    assert plain.columns == ["0", "1"] and plain.tensors[0].tolist() == [[1, 2], [3, 4]]
    batches_equal_samples(ds, 3)


def test_csv_errors_name_the_place(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,y\n1,2,0\n1,x,1\n")
    with pytest.raises(ValueError, match=r"bad\.csv, line 3, column 'b': 'x' is not a number"):
        CSVDataset(path)
    path.write_text("a,b,y\n1,2,0\n1,2\n")
    with pytest.raises(ValueError, match=r"line 3: 2 fields, expected 3"):
        CSVDataset(path)
    path.write_text("a,b,y\n1,2,0\n")
    with pytest.raises(ValueError, match=r"no column 'z'; columns are \['a', 'b', 'y'\]"):
        CSVDataset(path, target="z")


def test_sunspots_windows():
    years, values = load_sunspots()
    assert years.shape == values.shape == (309,) and years[0] == 1700 and years[-1] == 2008
    shared_rows = (SHARED / "timeseries" / "sunspots.csv").read_text().splitlines()
    assert len(shared_rows) == 310 and float(shared_rows[-1].split(",")[1]) == values[-1]
    train, test = Sunspots(window=10, train=True), Sunspots(window=10, train=False)
    assert len(test) == 62 and len(train) == 309 - 62 - 10
    x, y = test[0]
    assert x.shape == (10, 1) and y.shape == (1,) and x.dtype == np.float32
    raw = test.tensors[1].numpy()[:, 0] * test.std + test.mean
    np.testing.assert_allclose(raw, values[-62:], rtol=1e-5, atol=1e-4)
    assert test.years.tolist() == list(range(2008 - 61, 2009))
    assert train.years[0] == 1710 and train.years[-1] == 2008 - 62
    assert abs(float(train.tensors[0].numpy().mean())) < 0.2  # standardised by training years
    x0 = train.tensors[0].numpy()[0, :, 0] * train.std + train.mean
    np.testing.assert_allclose(x0, values[:10], rtol=1e-5, atol=1e-4)
    batches_equal_samples(train)


def test_window_dataset_multivariate_and_horizon():
    series = np.arange(20, dtype=np.float32).reshape(10, 2)
    ds = WindowDataset(series, window=3, horizon=2)
    assert len(ds) == 6
    x, y = ds[0]
    assert x.tolist() == [[0, 1], [2, 3], [4, 5]] and y.tolist() == [8, 9]
    with pytest.raises(ValueError, match="too short"):
        WindowDataset(series, window=9, horizon=2)


def test_char_dataset():
    ds = CharDataset("hello world, hello!", seq_len=5, stride=3)
    assert ds.vocab == sorted(set("hello world, hello!")) and ds.vocab_size == len(ds.vocab)
    assert ds.decode(ds.encode("hello")) == "hello"
    assert len(ds) == (19 - 5 - 1) // 3 + 1
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.dtype == np.int64 and x.shape == (5,)
        assert ds.decode(x) == "hello world, hello!"[3 * i:3 * i + 5]
        assert y.tolist()[:-1] == x.tolist()[1:]
    batches_equal_samples(ds, 4)
    with pytest.raises(ValueError, match=r"character 'z' is not in the vocabulary"):
        ds.encode("z")


def test_char_dataset_from_file_and_shakespeare(tmp_path):
    path = tmp_path / "t.txt.gz"
    path.write_bytes(gzip.compress(b"abcabcabc\n"))
    ds = CharDataset.from_file(path, seq_len=3)
    assert ds.vocab == ["\n", "a", "b", "c"] and len(ds) == 3
    assert (SHARED / "shakespeare").is_dir(), "the shared data folder is expected (CI has it)"
    text = shakespeare(seq_len=100, root=SHARED)
    assert len(text.ids) == 841779 and len(text) == (841779 - 101) // 100 + 1
    x, y = next(iter(DataLoader(text, batch_size=8, shuffle=True)))
    assert x.shape == (8, 100) and (x.numpy()[:, 1:] == y.numpy()[:, :-1]).all()


def test_adding_problem():
    ds = AddingProblem(2000, seq_len=20, generator=chainrule.Generator().manual_seed(0))
    x, y = ds.tensors
    x, y = x.numpy(), y.numpy()
    assert x.shape == (2000, 20, 2) and y.shape == (2000, 1) and x.dtype == np.float32
    markers = x[:, :, 1]
    assert (markers.sum(axis=1) == 2).all()
    assert (markers[:, :10].sum(axis=1) == 1).all() and (markers[:, 10:].sum(axis=1) == 1).all()
    np.testing.assert_allclose((x[:, :, 0] * markers).sum(axis=1), y[:, 0], rtol=1e-6)
    assert ((x[:, :, 0] >= 0) & (x[:, :, 0] < 1)).all()
    assert abs(float(((y - 1.0) ** 2).mean()) - 1 / 6) < 0.02  # the baseline of predicting 1
    again = AddingProblem(2000, seq_len=20, generator=chainrule.Generator().manual_seed(0))
    np.testing.assert_array_equal(again.tensors[0].numpy(), x)
    batches_equal_samples(ds)
