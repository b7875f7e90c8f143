"""Reading a data matrix (rows are points) from .npy, .npz or .csv, with validation."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from latentdim.errors import LatentdimError


def _read_csv(path: Path) -> np.ndarray:
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if rows:
        try:
            [float(v) for v in rows[0]]
        except ValueError:
            rows = rows[1:]  # a header
    try:
        return np.array([[float(v) for v in row] for row in rows], dtype=np.float64)
    except ValueError as exc:
        raise LatentdimError(f"{path}: non-numeric value in CSV ({exc})") from None


def _read_npz(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        if "x" in archive.files:
            return archive["x"]
        if len(archive.files) == 1:
            return archive[archive.files[0]]
        raise LatentdimError(f"{path}: no array named 'x' among {', '.join(archive.files)}")


_READERS = {".npy": lambda p: np.load(p, allow_pickle=False), ".npz": _read_npz, ".csv": _read_csv}


def read_matrix(path: str | os.PathLike) -> np.ndarray:
    """The data matrix in ``path`` as float32, N x D: .npy, .npz (array ``x``, or the
    only array) or .csv (header optional). Rejects NaN/inf and fewer than 2 rows or columns."""
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise LatentdimError(f"{path}: unknown file type {path.suffix!r}; use .npy, .npz or .csv")
    try:
        x = reader(path)
    except LatentdimError:
        raise
    except (OSError, ValueError) as exc:
        raise LatentdimError(f"cannot read {path}: {exc}") from None
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
