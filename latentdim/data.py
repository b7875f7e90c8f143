"""Reading a data matrix (rows are points) from .npy, .npz or .csv, with validation."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from latentdim.errors import LatentdimError
from latentdim.files import reading

_MAGIC = {".npy": (b"\x93NUMPY",), ".npz": (b"PK\x03\x04", b"PK\x05\x06")}


def check_magic(path: Path) -> None:
    """A ``.npy`` or ``.npz`` file must begin with its format's magic bytes (numpy
    would take anything else for a pickle, which latentdim never loads)."""
    kind = path.suffix.lower()
    with reading(str(path)), open(path, "rb") as handle:
        head = handle.read(6)
    if not head:
        raise LatentdimError(f"{path}: the file is empty")
    if not head.startswith(_MAGIC[kind]):
        what = "an .npy array" if kind == ".npy" else "an .npz (zip) archive"
        raise LatentdimError(f"{path}: not {what} (wrong magic bytes {head[:4]!r})")


def _read_csv(path: Path) -> np.ndarray:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [(number, row) for number, row in enumerate(csv.reader(handle), 1) if row]
    if rows:
        try:
            [float(v) for v in rows[0][1]]
        except ValueError:
            rows = rows[1:]  # a header
    if not rows:
        raise LatentdimError(f"{path}: no data rows")
    width = len(rows[0][1])
    for number, row in rows:
        if len(row) != width:
            raise LatentdimError(f"{path}: line {number} has {len(row)} values, the first data row {width}")
    try:
        return np.array([[float(v) for v in row] for _, row in rows], dtype=np.float64)
    except ValueError as exc:
        raise LatentdimError(f"{path}: non-numeric value in CSV ({exc})") from None


def _read_npz(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        members = set(archive.zip.namelist())
        arrays = [name for name in archive.files if f"{name}.npy" in members]  # not other files
        if "x" in arrays:
            return archive["x"]
        if len(arrays) == 1:
            return archive[arrays[0]]
        if not arrays:
            raise LatentdimError(f"{path}: the archive holds no arrays")
        raise LatentdimError(f"{path}: no array named 'x' among {', '.join(arrays)}")


_READERS = {".npy": lambda p: np.load(p, allow_pickle=False), ".npz": _read_npz, ".csv": _read_csv}


def read_matrix(path: str | os.PathLike) -> np.ndarray:
    """The data matrix in ``path`` as float32, N x D: .npy, .npz (array ``x``, or the
    only array) or .csv (header optional). Rejects NaN/inf and fewer than 2 rows or columns."""
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise LatentdimError(f"{path}: unknown file type {path.suffix!r}; use .npy, .npz or .csv")
    if path.suffix.lower() in _MAGIC:
        check_magic(path)
    with reading(str(path)):
        x = reader(path)
    return check_matrix(x, str(path))


def check_matrix(x, name: str = "data") -> np.ndarray:
    """Validate a 2-D numeric matrix with finite values, >= 2 rows and >= 2 columns."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise LatentdimError(f"{name}: not numeric (dtype {x.dtype})")
    if x.ndim != 2:
        raise LatentdimError(f"{name}: expected a 2-D matrix, got shape {x.shape}")
    if x.shape[0] < 2 or x.shape[1] < 2:
        raise LatentdimError(f"{name}: need at least 2 rows and 2 columns, got {x.shape[0]} x {x.shape[1]}")
    if not np.all(np.isfinite(x)):
        raise LatentdimError(f"{name}: contains NaN or infinite values")
    return x.astype(np.float32, copy=False)
