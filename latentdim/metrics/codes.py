"""What a model's codes and mask say (METHOD.md §4), as pure numpy functions in
float64: the active mask dims and units, the variance-gap and local-gap counts, and
the codes' normalised average correlation (NAC)."""

from __future__ import annotations

import numpy as np

ACTIVE_THRESHOLD = 0.1  # mask alpha_i at or above it: an active dim
ACTIVE_UNIT_THRESHOLD = 0.01


def active_dims(mask: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> np.ndarray:
    """Indices i with mask alpha_i >= threshold (MaskAAE's active latent dimensions)."""
    return np.flatnonzero(np.asarray(mask) >= threshold)


def active_units(codes: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> np.ndarray:
    """Indices u with Cov_x(E[z_u | x]) > ``threshold`` (Burda et al. 2016): the latent
    units whose posterior mean varies across the data; ``codes`` are those means (N, m)."""
    return np.flatnonzero(np.asarray(codes, dtype=np.float64).var(axis=0) > threshold)


def variance_gap_count(variances: np.ndarray) -> int:
    """The number of latent units below the largest gap in their posterior variances.

    ``variances`` are each unit's posterior variance averaged over the data, in prior
    units (a used unit's falls toward 0 as a learned-variance VAE trains; an unused
    unit's stays near the prior's 1). Sorted ascending, capped at 1, with the prior's
    variance 1 appended, the count is the position of the largest ratio between
    neighbours: u_(1) <= ... <= u_(k) << u_(k+1). No threshold: the rule is scale-free
    and reads m when every unit is used. It assumes at least one unit is used.
    """
    return int(variance_gap_counts(np.asarray(variances, dtype=np.float64)[None])[0])


def _log_gaps(variances: np.ndarray) -> np.ndarray:
    """Per row, the log ratios between neighbours of the sorted variances, capped at 1,
    with the prior's 1 appended (N, m)."""
    v = np.sort(np.minimum(np.asarray(variances, dtype=np.float64), 1.0), axis=-1)
    v = np.concatenate([np.maximum(v, 1e-300), np.ones((*v.shape[:-1], 1))], axis=-1)
    return np.diff(np.log(v), axis=-1)


def variance_gap_counts(variances: np.ndarray) -> np.ndarray:
    """:func:`variance_gap_count` of each row of ``variances`` (N, m): (N,) integers."""
    return np.argmax(_log_gaps(variances), axis=-1) + 1


def variance_gap_contrasts(variances: np.ndarray) -> np.ndarray:
    """Per row of ``variances`` (N, m), how clearly the gap the count reads stands out:
    the ratio across it over the largest ratio between any other two neighbours (the
    variances as :func:`variance_gap_count` sorts them). >= 1; near 1 where the
    variances fall smoothly, with no gap to read; inf with a single unit. (N,) floats."""
    gaps = _log_gaps(variances)
    if gaps.shape[-1] < 2:
        return np.full(gaps.shape[:-1], np.inf)
    top = np.sort(gaps, axis=-1)
    return np.exp(top[..., -1] - top[..., -2])


def local_gap_counts(precisions: np.ndarray) -> np.ndarray:
    """Per point, the latent directions the data pin down: the gap count
    (:func:`variance_gap_counts`) of the linearised posterior variances 1 / (1 + lambda)
    along the eigen-directions of the data's precision, whose eigenvalues are the rows
    of ``precisions`` (N, r) (:meth:`latentdim.models.vae.VAE.local_precisions`). A
    direction along which the decoder is flat (lambda -> 0) keeps the prior's variance
    1; one it resolves finely (lambda >> 1) has a variance near 0. (N,) integers."""
    return variance_gap_counts(1.0 / (1.0 + np.asarray(precisions, dtype=np.float64)))


def local_gap_contrasts(precisions: np.ndarray) -> np.ndarray:
    """Per point, :func:`variance_gap_contrasts` of the variances :func:`local_gap_counts`
    reads: how clearly the local dimension there is separated (N,) floats."""
    return variance_gap_contrasts(1.0 / (1.0 + np.asarray(precisions, dtype=np.float64)))


def nac(codes: np.ndarray, active: np.ndarray | None = None) -> float:
    """Normalised absolute correlation (our definition): mean |R_ij| over i != j.

    R is the correlation matrix of ``codes`` restricted to the ``active`` columns
    (all columns when None). A constant column has no correlation and counts as 0.
    NaN when fewer than two columns are active.
    """
    codes = np.asarray(codes, np.float64)
    if active is not None:
        codes = codes[:, active]
    k = codes.shape[1]
    if k < 2:
        return float("nan")
    centred = codes - codes.mean(axis=0)
    std = np.sqrt((centred**2).mean(axis=0))
    scaled = np.divide(centred, std, out=np.zeros_like(centred), where=std > 0)
    corr = scaled.T @ scaled / codes.shape[0]
    return float((np.abs(corr).sum() - np.abs(np.diag(corr)).sum()) / (k * (k - 1)))
