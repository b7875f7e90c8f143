"""The classical band: scikit-dimension's TwoNN, MLE, DANCoFit and local PCA beside
the estimate, in worker shares when there are spare cores."""

from __future__ import annotations

import importlib.util
import time

import numpy as np

from latentdim.errors import LatentdimError
from latentdim.estimate.rows import (
    MAX_BAND_POINTS,
    MAX_BAND_ROWS,
    standardise,
    subsample_rows,
)


def _twonn(x, rng):
    import skdim

    return skdim.id.TwoNN().fit(x).dimension_


def _mle(x, rng):
    import skdim

    return skdim.id.MLE().fit(x).dimension_


def _danco_fit(x, rng):
    import skdim

    if x.shape[0] > MAX_BAND_POINTS:
        x = x[rng.choice(x.shape[0], MAX_BAND_POINTS, replace=False)]
    # DANCoFit's calibration table covers candidate dimensions D <= 100
    danco = skdim.id.DANCo(ver="DANCoFit", D=min(x.shape[1], 100), random_state=int(rng.integers(2**31)))
    return danco.fit(x).dimension_


LPCA_NEIGHBOURS = 100
LPCA_ALPHA = 0.05  # lPCA's ver="FO" threshold (alphaFO): variances above 5 % of the largest count
LPCA_CHUNK = 64  # rows per batched eigenvalue call (64 x 100 x 100 floats; larger chunks ran slower)


def _lpca_pointwise(x: np.ndarray) -> np.ndarray:
    """lPCA's pointwise estimates at every row of ``x``: what ``skdim.id.lPCA().fit_pw(x,
    n_neighbors=100)`` returns (tested equal, row for row), computed in batches.

    skdim fits a ``PCA`` to each row's neighbourhood (its 100 nearest other rows) in a
    Python loop and counts the variances above ``alphaFO`` = 5 % of the largest
    (``ver="FO"``). Here the neighbourhoods are centred 64 at a time and their
    variances read as the eigenvalues of the smaller of their Gram and covariance
    matrices (the squared singular values ``PCA`` reads). Measured on 10 000 x 128,
    one thread: 3.4 s against 13.6 s (``bench/lpca_batched.py``: 0.23 of skdim's time
    over its 30 datasets). The counts can differ only where a variance lies within
    rounding of the threshold; at none of the rows of the 24 benchmark manifolds and
    six MLP datasets (two n, three maps) did they (``bench/results/lpca_batched.txt``).
    """
    from sklearn.neighbors import NearestNeighbors

    k = min(LPCA_NEIGHBOURS, x.shape[0] - 1)
    knn = NearestNeighbors(n_neighbors=k).fit(x).kneighbors(return_distance=False)
    counts = np.empty(x.shape[0], dtype=np.int64)
    for start in range(0, x.shape[0], LPCA_CHUNK):
        nb = x[knn[start : start + LPCA_CHUNK]]
        nb = nb - nb.mean(axis=1, keepdims=True)
        gram = nb @ nb.transpose(0, 2, 1) if k <= x.shape[1] else nb.transpose(0, 2, 1) @ nb
        variances = np.linalg.eigvalsh(gram)  # ascending; the common 1 / (k - 1) cancels
        counts[start : start + LPCA_CHUNK] = (variances > LPCA_ALPHA * variances[:, -1:]).sum(axis=1)
    return counts


def _lpca(x, rng):
    return float(np.mean(_lpca_pointwise(x)))


def need_baselines() -> None:
    """Raise a one-line error when scikit-dimension (the extra ``baselines``) is missing.
    It is looked up, not imported: the import (0.85 s) happens in the workers that run
    the band, after training, not in the driver before it."""
    try:
        found = importlib.util.find_spec("skdim") is not None
    except ValueError:  # sys.modules["skdim"] is None: import blocked
        found = False
    if not found:
        raise LatentdimError("the classical band needs: pip install 'latentdim[baselines]'")


BASELINES = {"TwoNN": _twonn, "MLE": _mle, "DANCoFit": _danco_fit, "lPCA": _lpca}


def band_rows(x: np.ndarray, max_rows: int = MAX_BAND_ROWS, seed: int = 0) -> np.ndarray:
    """The rows :func:`classical_band` reads: ``x``, or ``max_rows`` random rows of it."""
    return subsample_rows(x, max_rows, np.random.default_rng(seed))


def classical_band(
    x: np.ndarray, names=tuple(BASELINES), seed: int = 0, max_rows: int = MAX_BAND_ROWS
) -> dict[str, dict]:
    """Each classical estimate of ``x`` (standardised as for MaskAAE; at most
    ``max_rows`` random rows of it), with its run time and the rows it read."""
    return merge_band([band_share(x, 0, 1, names, seed, max_rows)])


# seconds each estimator takes on 10 000 x 128 (the MLP data, n = 8), one thread: the band's own
# timings (``seconds`` in ``latentdim estimate --json``), measured at a7a5647 (2026-11-28)
BAND_SECONDS = {"TwoNN": 4.8, "MLE": 0.7, "DANCoFit": 2.6, "lPCA": 3.4}


def band_assignment(names, shares: int) -> list[list[str]]:
    """The estimators each of ``shares`` shares runs: longest first (``BAND_SECONDS``),
    each to the share with the least work so far."""
    loads = [[0.0, []] for _ in range(shares)]  # per share: seconds so far, its estimators
    for name in sorted(names, key=lambda n: -BAND_SECONDS.get(n, 0.0)):
        load = min(loads, key=lambda entry: entry[0])
        load[0] += BAND_SECONDS.get(name, 0.0)
        load[1].append(name)
    return [assigned for _, assigned in loads]


def band_share(
    x: np.ndarray,
    share: int = 0,
    shares: int = 1,
    names=tuple(BASELINES),
    seed: int = 0,
    max_rows: int = MAX_BAND_ROWS,
) -> dict[str, dict]:
    """Share ``share`` of ``shares`` of :func:`classical_band`'s work, for worker
    processes to run side by side: the estimators :func:`band_assignment` gives it,
    each run whole on the same rows; :func:`merge_band` joins the shares into what
    ``classical_band`` returns, value for value. Two shares run TwoNN and MLE (5.5 s on
    10 000 x 128), and lPCA and DANCoFit (6.0 s), against 11.6 s for the whole band."""
    need_baselines()
    from threadpoolctl import threadpool_limits

    x = band_rows(x, max_rows, seed)
    xs, _ = standardise(x)
    xs = xs.astype(np.float64)
    out = {}
    # one BLAS thread: lPCA's thousands of small eigenvalue problems run slower oversubscribed
    with threadpool_limits(limits=1):
        for name in band_assignment(list(names), shares)[share]:
            rng = np.random.default_rng(seed)
            start = time.perf_counter()
            dimension = float(BASELINES[name](xs, rng))
            rows = min(xs.shape[0], MAX_BAND_POINTS) if name == "DANCoFit" else xs.shape[0]
            out[name] = {"dimension": dimension, "seconds": time.perf_counter() - start, "rows": rows}
    return out


def merge_band(parts: list[dict[str, dict]]) -> dict[str, dict]:
    """The band from its shares (:func:`band_share`), in the order
    :func:`classical_band` runs the estimators."""
    out = {name: entry for part in parts for name, entry in part.items()}
    return {name: out[name] for name in BASELINES if name in out}
