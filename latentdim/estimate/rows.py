"""Rows an estimate reads: subsampled, standardised, their principal basis."""

from __future__ import annotations

import numpy as np

from latentdim.errors import LatentdimError

MAX_BAND_POINTS = 5000  # DANCoFit's
MAX_BAND_ROWS = 10_000
MAX_ROWS = 50_000


def subsample_rows(x: np.ndarray, rows: int, rng: np.random.Generator) -> np.ndarray:
    """``x`` itself when it has at most ``rows`` rows, else that many random rows of it
    (in their original order)."""
    if x.shape[0] <= rows:
        return x
    return x[np.sort(rng.choice(x.shape[0], rows, replace=False))]


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns with nonzero spread, centred and scaled to unit variance; and their indices."""
    kept, centre, sd = column_scaling(x)
    return _scaled(x, kept, centre, sd), kept


def column_scaling(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The columns of ``x`` with nonzero spread, and their means and standard deviations."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=0)
    scale = np.abs(x).max(axis=0)
    kept = np.flatnonzero(sd > 1e-12 * np.maximum(scale, 1e-300))
    if kept.size == 0:
        raise LatentdimError("every column is constant: the data has dimension 0")
    return kept, x[:, kept].mean(axis=0), sd[kept]


RANK_TOL = 1e-5  # principal directions whose singular value is below this share of the largest are null


def principal_basis(xs: np.ndarray) -> np.ndarray | None:
    """An orthonormal basis (D, r) of the span of the rows of ``xs`` (already centred)
    when their numerical rank r is below D, else None. Null directions are those whose
    singular value is below ``RANK_TOL`` times the largest: variance shares below 1e-10,
    far below what a model resolves, and far above float32 rounding (about 1e-8 of the
    largest on the MLP data, whose null directions are exact)."""
    xs = np.asarray(xs, dtype=np.float64)
    power, vectors = np.linalg.eigh(xs.T @ xs)  # ascending; the squared singular values
    kept = power > RANK_TOL**2 * power[-1]
    return None if kept.all() else vectors[:, kept][:, ::-1]  # largest first


def _scaled(
    x: np.ndarray, kept: np.ndarray, centre: np.ndarray, sd: np.ndarray, basis: np.ndarray | None = None
) -> np.ndarray:
    xs = (np.asarray(x, dtype=np.float64)[:, kept] - centre) / sd
    return (xs if basis is None else xs @ basis).astype(np.float32)
