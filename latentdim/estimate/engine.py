"""What both estimators share: the seeds' jobs, their progress, the readings of the
latent count, the trainer of a capacity's stack, the settling rule."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from latentdim.config import ModelConfig, TrainConfig
from latentdim.estimate.band import (
    band_share,
    classical_band,
    merge_band,
)
from latentdim.metrics import active_dims, local_gap_contrasts, local_gap_counts, variance_gap_count
from latentdim.nn.autoencoder import AutoEncoder
from latentdim.runs import generators, train_new
from latentdim.studies import worker_pool
from latentdim.training import torch_threads


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
    or the median local count where the model gives one), its weights (CPU) and where
    its time went (``seconds``: ``train``, its stack's training wall time, and ``read``,
    its own readings; ``stack``, the first seed of the stack it trained in)."""

    count: int
    values: list[float]
    estimate: int | float
    residual: float | None  # the share of the data's variance the model leaves (VAE)
    local: tuple[np.ndarray, np.ndarray] | None  # the local dimension and gap contrast per row read (VAE)
    state: dict
    seconds: dict = field(default_factory=dict)
    stack: int | None = None


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
        start = time.perf_counter()
        stack, _ = train_new(x, job.config(), budget, gens, job.device, _tick)
        stack.to("cpu")
        trained = time.perf_counter() - start
        out = []
        for k in range(stack.stack):
            start = time.perf_counter()
            member = stack.member(k).eval()
            reading = READINGS[job.model](member, job.x)
            seconds = {"train": trained, "read": time.perf_counter() - start}
            out.append(_Reading(*reading, member.state_dict(), seconds, stack=job.seeds[0]))
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
