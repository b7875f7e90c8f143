"""Evaluation metrics as pure numpy functions (METHOD.md §4), all in float64."""

from __future__ import annotations

import numpy as np

ACTIVE_THRESHOLD = 0.1


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(s)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def frechet_distance_gaussians(mu1, s1, mu2, s2) -> float:
    """||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr (S1^{1/2} S2 S1^{1/2})^{1/2}.

    The trace term equals tr (S1 S2)^{1/2}; it is computed with two symmetric
    eigendecompositions (R = S1^{1/2}, then the eigenvalues of R S2 R), which stay
    real and avoid ``scipy.linalg.sqrtm``.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(s1, np.float64), np.asarray(s2, np.float64)
    root = _sqrt_psd(s1)
    middle = root @ s2 @ root
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * cross)


def gaussian_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (N - 1)-normalised covariance of the rows of ``x``, in float64."""
    x = np.asarray(x, np.float64)
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of two samples (rows are points).

    Biased by O(1/N): compare values only at equal sample counts.
    """
    return frechet_distance_gaussians(*gaussian_fit(a), *gaussian_fit(b))


def scaled_fid(generated: np.ndarray, real: np.ndarray) -> float:
    """Fréchet distance / tr(cov real) (our definition): free of the data's scale and d."""
    mu_r, s_r = gaussian_fit(real)
    return frechet_distance_gaussians(*gaussian_fit(generated), mu_r, s_r) / float(np.trace(s_r))


def active_dims(mask: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> np.ndarray:
    """Indices i with mask alpha_i >= threshold (MaskAAE's active latent dimensions)."""
    return np.flatnonzero(np.asarray(mask) >= threshold)


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


def recon_mse(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Mean squared reconstruction error per coordinate: mean_ij (x_ij - x_hat_ij)^2."""
    return float(np.mean((np.asarray(x, np.float64) - np.asarray(x_hat, np.float64)) ** 2))
