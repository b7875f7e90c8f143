"""The learned-variance VAE estimate (the default): its units in use."""

from __future__ import annotations

import numpy as np

from latentdim.estimate.count import (
    _LatentCount,
    _median_or_none,
)
from latentdim.estimate.engine import (
    NOISE_SHARE,
    _local_counts,
    _Reading,
)
from latentdim.estimate.rows import (
    MAX_ROWS,
)


class VAEDimension(_LatentCount):
    """Intrinsic dimension of X read locally from learned-variance VAEs (Dai & Wipf
    2019); the procedure of :class:`MaskAAEDimension` otherwise (rows, standardising,
    seeds, capacity doubling).

    The model: a Gaussian VAE whose decoder variance gamma is at its optimum, the batch
    MSE, at every step; its KL weight rises from 0 to 1 over the first ``kl_warmup``
    of the steps (0.5 %: 240 of 48 000; why, and what a longer warm-up costs, in
    :mod:`latentdim.models.vae`). Each trained seed gives two readings:

    * units in use (``latent_counts_``; the capacity rule reads them): the units below
      the largest gap in their posterior variances averaged over the rows
      (:func:`latentdim.metrics.variance_gap_count`);
    * the local dimension at a row x (``local_dimension_``): linearise the decoder at
      the posterior mean mu(x); the posterior's precision is then I + J^T J / gamma.
      Its data part has eigenvalues lambda_1 >= ... >= lambda_m, and the count is the
      gap count of the variances 1 / (1 + lambda_i)
      (:func:`latentdim.metrics.local_gap_counts`): the directions the data pin down,
      against those along which the decoder is flat there and the posterior keeps the
      prior's variance. No threshold.

    A seed's estimate is the median local dimension over (the first 5000 of) its rows;
    ``dimension_`` is the median over seeds. Rule for one case: a seed whose VAE
    leaves at least half of the data's variance unexplained (``residuals_``, the MSE
    of reconstructions from mu(x) in units where the data's variance is 1; ``>= 0.5``)
    has read the data as noise around no structure at all, and its estimate is D,
    the number of coordinates it trained on (the data fill their space at the
    resolution the VAE reaches). Why: the learned-gamma VAE gains (D - n)/2 log(1/gamma) from a
    manifold of dimension n, so nothing when n = D and little when n = D - 1; on the
    benchmark manifolds it stayed at its prior (residual 0.985-1.0) on the 20-dim
    box and Gaussian in R^20 and on the boundaries of cubes in R^18, R^25 and R^71,
    even from an auto-encoder start (M10b: the KL weight held at 0 until gamma < 0.1,
    reached at step 94; back at the prior by the end), and without the rule read 1. The rule
    turns those into D; it is a statement about the model, not a fit to the
    benchmark: D is right for n = D and one over for the cube boundaries.

    The span: the VAE trains on the coordinates of the span of the standardised rows
    (:func:`principal_basis`; ``rank_`` of them) when it is smaller than the number of
    columns, and D above is that rank. Why: the learned-variance likelihood weighs
    reconstruction by D/2 log gamma, so a column written twice doubles the pull toward
    more units without adding a dim (the benchmark's M6, M8, Mbeta, Mn1 and Mn2 repeat
    their columns 2-6 times; the synthetic MLP data at n <= 16 span 64 of 128 dims).
    Distances between rows are unchanged. Measured (256-wide layers, one seed) against the columns:
    M6 (6 in R^36, span 12) 12 -> 5, M8 (12 in R^72, span 24) 24 -> 3, Mbeta 7 -> 6,
    Mn1, Mn2, M2 and the paraboloids unchanged; on the MLP data at 12 000 iterations
    n = 8 and 16 read 9 and 16 against 10 and 17, at 48 000 the second map's n = 8
    and 16 read 8 and 16 against 9 and 17 (docs/estimate.md); checked on a map seed and latent
    law not used before (seed 2, uniform z; ``bench/vae_span.py``): 8 and 16 against
    9 and 17. Noisy data span every dim, and nothing changes there.

    Other local rules, read from the same trained models (the 24 benchmark manifolds,
    one seed, trained on the span) and not kept: the number of directions with
    lambda > 1 (where the data inform more than the prior; mean relative error 0.19,
    12 exact, against 0.072 and 16 for the gap count), the largest gap in log lambda
    among the first k + 1 directions, k the units in use (0.144, 16), and the gap
    count above restricted the same way (0.093, 15). lambda > 1 reads the 10-sphere
    right but M4, the helices, the spiral and the Moebius band over; the log-lambda
    gap reads the sphere, M10a and Mbeta right but M4 7, M6 11, M8 23, M2 and M3 2.

    Gap contrast (``gap_contrast_``, per row; a diagnostic, it changes no estimate):
    the ratio of variances across the gap the local count reads, over the largest
    ratio between any other two neighbours (:func:`latentdim.metrics.variance_gap_contrasts`);
    near 1 where the precisions fall smoothly and the count has no gap to read.
    Measured at the median row (``bench/results/id_accuracy-*-contrast-vae.txt``): of
    the 16 benchmark manifolds that trained, the 13 above 4 all read right (4.15 to
    1280), and the three below 3 were M4 (1.5, right), M6 (1.26, right) and Mbeta (2.52,
    wrong: 6 for 10). It does not catch the MLP data's n = 4 overcounts in general:
    one seed each, the first map read 6 at 2.3, the second 5 at 46 and the held-out map
    6 at 34 (n = 32: 7.2). So a low contrast says the reading is weak evidence; a high
    one does not say it is right.

    Why local: a closed manifold cannot be mapped one-to-one into R^n, so the VAE
    (256-wide layers) uses n + 1 units on the 10-sphere in R^11, 3 on the Swiss roll in R^3 and 8 on
    M4 (n = 4 in R^8) (units in use), but its decoder is flat, at each point, along
    the surplus: the local dimension reads 9, 2 and 4.

    Networks: 128-wide hidden layers (MaskAAE's count keeps 256), for speed: one
    iteration takes 0.74 ms on one thread against 1.44 ms (two seeds stacked 1.25
    against 2.7). Measured on the MLP data (d = 128, 10 000 rows, 48 000 iterations):
    the first map's n = 4, 8, 16, 32 read 6, 8, 16, 32 with either width (one seed);
    the second map's n = 32 reads 32 (per seed 32 32 31, residual 0.026-0.030). The
    narrower net fits less closely, and n = 32 is where that shows: on the second map at
    40 000 iterations it reads 31 (32 31 31) where 256-wide layers read 32 (32 32 32,
    residual 0.013), and at 36 000 31 on all three seeds. So the budget stays at
    48 000 iterations. Checked on a map seed and latent law not used to choose this
    (seed 2, uniform z): 6, 8, 16, 32. A budget that ends once the reading has settled
    does not pay, measured (``bench/estimate_settle.py``, the reading every 1000
    iterations of the cap, ``bench/results/estimate_settle.txt``): the reading holds a
    value for long stretches and then moves (the first map's n = 8 reads 10 from 4000
    to 18 000 iterations, then 8; n = 32 31 from 20 000 to 38 000, then 32), while the
    residual falls by 25-55 % with every doubling of the iterations, at every n, up to
    the cap; so a rule on the reading alone reads what the cap reads on only 9 (or 5)
    of 18 trajectories, and one that also waits for the residual to level off runs to
    the cap (or stops early three times, twice at another reading). Fewer, larger
    steps (batch 256, lr 2e-3, 12 000 iterations: the same rows seen) read that n = 8
    as 9, 8, 9. What the narrower net costs, measured on the
    benchmark manifolds: it collapsed to its prior (residual 0.96-0.985, so the noise
    rule reads D) on the 10-sphere in R^11, the 11-cube's boundary and M8, where
    256-wide layers trained and read 9, 8 and 3 (all three wrong either way); it
    reads 4, 8, 16, 32 / 5, 8, 16, 32 on the two MLP maps where 256-wide layers read
    6, 8, 16, 32 on both. A KL warm-up of 1 % frees those three at 128-wide layers (10, 9,
    2) but reads M6 5 and Mp3 10: 67 % exact on the 24, against 71 % at 0.5 %; not
    adopted (``bench/results/vae_warmup_1pct.txt``). And on noisy data (the MLP data plus 1 % and
    5 % of their RMS, which span all 128 columns) it overcounts n = 16: 19 and 19,
    against 17 and 16 with 256-wide layers (n = 8: 9 and 8, against 8 and 8).

    Measured (``bench/results/id_accuracy-*-vae.txt``): see docs/estimate.md
    section for the tables. ``latent_dim="auto"`` is min(64, D): the capacity must
    exceed n, and a units-in-use count within one of m doubles it.

    Parameters and attributes as :class:`MaskAAEDimension`, without ``critic_hidden``,
    with ``kl_warmup``; ``posterior_variances_`` (the median seed's, per unit) in place
    of ``mask_``; ``local_dimension_`` (per row of X; :meth:`local_dimension` reads
    other rows); ``gap_contrast_`` (per row of X: how clearly its local dimension is
    separated, :meth:`gap_contrast`); ``latent_counts_`` (units in use per seed); ``residuals_`` (per seed).
    """

    model_name = "vae"
    likelihood = "learned"
    affine_span = True
    auto_capacity = 64

    def __init__(
        self,
        latent_dim="auto",
        seeds: int = 3,
        steps: int = 48_000,
        batch_size: int = 64,
        hidden=(128, 128),
        n_jobs: int = 1,
        random_state=0,
        device: str = "auto",
        max_rows: int = MAX_ROWS,
        kl_warmup: float = 0.005,
        settle: bool = False,
    ):
        self.latent_dim = latent_dim
        self.seeds = seeds
        self.steps = steps
        self.batch_size = batch_size
        self.hidden = hidden
        self.kl_warmup = kl_warmup
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.device = device
        self.max_rows = max_rows
        self.settle = settle

    def _kl_warmup(self) -> float:
        return float(self.kl_warmup)

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.kl_warmup, (int, float, np.floating)) or not 0 <= self.kl_warmup < 1:
            raise ValueError(f"kl_warmup must be a fraction of the steps in [0, 1), got {self.kl_warmup!r}")

    def _keep_reading(self, results: list[_Reading], pick: int) -> None:
        self.posterior_variances_ = np.asarray(results[pick].values)
        self.residuals_ = [r.residual for r in results]

    def _keep_local(self, X: np.ndarray, read: tuple[np.ndarray, np.ndarray] | None) -> None:
        if self.rows_used_ < self.rows_:  # a subsample: the rows read are not X's first
            self.local_dimension_, self.gap_contrast_ = self._local(X)
        else:  # X's first rows, in order, read in the worker (row by row, as here)
            counts, contrasts = read
            if counts.size < X.shape[0]:
                more_counts, more_contrasts = self._local(X[counts.size :])
                counts = np.concatenate([counts, more_counts])
                contrasts = np.concatenate([contrasts, more_contrasts])
            self.local_dimension_, self.gap_contrast_ = counts, contrasts

    def _local(self, X) -> tuple[np.ndarray, np.ndarray]:
        return _local_counts(self.model_, self._standardised(X), self.residuals_[self._pick])

    def local_dimension(self, X) -> np.ndarray:
        """The local dimension at each row of X (N,) integers, read from ``model_``: the
        directions its decoder resolves there (class docstring). X has the columns of
        the data fitted; it is standardised as they were. Where ``model_`` left at least
        half the data's variance (it read the data as noise), every row reads D."""
        return self._local(X)[0]

    def gap_contrast(self, X) -> np.ndarray:
        """How clearly the local dimension at each row of X is separated (N,) floats:
        the ratio of posterior variances across the gap it reads, over the largest
        ratio between any other two neighbouring directions
        (:func:`latentdim.metrics.variance_gap_contrasts`). Near 1 where the decoder's
        precisions fall smoothly with no gap (the count there is weak evidence); NaN
        where the noise rule read D."""
        return self._local(X)[1]

    def _reading_result(self) -> dict:
        values, rows = np.unique(self.local_dimension_, return_counts=True)
        return {
            "residual_share": list(self.residuals_),
            "read_as_noise": [r >= NOISE_SHARE for r in self.residuals_],  # the noise rule: estimate D
            "posterior_variances": self.posterior_variances_.tolist(),
            "local_dimension": {str(int(v)): int(r) for v, r in zip(values, rows, strict=True)},
            "gap_contrast": _median_or_none(self.gap_contrast_),  # over the rows
        }
