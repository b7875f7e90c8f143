"""A training run: split, train, evaluate; write and read run directories.

A run directory holds ``config.json`` (everything the run used: data hash, model and
training configs, seed, versions, run id), ``metrics.json``, ``timings.json``,
``history.csv`` and ``model.pt`` (a ``state_dict``, loaded with ``weights_only=True``).
"""

from __future__ import annotations

import json
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
from latentdim.training import History, TrainConfig, train

METRIC_KEYS = ("scaled_fid", "fid", "nac", "active_dims", "recon_mse")


def generators(seed: int) -> dict[str, torch.Generator]:
    """Independent torch generators for init/prior, split, batches and evaluation,
    derived from ``seed`` with ``numpy.random.SeedSequence``."""
    names = ("model", "split", "batches", "eval")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {
        name: torch.Generator().manual_seed(int(child.generate_state(1, np.uint64)[0] >> 1))
        for name, child in zip(names, children, strict=True)
    }


def split(x: np.ndarray, holdout: float, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random train / held-out split; the held-out part has at least 2 rows."""
    n_held = max(2, round(holdout * x.shape[0]))
    if x.shape[0] - n_held < 2:
        raise LatentdimError(f"{x.shape[0]} rows are too few to hold out {n_held}")
    order = torch.randperm(x.shape[0], generator=generator).numpy()
    return x[order[n_held:]], x[order[:n_held]]


def evaluate(model: AutoEncoder, real: np.ndarray, generator: torch.Generator) -> dict:
    """Metrics of a trained model against held-out ``real`` data (METHOD.md §4).

    Generates as many points as there are real ones, so the Fréchet bias is comparable.
    """
    generated = model.sample(real.shape[0], generator)
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
    return {
        "scaled_fid": fid / trace,
        "fid": fid,
        "nac": None if np.isnan(nac) else nac,
        "active_dims": int(active.size),
        "recon_mse": metrics.recon_mse(real, model.reconstruct(real)),
        "real_trace": trace,
        "eval_samples": int(real.shape[0]),
        "mask": None if mask is None else mask.detach().tolist(),
    }


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


def fit(x: np.ndarray, model_config: ModelConfig, train_config: TrainConfig) -> RunResult:
    """Split ``x``, train a fresh model, evaluate it on the held-out rows.

    ``model_config.data_dim`` is set from ``x``. Same inputs and seed, same result.
    """
    x = np.asarray(x, dtype=np.float32)
    model_config = replace(model_config, data_dim=x.shape[1])
    gens = generators(train_config.seed)
    x_train, x_held = split(x, train_config.holdout, gens["split"])
    x_held = x_held[: train_config.eval_samples]
    start = time.perf_counter()
    model, history = train_new(np.ascontiguousarray(x_train), model_config, train_config, gens)
    trained = time.perf_counter()
    result_metrics = evaluate(model, x_held, gens["eval"])
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
