"""Where data files live, how they are checked (SHA-256) and how they are downloaded (atomically).

Search order for a data set's folder ``<name>`` (e.g. ``mnist``):
1. ``root`` given by the caller: ``root/<name>/`` if it exists, else ``root/`` itself;
2. else ``$CHAINRULE_DATA/<name>/`` when the environment variable is set;
3. else ``../shared/data/<name>/`` next to the source checkout, when present, then the download
   cache ``$XDG_CACHE_HOME/chainrule/<name>/`` (``~/.cache/chainrule/<name>/``).
Downloads go to the first of: ``root/<name>/``, ``$CHAINRULE_DATA/<name>/``, the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zlib
from pathlib import Path

ENV_VAR = "CHAINRULE_DATA"


def _shared_root() -> Path:
    # NOTE: src/chainrule/data/datasets/_storage.py -> the repository is parents[4].
    return Path(__file__).resolve().parents[4].parent / "shared" / "data"


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chainrule"


def search_dirs(name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for data set ``name``, in order (see the module docstring)."""
    if root is not None:
        root = Path(root).expanduser()
        return [root / name, root] if (root / name).is_dir() else [root, root / name]
    env = os.environ.get(ENV_VAR)
    if env:
        return [Path(env).expanduser() / name]
    shared = _shared_root() / name
    return ([shared] if shared.is_dir() else []) + [_cache_root() / name]


def download_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    if root is not None:
        return Path(root).expanduser() / name
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() / name if env else _cache_root() / name


def find_file(dirs: list[Path], filename: str) -> Path | None:
    """The first of ``dir/filename`` or ``dir/filename.gz`` that exists."""
    for d in dirs:
        for candidate in (d / filename, d / (filename + ".gz")):
            if candidate.is_file():
                return candidate
    return None


def read_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, decompressed when it is gzipped (recognised by its magic bytes)."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
        raise ValueError(f"{path}: the gzip stream is damaged or truncated ({e}); delete the "
                         "file and download it again") from e


def parse_sums(text: str) -> dict[str, str]:
    """``{filename: hash}`` from the lines of a ``sha256sum`` listing."""
    return {name.lstrip("*"): digest for digest, name in (ln.split() for ln in
                                                          text.strip().splitlines())}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_sha256(data: bytes, expected: str, what: str) -> None:
    got = sha256(data)
    if got != expected:
        raise ValueError(f"{what}: SHA-256 of the decompressed content is {got}, expected "
                         f"{expected}; the file is corrupt or not the expected version; delete "
                         "it and download it again")


def download(url: str, dest: Path, expected_sha256: str, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest``, verified against the SHA-256 of its decompressed content.

    The bytes go to a temporary file in ``dest``'s folder that replaces ``dest`` in one
    ``os.replace`` only after the check passed: a failed or interrupted download leaves nothing
    behind under the final name.
    """
    import urllib.error
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    while chunk := response.read(1 << 20):
                        f.write(chunk)
            except (urllib.error.URLError, OSError) as e:
                raise RuntimeError(f"download: could not fetch {url} ({e}); check the network "
                                   "or pass another base_url") from e
        check_sha256(read_maybe_gzip(tmp), expected_sha256, f"download of {url}")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest
