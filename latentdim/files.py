"""Provenance and safe writes: versions, content hashes, atomic files."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from latentdim.errors import LatentdimError

_VERSIONED = ("latentdim", "numpy", "scipy", "torch", "scikit-learn")


def versions() -> dict[str, str]:
    """Python, platform and the versions of the packages a result depends on."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for name in _VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def canonical_json(obj: object) -> str:
    """JSON with sorted keys and no whitespace: equal objects give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def config_hash(obj: object, length: int = 16) -> str:
    """Short SHA-256 of an object's canonical JSON: the identity of a config."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def sha256_arrays(*arrays) -> str:
    """SHA-256 over the dtype, shape and bytes of each array, in order."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes(order="C"))
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    A failure inside the block removes the temporary file, so no half-written
    output is ever left behind. Without ``force`` an existing ``path`` is an error.
    """
    target = Path(path)
    if target.exists() and not force:
        raise LatentdimError(f"{target} exists; use --force to overwrite")
    if target.is_dir():
        raise LatentdimError(f"{target} is a directory")
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or "."
        )
    except OSError as exc:
        raise LatentdimError(f"cannot write {target}: {exc.strerror}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise

