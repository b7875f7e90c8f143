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

import contextlib
import importlib.util
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from latentdim.autoencoder import AutoEncoder
from latentdim.config import ModelConfig, TrainConfig
from latentdim.errors import LatentdimError
from latentdim.metrics import active_dims, local_gap_contrasts, local_gap_counts, variance_gap_count
from latentdim.models import build_model
from latentdim.runs import generators, train_new
from latentdim.studies import worker_pool
from latentdim.training import resolve_device, torch_threads

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


@dataclass(frozen=True)
class _Job:
    x: np.ndarray
    model: str  # a key of READINGS
    likelihood: str | None
    latent_dim: int
    seeds: tuple[int, ...]
    steps: int
    batch_size: int
    hidden: tuple[int, ...]
    critic_hidden: tuple[int, ...]
    device: str
    kl_warmup: float = 0.0

    def config(self) -> ModelConfig:
        return ModelConfig(
            self.model,
            self.latent_dim,
            self.x.shape[1],
            self.hidden,
            self.critic_hidden,
            likelihood=self.likelihood,
            kl_warmup=self.kl_warmup,
        )


_progress = None  # the shared count of training iterations done, in this process


def _count_into(counter) -> None:
    """Count every training iteration of this process into ``counter`` (a
    ``multiprocessing.Value`` shared with the driver)."""
    global _progress
    _progress = counter


def _tick(_iteration: int, _row: dict | None) -> None:
    if _progress is not None:
        with _progress.get_lock():
            _progress.value += 1


@contextlib.contextmanager
def _reporting(progress: Callable[[int, int, int], None] | None, counter, base: int, total: int, m: int):
    """While the block trains, call ``progress(done, total, m)`` about 4 times a second
    from a thread of the driver, and once more at the end; done is ``counter`` less
    ``base`` (the iterations counted before capacity m began)."""
    if progress is None:
        yield
        return
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.25):
            progress(counter.value - base, total, m)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    progress(counter.value - base, total, m)


READING_ROWS = 5000  # the rows a VAE's posterior variances are averaged over


@dataclass(frozen=True)
class _Reading:
    """What one trained member reads: the latent units it uses (``count``, which sets
    the capacity), the mask or posterior variances behind it, its estimate (the count,
    or the median local count where the model gives one) and its weights (CPU)."""

    count: int
    values: list[float]
    estimate: int | float
    residual: float | None  # the share of the data's variance the model leaves (VAE)
    local: tuple[np.ndarray, np.ndarray] | None  # the local dimension and gap contrast per row read (VAE)
    state: dict


def _mask_reading(model: AutoEncoder, x: np.ndarray) -> tuple[int, list[float], int, None, None]:
    mask = model.mask_values()
    count = int(active_dims(mask).size)
    return count, mask.tolist(), count, None, None


NOISE_SHARE = 0.5  # a VAE leaving at least this share of the data's variance read the data as noise


@torch.no_grad()
def residual_share(model: AutoEncoder, x: np.ndarray) -> float:
    """The mean squared error per coordinate of reconstructions from the codes of the
    rows x, in the model's units, where the data's mean variance per coordinate is 1:
    the share of the data's variance the model leaves unexplained."""
    xn = model._rows(x)
    return float(model.recon_error(xn, model.codes(xn))[0])


def _local_counts(model: AutoEncoder, xs: np.ndarray, residual: float) -> tuple[np.ndarray, np.ndarray]:
    """The local dimension at each row of xs (the model's input coordinates), (N,)
    integers: the gap count of its linearised posterior variances, or, where the model
    left at least ``NOISE_SHARE`` of the data's variance, D at every row (no structure
    below the noise: the data fill their space); and each row's gap contrast
    (:func:`latentdim.metrics.local_gap_contrasts`; NaN under the noise rule)."""
    if residual >= NOISE_SHARE:
        return np.full(xs.shape[0], xs.shape[1], dtype=np.int64), np.full(xs.shape[0], np.nan)
    precisions = model.local_precisions(xs)
    return local_gap_counts(precisions).astype(np.int64), local_gap_contrasts(precisions)


def _posterior_reading(
    model: AutoEncoder, x: np.ndarray
) -> tuple[int, list[float], float, float, tuple[np.ndarray, np.ndarray]]:
    rows = x[:READING_ROWS]
    variances = model.posterior_variances(rows)
    residual = residual_share(model, rows)
    local = _local_counts(model, rows, residual)
    return variance_gap_count(variances), variances.tolist(), float(np.median(local[0])), residual, local


# model -> what a trained member reads: (units used, mask or posterior variances, estimate)
READINGS = {"maskaae": _mask_reading, "vae": _posterior_reading}


def _train_counts(job: _Job) -> list[_Reading]:
    """Train one model per seed on standardised rows, as one stack; return each
    member's reading."""
    with torch_threads(1):
        budget = TrainConfig(steps=job.steps, batch_size=job.batch_size)
        x = np.repeat(job.x[None], len(job.seeds), axis=0)
        gens = [generators(seed) for seed in job.seeds]
        stack, _ = train_new(x, job.config(), budget, gens, job.device, _tick)
        stack.to("cpu")
        out = []
        for k in range(stack.stack):
            member = stack.member(k).eval()
            out.append(_Reading(*READINGS[job.model](member, job.x), member.state_dict()))
        return out


class _Trainer:
    """Trains rounds of seed stacks, and the classical band's shares, for one fit: in
    this process when there is one worker, else in a pool of ``workers`` processes
    spawned once for the whole fit (every round and capacity). Reports progress per
    capacity: iterations done out of those of the stacks submitted so far."""

    def __init__(self, workers: int, progress: Callable[[int, int, int], None] | None, steps: int):
        self.workers, self.progress, self.steps = workers, progress, steps
        self.counter = multiprocessing.get_context("spawn").Value("q", 0)
        self.pool = None

    def __enter__(self) -> _Trainer:
        self._exit = contextlib.ExitStack()
        if self.workers > 1:
            self.pool = self._exit.enter_context(worker_pool(self.workers, _count_into, (self.counter,)))
        else:
            _count_into(self.counter)
            self._exit.callback(_count_into, None)
        return self

    def __exit__(self, *exc) -> bool | None:
        return self._exit.__exit__(*exc)

    def capacity(self, m: int) -> None:
        self.m, self.base, self.total = m, self.counter.value, 0

    def run(self, jobs: list[_Job], band_x: np.ndarray | None = None) -> tuple[list[_Reading], dict | None]:
        """Every job's readings (in order), and the band of ``band_x`` when given: in
        the pool, split into one share per worker the jobs leave idle (one share,
        queued after the jobs, when none is), so it runs beside the training."""
        self.total += len(jobs) * self.steps
        with _reporting(self.progress, self.counter, self.base, self.total, self.m):
            if self.pool is None:
                results = [result for job in jobs for result in _train_counts(job)]
                return results, None if band_x is None else classical_band(band_x)
            stacks = [self.pool.submit(_train_counts, job) for job in jobs]
            shares = max(1, self.workers - len(jobs))
            parts = (
                []
                if band_x is None
                else [self.pool.submit(band_share, band_x, i, shares) for i in range(shares)]
            )
            results = [result for stack in stacks for result in stack.result()]
            return results, None if band_x is None else merge_band([part.result() for part in parts])


def _settled(results: list[_Reading], seeds: int, m: int, d: int) -> bool:
    """Whether the seeds not yet trained (``seeds`` in all) could change neither the
    median estimate nor the capacity rule (median units in use below m - 1): both
    come out the same with the rest filled in below and above anything a seed can read
    (estimates lie in [0, d], counts in [0, m])."""
    left = seeds - len(results)

    def medians(values: list[float], low: float, high: float) -> tuple[float, float]:
        return float(np.median(values + [low] * left)), float(np.median(values + [high] * left))

    low, high = medians([r.estimate for r in results], -1, d + 1)
    fewer_low, fewer_high = (c < m - 1 for c in medians([r.count for r in results], -1, m + 1))
    return low == high and fewer_low == fewer_high


class _LatentCount(BaseEstimator):
    """The procedure of the module docstring for a model whose trained members count the
    latent dims they use (``READINGS``); subclasses name the model and its defaults."""

    model_name: str
    likelihood: str | None = None  # the model's decoder (ModelConfig.likelihood)
    affine_span: bool = False  # train on the coordinates of the rows' span (principal_basis)
    auto_capacity: int

    def fit(self, X, y=None, progress: Callable[[int, int, int], None] | None = None, band: bool = False):
        """Estimate the dimension of X; ``progress(done, total, m)``, when given, is
        called a few times a second while a capacity m trains (its training iterations
        done out of total, summed over the stacks of seeds submitted so far; total grows
        when a round adds seeds). ``band=True`` also runs :func:`classical_band` on X
        (``band_``) once, with the first capacity: beside its last round of seeds in
        the workers that round leaves idle (queued after the seeds when none is), or,
        when the seeds settle early, split over every worker (:func:`band_share`;
        after training when ``n_jobs`` is 1)."""
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        self.rows_ = X.shape[0]
        self._check_params()
        if band:
            need_baselines()
        if hasattr(self, "band_"):
            del self.band_  # a refit runs its own band, or has none
        band_pending = band  # the band runs once, with the first capacity's seeds
        seeds = self._seeds()
        rows = subsample_rows(X, self.max_rows, np.random.default_rng(seeds[0]))
        self.rows_used_ = rows.shape[0]
        self.columns_, self._centre, self._sd = column_scaling(rows)
        xs = _scaled(rows, self.columns_, self._centre, self._sd)
        self._basis = principal_basis(xs) if self.affine_span else None
        if self._basis is not None:  # as _standardised projects: the same rows, bit for bit
            xs = _scaled(rows, self.columns_, self._centre, self._sd, self._basis)
        self.rank_ = xs.shape[1]
        d = xs.shape[1]
        auto = min(self.auto_capacity, d)
        m = auto if self.latent_dim == "auto" else min(int(self.latent_dim), d)
        device = str(resolve_device(self.device))
        self.capacities_ = {}
        batch = min(self.batch_size, xs.shape[0])
        nets = (tuple(self.hidden), tuple(self._critic_hidden()))
        template = _Job(
            xs, self.model_name, self.likelihood, m, (), self.steps, batch, *nets, device, self._kl_warmup()
        )
        # stop at a settled median where the seeds cannot all train at once (CPU, fewer
        # jobs than seeds); on a GPU a stack of 3 costs what a stack of 2 does
        settle = self.settle and device == "cpu" and self.n_jobs < len(seeds)
        first = len(seeds) // 2 + 1 if settle else len(seeds)  # the fewest that can settle it
        workers = min(self.n_jobs, len(seeds) + band)
        band_x = band_rows(X) if band else None  # only the band's rows travel to a worker
        with _Trainer(workers, progress, self.steps) as trainer:
            while True:
                trainer.capacity(m)
                job = replace(template, latent_dim=m)
                results: list[_Reading] = []
                while len(results) < len(seeds):
                    take = first if not results else min(len(seeds) - len(results), self.n_jobs)
                    chunk = seeds[len(results) : len(results) + take]
                    parts = np.array_split(np.asarray(chunk), min(self.n_jobs, len(chunk)))
                    jobs = [replace(job, seeds=tuple(map(int, p))) for p in parts]
                    # the band goes beside the last round there can be, else after a settled one
                    beside = band_pending and len(results) + len(chunk) == len(seeds)
                    out, extra = trainer.run(jobs, band_x if beside else None)
                    results += out
                    if beside:
                        self.band_, band_pending = extra, False
                    if settle and _settled(results, len(seeds), m, d):
                        break
                if band_pending:  # settled early: the band has every worker
                    self.band_, band_pending = trainer.run([], band_x)[1], False
                counts = [r.count for r in results]
                self.capacities_[m] = counts
                if np.median(counts) < m - 1 or m >= d:
                    break
                m = min(2 * m, d)
        self.latent_dim_ = m
        self.saturated_ = bool(np.median(counts) >= m - 1)
        self.latent_counts_ = counts
        self.per_seed_ = [r.estimate for r in results]
        self.dimension_ = float(np.median(self.per_seed_))
        self.interval_ = (min(self.per_seed_), max(self.per_seed_))
        pick = int(np.argmin([abs(e - self.dimension_) for e in self.per_seed_]))
        self._pick = pick
        self._keep_reading(results, pick)
        self.model_ = self._rebuild(job, results[pick].state)
        self._keep_local(X, results[pick].local)
        return self

    def _keep_local(self, X: np.ndarray, read: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Set the per-row attributes of a model that reads a local dimension; ``read``:
        those of the first rows trained on, as the picked seed read them."""

    def _standardised(self, X) -> np.ndarray:
        """Rows of X in the fitted model's units (its columns, standardised as in fit)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return _scaled(X, self.columns_, self._centre, self._sd, self._basis)

    def _critic_hidden(self) -> tuple[int, ...]:
        return ModelConfig.critic_hidden  # a model without a critic leaves the field at its default

    def _kl_warmup(self) -> float:
        return ModelConfig.kl_warmup  # a model without a KL term leaves the field at its default

    def _keep_reading(self, results: list[_Reading], pick: int) -> None:
        """Set the attributes of the seeds' readings (``results``; ``pick``: the seed
        closest to the median) that only this model gives."""
        raise NotImplementedError

    def _check_params(self) -> None:
        auto = isinstance(self.latent_dim, str) and self.latent_dim == "auto"
        if not auto and not (isinstance(self.latent_dim, (int, np.integer)) and self.latent_dim >= 1):
            raise ValueError(f"latent_dim must be 'auto' or an integer >= 1, got {self.latent_dim!r}")
        for name in ("seeds", "steps", "n_jobs", "max_rows"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 2:
            raise ValueError(f"batch_size must be an integer >= 2, got {self.batch_size!r}")
        if not isinstance(self.settle, (bool, np.bool_)):
            raise ValueError(f"settle must be True or False, got {self.settle!r}")

    def _seeds(self) -> list[int]:
        rs = self.random_state
        entropy = rs if isinstance(rs, (int, np.integer)) else int(check_random_state(rs).randint(2**31))
        children = np.random.SeedSequence(int(entropy)).spawn(self.seeds)
        return [int(c.generate_state(1)[0] >> 1) for c in children]

    def _rebuild(self, job: _Job, state: dict) -> AutoEncoder:
        model = build_model(job.config())  # the last capacity's job
        model.load_state_dict(state)
        return model.eval()

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "dimension_")

    def result(self) -> dict:
        """The fitted estimate as plain data (what ``latentdim estimate --json`` prints)."""
        check_is_fitted(self)
        return {
            "method": self.model_name,
            "dimension": self.dimension_,
            "seeds": int(self.seeds),  # asked for; per_seed holds those trained (settle)
            "interval": list(self.interval_),
            "per_seed": list(self.per_seed_),
            "latent_counts": list(self.latent_counts_),
            "latent_dim": self.latent_dim_,
            "saturated": self.saturated_,
            "capacities": {str(m): c for m, c in self.capacities_.items()},
            **self._reading_result(),
            "rows_used": self.rows_used_,
            "rows": self.rows_,
            "columns": len(self.columns_),
            "rank": self.rank_,
        }

    def _reading_result(self) -> dict:
        raise NotImplementedError


class MaskAAEDimension(_LatentCount):
    """Intrinsic dimension of X as the active dims of trained MaskAAEs (module docstring).

    Parameters: ``latent_dim`` starting capacity (int, or ``"auto"`` = min(16, D));
    ``seeds`` runs per capacity (``settle=True``: at most, module docstring); ``steps``
    and ``batch_size`` per run; ``hidden`` and
    ``critic_hidden`` network widths; ``n_jobs`` processes; ``random_state``; ``device``.

    Attributes after ``fit``: ``dimension_`` (median active dims), ``interval_``
    (min, max over seeds), ``per_seed_``, ``latent_dim_`` (final capacity),
    ``capacities_`` ({m: per-seed counts} of every capacity tried), ``mask_``,
    ``saturated_`` (the mask kept (almost) every dim at capacity D), ``model_`` (a
    trained :class:`~latentdim.autoencoder.AutoEncoder` on standardised data),
    ``columns_`` (the non-constant columns used), ``rows_`` (rows in X), ``rows_used_``
    (rows trained on: all, or a random ``max_rows`` of them), ``n_features_in_``.
    """

    model_name = "maskaae"
    auto_capacity = 16

    def __init__(
        self,
        latent_dim="auto",
        seeds: int = 3,
        steps: int = 3000,
        batch_size: int = 64,
        hidden=(256, 256),
        critic_hidden=(128, 128),
        n_jobs: int = 1,
        random_state=0,
        device: str = "auto",
        max_rows: int = MAX_ROWS,
        settle: bool = False,
    ):
        self.latent_dim = latent_dim
        self.seeds = seeds
        self.steps = steps
        self.batch_size = batch_size
        self.hidden = hidden
        self.critic_hidden = critic_hidden
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.device = device
        self.max_rows = max_rows
        self.settle = settle

    def _critic_hidden(self) -> tuple[int, ...]:
        return tuple(self.critic_hidden)

    def _keep_reading(self, results: list[_Reading], pick: int) -> None:
        self.mask_ = np.asarray(results[pick].values)

    def _reading_result(self) -> dict:
        return {"mask": self.mask_.tolist()}


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
    (seed 2, uniform z): 6, 8, 16, 32. What the narrower net costs, measured on the
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


def _median_or_none(values: np.ndarray) -> float | None:
    """The median of values as a JSON number: None when it is NaN (the noise rule) or
    infinite (a single latent unit)."""
    median = float(np.median(values))
    return median if np.isfinite(median) else None


ESTIMATORS = {"maskaae": MaskAAEDimension, "vae": VAEDimension}


# -- the classical band ---------------------------------------------------------------


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
