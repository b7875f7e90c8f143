"""A training run: split, train, evaluate; write and read run directories.

A run directory holds ``config.json`` (everything the run used: data hash, model and
training configs, seed, versions, run id), ``metrics.json``, ``timings.json``,
``history.csv`` and ``model.pt`` (a ``state_dict``, loaded with ``weights_only=True``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from latentdim import metrics
from latentdim.autoencoder import AutoEncoder, ModelConfig
from latentdim.errors import LatentdimError
from latentdim.files import config_hash, sha256_arrays, versions
from latentdim.models import build_model
from latentdim.training import DivergenceError, History, TrainConfig, train

METRIC_KEYS = ("scaled_fid", "fid", "nac", "active_dims", "recon_mse")
# metrics that see the manifold (METHOD.md §4); the last three need the true map
MANIFOLD_KEYS = ("precision", "recall", "density", "coverage", "energy")
TRUTH_KEYS = ("manifold_error", "recon_manifold_error", "off_manifold", "latent_recovery")


class NonFiniteSamples(DivergenceError):
    """The trained model generated NaN or infinite points: no metric is meaningful."""

    def __init__(self, count: int, total: int):
        self.iteration, self.name, self.value = None, "generated samples", float("nan")
        RuntimeError.__init__(self, f"the trained model generated {count} non-finite points of {total}")


@dataclass(frozen=True)
class GroundTruth:
    """What only synthetic data offers: the map f and the true latent of every row."""

    map: object  # latentdim.synthetic.SyntheticMap
    z: np.ndarray

    @classmethod
    def of(cls, dataset) -> GroundTruth:
        """The ground truth of a :class:`latentdim.synthetic.Dataset`."""
        return cls(dataset.map, np.asarray(dataset.z))


@dataclass(frozen=True)
class HeldOutTruth:
    """The ground truth split like the data: latents of the held-out rows, and the
    training rows with their latents (anchors for the manifold solver and the training
    set of the latent-recovery regression)."""

    map: object
    real_z: np.ndarray
    train_x: np.ndarray
    train_z: np.ndarray


def generators(seed: int) -> dict[str, torch.Generator]:
    """Independent torch generators for init/prior, split, batches and evaluation,
    derived from ``seed`` with ``numpy.random.SeedSequence``."""
    names = ("model", "split", "batches", "eval")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {
        name: torch.Generator().manual_seed(int(child.generate_state(1, np.uint64)[0] >> 1))
        for name, child in zip(names, children, strict=True)
    }


def split_indices(rows: int, holdout: float, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random train / held-out row indices; the held-out part has at least 2 rows."""
    n_held = max(2, round(holdout * rows))
    if rows - n_held < 2:
        raise LatentdimError(f"{rows} rows are too few to hold out {n_held}")
    order = torch.randperm(rows, generator=generator).numpy()
    return order[n_held:], order[:n_held]


def split(x: np.ndarray, holdout: float, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random train / held-out split (:func:`split_indices`)."""
    train_rows, held_rows = split_indices(x.shape[0], holdout, generator)
    return x[train_rows], x[held_rows]


def evaluate(
    model: AutoEncoder,
    real: np.ndarray,
    generator: torch.Generator,
    truth: HeldOutTruth | None = None,
    recovery_steps: int = 1000,
) -> dict:
    """Metrics of a trained model against held-out ``real`` data (METHOD.md §4).

    Generates as many points as there are real ones, so the Fréchet bias and the
    nearest-neighbour metrics are comparable. The ground-truth metrics need ``truth``.
    """
    generated = model.sample(real.shape[0], generator)
    bad = int(np.sum(~np.all(np.isfinite(generated), axis=1)))
    if bad:
        raise NonFiniteSamples(bad, generated.shape[0])
    fid = metrics.frechet_distance(generated, real)
    trace = float(np.trace(metrics.gaussian_fit(real)[1]))
    codes = model.encode(real)
    mask = model.latent_mask()
    active = (
        np.arange(model.config.latent_dim)
        if mask is None
        else metrics.active_dims(mask.detach().numpy())
    )
    nac = metrics.nac(codes, active)
    reconstructed = model.reconstruct(real)
    result = {
        "scaled_fid": fid / trace,
        "fid": fid,
        "nac": None if np.isnan(nac) else nac,
        "active_dims": int(active.size),
        "recon_mse": metrics.recon_mse(real, reconstructed),
        "real_trace": trace,
        "eval_samples": int(real.shape[0]),
        "mask": None if mask is None else mask.detach().tolist(),
    }
    result.update(metrics.prdc(real, generated))
    result["energy"] = metrics.energy_distance(generated, real)[1]
    if truth is not None:
        scale = math.sqrt(trace)  # RMS per coordinate x sqrt(d) = sqrt(tr cov)
        off = metrics.manifold_distance(generated, truth.map, truth.train_x, truth.train_z, scale)
        # reconstructions start from their own true latents: one start suffices
        recon_off = metrics.manifold_distance_from(reconstructed, truth.map, truth.real_z, scale)
        result["manifold_error"] = float(off.mean())
        result["recon_manifold_error"] = float(recon_off.mean())
        result["off_manifold"] = metrics.off_manifold(off, recon_off)
        result["latent_recovery"] = (
            metrics.latent_recovery(
                model.encode(truth.train_x)[:, active],
                truth.train_z,
                codes[:, active],
                truth.real_z,
                steps=recovery_steps,
            )
            if recovery_steps
            else None
        )
    return result


def train_new(
    x_train: np.ndarray,
    model_config: ModelConfig,
    train_config: TrainConfig,
    gens: dict[str, torch.Generator],
) -> tuple[AutoEncoder, History]:
    """A fresh model (initialised from ``gens["model"]``), its normaliser fitted on
    ``x_train`` (float32), trained on batches drawn with ``gens["batches"]``."""
    model = build_model(model_config, gens["model"])
    x = torch.from_numpy(x_train)
    model.fit_normaliser(x)
    history = train(model, model.normalise(x), train_config, gens["batches"])
    return model, history


@dataclass
class RunResult:
    model: AutoEncoder
    history: History
    metrics: dict
    config: dict
    timings: dict


def fit(
    x: np.ndarray, model_config: ModelConfig, train_config: TrainConfig, truth: GroundTruth | None = None
) -> RunResult:
    """Split ``x``, train a fresh model, evaluate it on the held-out rows.

    ``model_config.data_dim`` is set from ``x``. Same inputs and seed, same result.
    With ``truth`` (synthetic data: the map and the latent of every row of ``x``) the
    ground-truth metrics are computed too.
    """
    x = np.asarray(x, dtype=np.float32)
    model_config = replace(model_config, data_dim=x.shape[1])
    gens = generators(train_config.seed)
    train_rows, held_rows = split_indices(x.shape[0], train_config.holdout, gens["split"])
    held_rows = held_rows[: train_config.eval_samples]
    x_train, x_held = x[train_rows], x[held_rows]
    held_truth = None
    if truth is not None:
        if truth.z.shape[0] != x.shape[0]:
            raise LatentdimError(f"ground truth has {truth.z.shape[0]} latents for {x.shape[0]} rows")
        held_truth = HeldOutTruth(truth.map, truth.z[held_rows], x_train, truth.z[train_rows])
    start = time.perf_counter()
    model, history = train_new(np.ascontiguousarray(x_train), model_config, train_config, gens)
    trained = time.perf_counter()
    result_metrics = evaluate(model, x_held, gens["eval"], held_truth, train_config.recovery_steps)
    evaluated = time.perf_counter()
    config = {
        "data": {"sha256": sha256_arrays(x), "shape": list(x.shape)},
        "model": model_config.to_dict(),
        "train": train_config.to_dict(),
    }
    config["id"] = config_hash(config)
    config["versions"] = versions()
    timings = {
        "train_seconds": trained - start,
        "eval_seconds": evaluated - trained,
        "iterations_per_second": train_config.steps / (trained - start),
        "threads": torch.get_num_threads(),
    }
    return RunResult(model, history, result_metrics, config, timings)


def save_run(result: RunResult, out_dir: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the run directory in a temporary sibling, then rename it into place."""
    out = Path(out_dir)
    if out.exists() and not force:
        raise LatentdimError(f"{out} exists; use --force to overwrite")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise LatentdimError(f"cannot write {out}: {exc.strerror}") from None
    try:
        (tmp / "config.json").write_text(json.dumps(result.config, indent=2) + "\n")
        (tmp / "metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n")
        (tmp / "timings.json").write_text(json.dumps(result.timings, indent=2) + "\n")
        (tmp / "history.csv").write_text(result.history.to_csv())
        torch.save(result.model.state_dict(), tmp / "model.pt")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def load_run(run_dir: str | os.PathLike) -> AutoEncoder:
    """Rebuild the trained model of a run directory (config JSON + ``state_dict``)."""
    run_dir = Path(run_dir)
    try:
        config = json.loads((run_dir / "config.json").read_text())
        model = build_model(ModelConfig(**config["model"]))
        state = torch.load(run_dir / "model.pt", weights_only=True)
        model.load_state_dict(state)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise LatentdimError(f"cannot load run {run_dir}: {exc}") from None
    model.eval()
    return model
