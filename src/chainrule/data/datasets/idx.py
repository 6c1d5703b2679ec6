"""The IDX file format of MNIST (http://yann.lecun.com/exdb/mnist/), gzipped or not.

Layout: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D
float32, 0x0E float64), the number of dimensions, each dimension as a big-endian uint32, then the
values in big-endian C order.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from pathlib import Path

import numpy as np

from chainrule.data.datasets._storage import read_maybe_gzip

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _TYPES.items()}


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """The array stored in the (decompressed) IDX bytes ``raw``; ``name`` is used in errors."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        head = raw[:4].hex() or "empty"
        raise ValueError(f"read_idx: {name}: magic number 0x{head} is not an IDX header; "
                         "expected 0x0000 then a type code 0x08, 0x09, 0x0b-0x0e and the number "
                         "of dimensions")
    ndim, header = raw[3], 4 + 4 * raw[3]
    if len(raw) < header:
        raise ValueError(f"read_idx: {name}: truncated header: {ndim} dimensions need "
                         f"{header} bytes, the file has {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_TYPES[raw[2]])
    need = math.prod(shape) * dtype.itemsize
    have = len(raw) - header
    if have != need:
        problem = "is truncated" if have < need else f"has {have - need} bytes too many"
        raise ValueError(f"read_idx: {name}: shape {shape} of {dtype.newbyteorder('=')} needs "
                         f"{need} bytes of data, found {have}; the file {problem}")
    arr = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=header)
    return arr.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not, recognised by its content) into a NumPy array.

    Raises ``ValueError`` naming the file for a wrong magic number or a truncated file.

    >>> import numpy as np, tempfile, os
    >>> from chainrule.data.datasets import read_idx, write_idx
    >>> path = os.path.join(tempfile.mkdtemp(), "x.idx.gz")
    >>> write_idx(path, np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> read_idx(path)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    path = Path(path)
    return parse_idx(read_maybe_gzip(path), str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``."""
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code; expected one of "
                        "uint8, int8, int16, int32, float32, float64")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=_TYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzipped when ``path`` ends in ``.gz``."""
    data = idx_bytes(array)
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    Path(path).write_bytes(data)
