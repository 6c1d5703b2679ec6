"""MNIST and Fashion-MNIST from their IDX files, checked against the known SHA-256 values.

Where the files are looked for (``root``, ``$CHAINRULE_DATA``, ``../shared/data``, the cache) is
described in ``chainrule.data.datasets._storage``. Nothing is downloaded unless
``download=True``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from chainrule.data.dataset import Dataset
from chainrule.data.datasets import _storage
from chainrule.data.datasets.idx import parse_idx
from chainrule.tensor import Tensor


class _IDXImages(Dataset):
    """28x28 grey images with labels, stored as four IDX files (train and t10k)."""

    folder = ""
    base_url = ""
    sha256: dict[str, str] = {}
    classes: list[str] = []

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 transform: Any = None, target_transform: Any = None, download: bool = False,
                 *, base_url: str | None = None) -> None:
        self.root, self.train = root, train
        self.transform, self.target_transform = transform, target_transform
        split = "train" if train else "t10k"
        url = base_url or self.base_url
        images = self._load(f"{split}-images-idx3-ubyte", root, download, url)
        labels = self._load(f"{split}-labels-idx1-ubyte", root, download, url)
        n = 60000 if train else 10000
        name = type(self).__name__
        if images.shape != (n, 28, 28) or labels.shape != (n,):
            raise ValueError(f"{name}: the {split} files hold images of shape {images.shape} "
                             f"and labels of shape {labels.shape}; expected ({n}, 28, 28) and "
                             f"({n},)")
        if labels.max() >= len(self.classes):
            raise ValueError(f"{name}: a label is {int(labels.max())}, expected labels 0.."
                             f"{len(self.classes) - 1}")
        self.data = Tensor._wrap(images)
        self.targets = Tensor._wrap(labels.astype(np.int64))

    def _load(self, filename: str, root: Any, download: bool, base_url: str) -> np.ndarray:
        name = type(self).__name__
        dirs = _storage.search_dirs(self.folder, root)
        path = _storage.find_file(dirs, filename)
        expected = self.sha256[filename]
        if path is None:
            if not download:
                raise FileNotFoundError(
                    f"{name}: file {filename} (or {filename}.gz) not found in "
                    f"{', '.join(str(d) for d in dirs)}; pass root=<folder holding the IDX "
                    f"files>, set {_storage.ENV_VAR}=<folder holding '{self.folder}/'>, or "
                    "download=True")
            dest = _storage.download_dir(self.folder, root) / (filename + ".gz")
            path = _storage.download(f"{base_url.rstrip('/')}/{filename}.gz", dest, expected)
        raw = _storage.read_maybe_gzip(path)
        array = parse_idx(raw, f"{name}: {path}")
        _storage.check_sha256(raw, expected, f"{name}: {path}")
        return array

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """``(image, label)``: a float32 tensor of shape (1, 28, 28) in [0, 1] and an int."""
        img = Tensor._wrap(self.data._data[index].astype(np.float32)[None] / 255.0)
        target: Any = int(self.targets._data[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def _get_batch(self, indices: np.ndarray) -> list[Tensor] | None:
        if self.transform is not None or self.target_transform is not None:
            return None
        images = self.data._data[indices].astype(np.float32)[:, None] / 255.0
        return [Tensor._wrap(images), Tensor._wrap(self.targets._data[indices])]

    def extra_repr(self) -> str:
        return f"split={'train' if self.train else 'test'}, samples={len(self)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class MNIST(_IDXImages):
    """The MNIST handwritten digits: 60000 training and 10000 test images of 28x28 pixels.

    Y. LeCun, C. Cortes, C. Burges. Samples are ``(image, label)``: a float32 tensor of shape
    (1, 28, 28) scaled to [0, 1] (what torchvision's ``ToTensor()`` gives) and an int 0..9.
    ``.data`` holds the uint8 images (N, 28, 28), ``.targets`` the int64 labels.

    Args:
        root: folder holding the IDX files (or a ``mnist/`` folder with them); default:
            ``$CHAINRULE_DATA/mnist``, else ``../shared/data/mnist`` next to the checkout, else
            the download cache.
        train: the 60000 training images, else the 10000 test images.
        transform: applied to each image tensor (disables whole-batch fetching).
        target_transform: applied to each label.
        download: fetch missing files from ``base_url`` (verified by SHA-256, written
            atomically).
        base_url: where ``<file>.gz`` is downloaded from.

    Example (needs the files)::

        >>> from chainrule.data.datasets import MNIST
        >>> test = MNIST(train=False)              # doctest: +SKIP
        >>> test[0][0].shape, test[0][1]           # doctest: +SKIP
        ((1, 28, 28), 7)
    """

    folder = "mnist"
    base_url = "https://ossci-datasets.s3.amazonaws.com/mnist/"
    sha256 = _storage.parse_sums("""
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte
ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
""")
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]


class FashionMNIST(_IDXImages):
    """Fashion-MNIST (Zalando SE, 2017, MIT): 28x28 images of 10 kinds of clothing.

    The same layout, arguments and sample format as :class:`MNIST`; the folder is
    ``fashion-mnist``.

    Example (needs the files)::

        >>> from chainrule.data.datasets import FashionMNIST
        >>> FashionMNIST(train=False).classes[9]   # doctest: +SKIP
        'Ankle boot'
    """

    folder = "fashion-mnist"
    base_url = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    sha256 = _storage.parse_sums("""
5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b  t10k-images-idx3-ubyte
0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34  t10k-labels-idx1-ubyte
c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888  train-images-idx3-ubyte
bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9  train-labels-idx1-ubyte
""")
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
