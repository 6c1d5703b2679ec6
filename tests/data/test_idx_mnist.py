"""IDX files, MNIST / Fashion-MNIST from the shared data folder, checksums and the download path
(against a local HTTP server on 127.0.0.1 only)."""

import functools
import gzip
import http.server
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import DataLoader
from chainrule.data.datasets import MNIST, FashionMNIST, _storage, read_idx, write_idx

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared(name):
    folder = SHARED / name
    assert folder.is_dir(), (f"the real data set is expected in {folder} (the repo's "
                             "../shared/data, present in CI)")
    return folder


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    a = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, a)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == (suffix == ".gz")
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == (2, 3, 4)
    np.testing.assert_array_equal(a, b)


def test_idx_reads_a_hand_made_file(tmp_path):
    # uint8, 2 dims (2, 3), then big-endian dims, then the values; int32 big-endian too
    (tmp_path / "u8").write_bytes(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]))
    assert read_idx(tmp_path / "u8").tolist() == [[1, 2, 3], [4, 5, 6]]
    (tmp_path / "i32").write_bytes(bytes([0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 1, 0, 255, 255, 255,
                                          255]))
    assert read_idx(tmp_path / "i32").tolist() == [256, -1]


def test_idx_wrong_magic(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ValueError, match=r"bad\.idx: magic number 0x504b0304 is not an IDX"):
        read_idx(path)


def test_idx_truncated_and_oversized(tmp_path):
    write_idx(tmp_path / "x", np.zeros((4, 5), dtype=np.uint8))
    raw = (tmp_path / "x").read_bytes()
    (tmp_path / "short").write_bytes(raw[:-3])
    with pytest.raises(ValueError, match=r"short: shape \(4, 5\).*20 bytes.*found 17.*truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "long").write_bytes(raw + b"\0")
    with pytest.raises(ValueError, match="1 bytes too many"):
        read_idx(tmp_path / "long")
    (tmp_path / "head").write_bytes(raw[:6])
    with pytest.raises(ValueError, match="truncated header"):
        read_idx(tmp_path / "head")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(raw)[:-10])
    with pytest.raises(ValueError, match=r"cut\.gz: the gzip stream is damaged or truncated"):
        read_idx(tmp_path / "cut.gz")


def test_embedded_checksums_equal_the_shared_sums():
    for cls in (MNIST, FashionMNIST):
        listed = _storage.parse_sums((shared(cls.folder) / "SHA256SUMS").read_text())
        assert cls.sha256 == listed


def test_real_mnist_test_set():
    test = MNIST(root=shared("mnist"), train=False)
    assert len(test) == 10000 and test.data.shape == (10000, 28, 28)
    assert test.data.dtype == np.uint8 and test.targets.dtype == np.int64
    counts = np.bincount(test.targets.numpy(), minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    image, label = test[0]
    assert label == 7 and image.shape == (1, 28, 28) and image.dtype == np.float32
    assert 0.0 == image.numpy().min() and image.numpy().max() == 1.0
    x, y = next(iter(DataLoader(test, batch_size=16)))
    assert x.shape == (16, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x.numpy()[0], image.numpy())
    assert y.tolist()[0] == 7


def test_real_fashion_mnist_found_without_root(monkeypatch):
    monkeypatch.delenv(_storage.ENV_VAR, raising=False)
    shared("fashion-mnist")
    test = FashionMNIST(train=False)  # found in ../shared/data next to the checkout
    assert len(test) == 10000 and np.bincount(test.targets.numpy()).tolist() == [1000] * 10
    assert test.classes[9] == "Ankle boot"


def test_environment_variable_names_the_data_root(tmp_path, monkeypatch):
    (tmp_path / "mnist").symlink_to(shared("mnist"), target_is_directory=True)
    monkeypatch.setenv(_storage.ENV_VAR, str(tmp_path))
    assert _storage.search_dirs("mnist") == [tmp_path / "mnist"]
    assert len(MNIST(train=False)) == 10000


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"MNIST: file t10k-images-idx3-ubyte \(or "
                                                r"t10k-images-idx3-ubyte\.gz\) not found.*"
                                                r"download=True"):
        MNIST(root=tmp_path, train=False)


def test_corrupt_file_fails_its_checksum(tmp_path):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        raw = gzip.decompress((shared("mnist") / f"{name}.gz").read_bytes())
        if name.startswith("t10k-images"):
            raw = bytearray(raw)
            raw[5000] ^= 0xFF  # one pixel changed: still a well-formed IDX file
        (tmp_path / name).write_bytes(bytes(raw))  # stored uncompressed
    with pytest.raises(ValueError, match=r"MNIST: .*t10k-images-idx3-ubyte: SHA-256 .* is "
                                         r"[0-9a-f]{64}, expected 0fa7898d"):
        MNIST(root=tmp_path, train=False)


class Server:
    """A static file server on 127.0.0.1 (a free port) counting its requests."""

    def __init__(self, directory):
        self.requests = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                outer.requests.append(self.path)

        handler = functools.partial(Handler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def no_proxy(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def test_download_from_a_local_server(tmp_path, no_proxy):
    shared("mnist")
    with Server(SHARED) as server:
        test = MNIST(root=tmp_path, train=False, download=True, base_url=server.url + "/mnist/")
        assert len(test) == 10000 and test[0][1] == 7
        fetched = sorted(p.name for p in (tmp_path / "mnist").iterdir())
        assert fetched == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
        assert len(server.requests) == 2
        MNIST(root=tmp_path, train=False, download=True, base_url=server.url + "/mnist/")
        assert len(server.requests) == 2  # already there: nothing fetched again


def test_corrupt_download_leaves_nothing(tmp_path, no_proxy):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(shared("mnist") / "t10k-images-idx3-ubyte.gz", served)
    raw = bytearray(gzip.decompress((shared("mnist") / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    (served / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    dest = tmp_path / "cache"
    with Server(served) as server:
        with pytest.raises(ValueError, match=r"download of .*t10k-labels-idx1-ubyte\.gz: SHA-256"):
            MNIST(root=dest, train=False, download=True, base_url=server.url)
        assert sorted(os.listdir(dest / "mnist")) == ["t10k-images-idx3-ubyte.gz"]
        with pytest.raises(RuntimeError, match=r"could not fetch http://127\.0\.0\.1:\d+/nope/"):
            FashionMNIST(root=dest, train=False, download=True, base_url=server.url + "/nope")
        assert os.listdir(dest / "fashion-mnist") == []
