"""Provenance, safe writes and safe reads: versions, content hashes, atomic files, and
one rule for every reader's failures (:func:`reading`)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import subprocess
import tempfile
import tomllib
import zipfile
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
    commit = source_commit()
    if commit is not None:
        found["latentdim_commit"] = commit
    return found


@functools.lru_cache(maxsize=1)
def source_commit() -> str | None:
    """The git commit latentdim runs from, ``+dirty`` when tracked files differ from it,
    where the package sits in a git checkout (an editable install); None elsewhere (an
    installed wheel carries its version only)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        git = lambda *args: subprocess.run(  # noqa: E731
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "latentdim")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


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


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    with reading(str(path)), open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


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
    with writing(str(target)):
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    os.close(fd)
    try:
        with writing(str(target)):
            yield Path(tmp)
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def writing(what: str) -> Iterator[None]:
    """An ``OSError`` in the block (disk full, folder made read-only, quota) becomes
    one :class:`LatentdimError`, ``cannot write WHAT: REASON``."""
    try:
        yield
    except OSError as exc:
        raise LatentdimError(f"cannot write {what}: {exc.strerror or exc}") from None


def _reason(exc: BaseException) -> str:
    """What went wrong with a file, in a few words: the decoder's own message, first line."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
    if isinstance(exc, EOFError):
        return "the file ends too early (truncated?)"
    if isinstance(exc, MemoryError):
        return "it declares more data than fits in memory (corrupt header?)"
    if isinstance(exc, zipfile.BadZipFile):
        return f"not a valid zip archive ({exc})"
    if isinstance(exc, tomllib.TOMLDecodeError):
        return f"not valid TOML ({exc})"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc})"
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    first = first if len(first) <= 160 else first[:157] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


@contextlib.contextmanager
def reading(what: str) -> Iterator[None]:
    """Turn any failure inside the block into one :class:`LatentdimError`,
    ``cannot read WHAT: REASON``.

    Every reader of a user's or a run's file parses inside this block. The decoders
    involved (zip, numpy headers, pickle, TOML, JSON, UTF-8) raise a dozen exception
    types on corrupt, truncated or foreign bytes, so a reader that listed them would
    miss one; a reader's contract is instead "a valid result or a LatentdimError".
    LatentdimErrors raised inside (a reader's own validation) pass unchanged.
    """
    try:
        yield
    except LatentdimError:
        raise
    except Exception as exc:
        raise LatentdimError(f"cannot read {what}: {_reason(exc)}") from None


def json_lines(path: Path, start: int = 0) -> list[dict]:
    """The JSON objects of a ``.jsonl`` log that is only informative (``sweeps.jsonl``),
    from byte ``start`` on: unreadable files and lines are skipped, never an error."""
    try:
        lines = path.read_bytes()[start:].splitlines()
    except OSError:
        return []
    objects = []
    for line in lines:
        with contextlib.suppress(ValueError):  # UnicodeDecodeError is a ValueError
            obj = json.loads(line)
            if isinstance(obj, dict):
                objects.append(obj)
    return objects
