"""The estimators' common body: capacities, seeds, the band, the result."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from latentdim.config import ModelConfig
from latentdim.estimate.band import (
    band_rows,
    need_baselines,
)
from latentdim.estimate.engine import (
    _Job,
    _Reading,
    _settled,
    _Trainer,
)
from latentdim.estimate.rows import (
    _scaled,
    column_scaling,
    principal_basis,
    subsample_rows,
)
from latentdim.models import build_model
from latentdim.nn.autoencoder import AutoEncoder
from latentdim.training import resolve_device


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
        began = time.perf_counter()
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
        timings = {"setup": time.perf_counter() - began, "capacities": {}}
        with _Trainer(workers, progress, self.steps) as trainer:
            timings["workers"] = time.perf_counter() - began - timings["setup"]
            while True:
                started = time.perf_counter()
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
                per_stack = {r.stack: r.seconds.get("train", 0.0) for r in results}  # one time a stack
                timings["capacities"][m] = {
                    "wall": time.perf_counter() - started,
                    "train": sorted(per_stack.values(), reverse=True),
                    "read": sum(r.seconds.get("read", 0.0) for r in results),
                }
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
        finishing = time.perf_counter()
        self.model_ = self._rebuild(job, results[pick].state)
        self._keep_local(X, results[pick].local)
        timings["finish"] = time.perf_counter() - finishing
        timings["total"] = time.perf_counter() - began
        self.timings_ = timings
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
            "timings": {
                **self.timings_,
                "capacities": {str(m): t for m, t in self.timings_["capacities"].items()},
            },
        }

    def _reading_result(self) -> dict:
        raise NotImplementedError


def _median_or_none(values: np.ndarray) -> float | None:
    """The median of values as a JSON number: None when it is NaN (the noise rule) or
    infinite (a single latent unit)."""
    median = float(np.median(values))
    return median if np.isfinite(median) else None
