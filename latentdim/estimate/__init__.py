"""Intrinsic dimension of a dataset: MaskAAE's active dims (:class:`MaskAAEDimension`)
or the local dimension read from learned-variance VAEs (:class:`VAEDimension`, slower,
right at n = 8 to 32 where MaskAAE undercounts, and per point), read against the
classical estimators (METHOD.md §6).

Procedure of :class:`MaskAAEDimension` (``fit(X)``):

0. Rows: at most ``max_rows`` (default 50 000), a random subsample of larger inputs.
   A run draws steps x batch = 192 000 rows at the defaults, so 50 000 rows are each
   seen about four times; more rows add memory (the stack keeps three copies of its
   rows per seed: data, normalised, this epoch's permutation), not information the
   budget could use. ``rows_used_`` says how many were used.
1. Standardise: drop constant columns, centre and scale every other column to unit
   variance (the model then divides by one overall scale). :class:`VAEDimension` then
   rotates the rows onto the principal axes of their span and drops the null ones
   (:func:`principal_basis`) when the data's rank r is below their column count, and
   trains on those r coordinates (``rank_``; distances between rows are unchanged).
2. Capacity: start at ``latent_dim`` (``"auto"``: min(16, D)). Train one MaskAAE per
   seed; if the median active count is >= m - 1 the mask has kept (almost) everything,
   so m may be too small: double m (capped at D) and train again. Stop when the mask
   switches off at least two dims or m reaches D.
3. Report the median active count over the seeds of the last capacity as
   ``dimension_``, the (min, max) over seeds as ``interval_`` and every seed's count in
   ``per_seed_`` (and in ``latent_counts_``, the counts the capacity rule reads; they
   differ for :class:`VAEDimension`, whose per-seed estimate is a local reading);
   ``model_`` and ``mask_`` are those of the seed closest to the median.
   If the mask still kept (almost) every dim at m = D, ``saturated_`` is True: the
   count is then an upper bound that says little (see "What the count measures").

What the count measures. The active count is the number of latent dims a
deterministic encoder, trained so that its codes match an isotropic Gaussian, needs
to reconstruct the data; that equals the manifold dimension n when the data are a
smooth image of an open piece of R^n, as in the synthetic MLP data (n = 8 -> 8 or 9). It
exceeds n when the manifold cannot be mapped continuously and one-to-one into R^n:
closed manifolds (spheres, the boundary of a cube, closed curves) and products of
circles read n + 1 or 2n; strongly curved open sheets in R^3 read 3
(``bench/results/id_accuracy-manifolds.txt``). It also
depends on the budget: the adversarial term keeps switching dims off, so at n = 16 the
count falls from 14 (3000 steps) to 11 (12000 steps). Read it beside the classical
band, not instead of it.

Seeds derive from ``random_state`` through ``numpy.random.SeedSequence``. The seeds of
a capacity train as one stacked model (:mod:`latentdim.training`), on ``device``
(``auto``: CUDA when present), or split into ``n_jobs`` stacks in as many processes
(one torch thread each).

``settle=True`` (off by default): where the seeds cannot all train at once (on the
CPU, with fewer jobs than seeds) they train in rounds: first the fewest that could
settle the median (2 of 3), then the rest, ``n_jobs`` at a time, until the seeds left
could change neither the median estimate nor the capacity rule's median count
(``_settled``: 2 of 3 seeds that read the same, with counts on the same side of
m - 1). ``dimension_``, the capacity and ``model_`` are then exactly what training
every seed gives (members train bit for bit alike alone or stacked; tested);
``per_seed_``, ``interval_`` and ``latent_counts_`` cover the seeds trained. Why it is
not the default, measured (``bench/results/estimate_speed.txt``, ``latentdim
estimate`` on 10 000 x 128, 2 cores, the band included, two runs, 2026-11-28): on 2
cores the first round trains two seeds side by side (~45 s) instead of a 2-seed stack
beside a lone seed (~60 s), so where the two agree it is faster (n = 8: 58.8 s against
74.1 s without it, and 56.6 s against 69.6 s, within issue 14's 60 s; n = 32, whose
data span 128 columns, not 64: 63.4 s against 79.5 s), but where they disagree the
third trains alone afterwards (n = 4, seeds 6 and 4: 92.7 s against 69.0 s). A stack is the
cheaper way to train seeds (two stacked take ~1.3 ms an iteration on one core, two
side by side ~0.87 ms each on two), which is why the worst case loses more than the
best case gains; on the 12 MLP datasets of docs/estimate.md (three maps, n = 4 to 32) the
first two seeds agreed on 8, so on average it saves about 2 s, with less spread
shown.

:func:`classical_band` runs the scikit-dimension estimators the estimate is read
against (extra ``latentdim[baselines]``): TwoNN, MLE, DANCo (``ver="DANCoFit"``, at
most 5000 points: the default ``DANCo()`` calibration pulls high estimates toward
12; its calibration table stops at 100 candidate dimensions, so D = min(D, 100)) and
local PCA (``ver="FO"``, the mean of ``fit_pw``'s pointwise estimates in 100-neighbour
neighbourhoods, computed in batches: :func:`_lpca_pointwise`, in a quarter of the
time, the same values). The band reads at most ``MAX_BAND_ROWS`` = 10 000 rows (a
random subsample, stated in its output): its k-NN searches grow as N^2 D, and lPCA's
as N times a 100-point eigenvalue problem.

Memory: the peak for a 200 000 x 784 float32 input is measured by
``bench/estimate_memory.py`` (``bench/results/estimate_memory.txt``).
"""

from __future__ import annotations

from latentdim.estimate.band import (
    BAND_SECONDS,
    BASELINES,
    LPCA_ALPHA,
    LPCA_CHUNK,
    LPCA_NEIGHBOURS,
    _danco_fit,
    _lpca,
    _lpca_pointwise,
    _mle,
    _twonn,
    band_assignment,
    band_rows,
    band_share,
    classical_band,
    merge_band,
    need_baselines,
)
from latentdim.estimate.count import (
    _LatentCount,
    _median_or_none,
)
from latentdim.estimate.engine import (
    NOISE_SHARE,
    READING_ROWS,
    READINGS,
    _count_into,
    _Job,
    _local_counts,
    _mask_reading,
    _posterior_reading,
    _progress,
    _Reading,
    _reporting,
    _settled,
    _tick,
    _train_counts,
    _Trainer,
    residual_share,
)
from latentdim.estimate.maskaae import (
    MaskAAEDimension,
)
from latentdim.estimate.rows import (
    MAX_BAND_POINTS,
    MAX_BAND_ROWS,
    MAX_ROWS,
    RANK_TOL,
    _scaled,
    column_scaling,
    principal_basis,
    standardise,
    subsample_rows,
)
from latentdim.estimate.vae import (
    VAEDimension,
)

ESTIMATORS = {"maskaae": MaskAAEDimension, "vae": VAEDimension}

__all__ = [
    "BAND_SECONDS",
    "BASELINES",
    "ESTIMATORS",
    "LPCA_ALPHA",
    "LPCA_CHUNK",
    "LPCA_NEIGHBOURS",
    "MAX_BAND_POINTS",
    "MAX_BAND_ROWS",
    "MAX_ROWS",
    "NOISE_SHARE",
    "RANK_TOL",
    "READINGS",
    "READING_ROWS",
    "MaskAAEDimension",
    "VAEDimension",
    "_Job",
    "_LatentCount",
    "_Reading",
    "_Trainer",
    "_count_into",
    "_danco_fit",
    "_local_counts",
    "_lpca",
    "_lpca_pointwise",
    "_mask_reading",
    "_median_or_none",
    "_mle",
    "_posterior_reading",
    "_progress",
    "_reporting",
    "_scaled",
    "_settled",
    "_tick",
    "_train_counts",
    "_twonn",
    "band_assignment",
    "band_rows",
    "band_share",
    "classical_band",
    "column_scaling",
    "merge_band",
    "need_baselines",
    "principal_basis",
    "residual_share",
    "standardise",
    "subsample_rows",
]
