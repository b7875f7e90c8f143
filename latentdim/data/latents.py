"""Isotropic latent laws on R^n, each with mean 0 and covariance I_n.

``LATENT_LAWS`` is the registry: name -> sampler(rng, size, n). The CLI's
``--latent`` choices read it; add a law by adding an entry.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Sampler = Callable[[np.random.Generator, int, int], np.ndarray]

_STUDENT_DF = 5.0


def gaussian(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    """z ~ N(0, I_n)."""
    return rng.standard_normal((size, n))


def uniform(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    """z uniform on the cube [-sqrt 3, sqrt 3]^n (unit variance per coordinate)."""
    return rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size=(size, n))


def ball(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    """z uniform in the ball of radius sqrt(n + 2), whose covariance is I_n.

    Direction g/||g|| with g Gaussian; radius R * U^(1/n) with U ~ U(0, 1).
    """
    g = rng.standard_normal((size, n))
    radius = np.sqrt(n + 2.0) * rng.uniform(size=(size, 1)) ** (1.0 / n)
    return g / np.linalg.norm(g, axis=1, keepdims=True) * radius


def student_t(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    """Multivariate Student-t, 5 degrees of freedom, scaled to covariance I_n.

    z = sqrt((df - 2) / df) * g / sqrt(chi2_df / df): rotation invariant, heavy tailed.
    """
    g = rng.standard_normal((size, n))
    chi2 = rng.chisquare(_STUDENT_DF, size=(size, 1))
    return np.sqrt((_STUDENT_DF - 2.0) / _STUDENT_DF) * g / np.sqrt(chi2 / _STUDENT_DF)


LATENT_LAWS: dict[str, Sampler] = {
    "gaussian": gaussian,
    "uniform": uniform,
    "ball": ball,
    "student-t": student_t,
}
