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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from latentdim import metrics
from latentdim.config import ModelConfig, TrainConfig
from latentdim.errors import DivergenceError, LatentdimError
from latentdim.files import config_hash, reading, sha256_arrays, versions, writing
from latentdim.metrics.features import feature_accuracy, feature_network_id, features, kid
from latentdim.models import build_model
from latentdim.nn.autoencoder import AutoEncoder
from latentdim.training import History, resolve_device, train

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

    map: object  # latentdim.data.synthetic.SyntheticMap
    z: np.ndarray

    @classmethod
    def of(cls, dataset) -> GroundTruth:
        """The ground truth of a :class:`latentdim.data.synthetic.Dataset`."""
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
    fid_features: str = "identity",
) -> dict:
    """Metrics of a trained model against held-out ``real`` data (METHOD.md §4).

    Generates as many points as there are real ones, so the Fréchet bias and the
    nearest-neighbour metrics are comparable. The ground-truth metrics need ``truth``.
    ``scaled_fid`` is always the data-space Fréchet distance over the trace of the real
    covariance (the slides' quantity); ``fid`` and ``kid`` are on the ``fid_features``
    network's features (:mod:`latentdim.metrics.features`; ``identity``: the data space).
    """
    generated = model.sample(real.shape[0], generator)
    bad = int(np.sum(~np.all(np.isfinite(generated), axis=1)))
    if bad:
        raise NonFiniteSamples(bad, generated.shape[0])
    data_fid = metrics.frechet_distance(generated, real)
    trace = float(np.trace(metrics.gaussian_fit(real)[1]))
    real_features, generated_features = features(fid_features, real), features(fid_features, generated)
    fid = (
        data_fid
        if fid_features == "identity"
        else metrics.frechet_distance(generated_features, real_features)
    )
    codes = model.encode(real)
    mask = model.mask_values()
    active = model.active_dims(codes)
    nac = metrics.nac(codes, active)
    reconstructed = model.reconstruct(real)
    result = {
        "scaled_fid": data_fid / trace,
        "fid": fid,
        "fid_features": fid_features,
        "features_accuracy": feature_accuracy(fid_features),
        "features_sha256": feature_network_id(fid_features),
        "kid": kid(generated_features, real_features),
        "nac": None if np.isnan(nac) else nac,
        "active_dims": int(active.size),
        "recon_mse": metrics.recon_mse(real, reconstructed),
        "real_trace": trace,
        "eval_samples": int(real.shape[0]),
        "mask": None if mask is None else mask.tolist(),
    }
    variances = model.posterior_variances(real)
    if variances is not None:
        result["posterior_dims"] = metrics.variance_gap_count(variances)
    result.update(metrics.prdc_energy(real, generated))
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
    gens: dict[str, torch.Generator] | Sequence[dict[str, torch.Generator]],
    device: str | torch.device = "cpu",
    on_iteration: Callable[[int, dict | None], None] | None = None,
    until: Callable[[int, AutoEncoder], bool] | None = None,
) -> tuple[AutoEncoder, list[History]]:
    """A fresh stack of models trained on ``x_train`` (K, N, d) float32, member k on
    ``x_train[k]`` with generators ``gens[k]`` (one dict and (N, d) rows: K = 1):
    initialised from ``gens[k]["model"]``, normaliser fitted on its rows, batches drawn
    with ``gens[k]["batches"]``, on ``device``; ``on_iteration`` and ``until`` as in
    :func:`train`."""
    if isinstance(gens, dict):
        gens, x_train = [gens], x_train[None]
    device = resolve_device(device)
    model = build_model(model_config, [g["model"] for g in gens]).to_device(device)
    x = torch.from_numpy(x_train).to(device)
    model.fit_normaliser(x)
    batches = [g["batches"] for g in gens]
    histories = train(model, model.normalise(x), train_config, batches, on_iteration, until)
    return model, histories


@dataclass
class RunResult:
    model: AutoEncoder
    history: History
    metrics: dict
    config: dict
    timings: dict


def fit(
    x: np.ndarray,
    model_config: ModelConfig,
    train_config: TrainConfig,
    truth: GroundTruth | None = None,
    device: str | torch.device = "cpu",
    on_iteration: Callable[[int, dict | None], None] | None = None,
    test: np.ndarray | None = None,
) -> RunResult:
    """Split ``x``, train a fresh model, evaluate it on the held-out rows.

    ``model_config.data_dim`` is set from ``x``. Same inputs and seed, same result.
    With ``truth`` (synthetic data: the map and the latent of every row of ``x``) the
    ground-truth metrics are computed too. Raises :class:`DivergenceError` when
    training diverges. One run is a stack of one: :func:`fit_stack`; ``on_iteration``
    as in :func:`latentdim.training.train`; ``test``: a held-out set of its own (see
    :func:`fit_stack`).
    """
    (result,) = fit_stack([x], model_config, [train_config], [truth], device, on_iteration, [test])
    if isinstance(result, Exception):
        raise result
    return result


def fit_stack(
    xs: Sequence[np.ndarray],
    model_config: ModelConfig,
    train_configs: Sequence[TrainConfig],
    truths: Sequence[GroundTruth | None] | None = None,
    device: str | torch.device = "cpu",
    on_iteration: Callable[[int, dict | None], None] | None = None,
    tests: Sequence[np.ndarray | None] | None = None,
) -> list[RunResult | Exception]:
    """:func:`fit` for K runs of one shape at once, trained as one stacked model.

    Run k fits ``xs[k]`` with ``train_configs[k]``; the data sets must have equal
    shapes, and the train configs may differ only in their seed. Each member is split,
    initialised, batched and evaluated exactly as a lone run with its seed (on the
    CPU, bit for bit: its result does not depend on the other members). Returns, per
    run, its :class:`RunResult`, or the exception that ended it (a
    :class:`DivergenceError`, or an error of its evaluation) — the others still finish.
    ``on_iteration`` as in :func:`latentdim.training.train`.

    ``tests[k]``, when given, is run k's held-out set of its own (MNIST's t10k file: the
    field's convention is to score generated images against the test split): the run
    trains on every row of ``xs[k]`` (``holdout`` is not used) and is evaluated on at
    most ``eval_samples`` test rows (a permutation drawn with its split generator).
    """
    xs = [np.asarray(x, dtype=np.float32) for x in xs]
    truths = list(truths) if truths is not None else [None] * len(xs)
    tests = [None if t is None else np.asarray(t, dtype=np.float32) for t in tests or [None] * len(xs)]
    if not xs or len(train_configs) != len(xs) or len(truths) != len(xs) or len(tests) != len(xs):
        raise LatentdimError("a stack needs one train config, truth and test set (or None) per data set")
    if len({x.shape for x in xs}) != 1 or xs[0].ndim != 2:
        raise LatentdimError(f"a stack's data sets must be 2-d and of one shape, got {[x.shape for x in xs]}")
    budget = {replace(c, seed=0) for c in train_configs}
    if len(budget) != 1:
        raise LatentdimError("a stack's train configs may differ only in their seed")
    model_config = replace(model_config, data_dim=xs[0].shape[1])
    device = resolve_device(device)
    gens, trains, helds, held_truths = [], [], [], []
    for x, config, truth, test in zip(xs, train_configs, truths, tests, strict=True):
        g = generators(config.seed)
        if test is not None:
            if truth is not None:
                raise LatentdimError("a run with a test set of its own cannot take ground truth")
            if test.ndim != 2 or test.shape[1] != x.shape[1]:
                raise LatentdimError(f"the test set is {test.shape}, the data has {x.shape[1]} columns")
            x_held = test
            train_rows = np.arange(x.shape[0])
            held_rows = torch.randperm(test.shape[0], generator=g["split"]).numpy()
        else:
            x_held = x
            train_rows, held_rows = split_indices(x.shape[0], config.holdout, g["split"])
        held_rows = held_rows[: config.eval_samples]
        if held_rows.size <= metrics.NEAREST_K:
            raise LatentdimError(
                f"{held_rows.size} held-out rows are too few for the k-NN metrics (k = {metrics.NEAREST_K}, "
                f"need {metrics.NEAREST_K + 1}): use more rows, a larger holdout or eval_samples"
            )
        gens.append(g)
        trains.append(x[train_rows])
        helds.append(x_held[held_rows])
        if truth is None:
            held_truths.append(None)
            continue
        if truth.z.shape[0] != x.shape[0]:
            raise LatentdimError(f"ground truth has {truth.z.shape[0]} latents for {x.shape[0]} rows")
        held_truths.append(HeldOutTruth(truth.map, truth.z[held_rows], x[train_rows], truth.z[train_rows]))
    start = time.perf_counter()
    stack, histories = train_new(np.stack(trains), model_config, train_configs[0], gens, device, on_iteration)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    train_seconds = time.perf_counter() - start
    engine = {"device": str(device), "stack": len(xs)}
    results: list[RunResult | Exception] = []
    for k, (x, test, config, history) in enumerate(zip(xs, tests, train_configs, histories, strict=True)):
        if history.error is not None:
            results.append(history.error)
            continue
        model = stack.member(k)
        began = time.perf_counter()
        try:
            result_metrics = evaluate(
                model, helds[k], gens[k]["eval"], held_truths[k], config.recovery_steps, config.fid_features
            )
        except Exception as exc:  # a member's evaluation failing must not cost the others
            results.append(exc)
            continue
        evaluated = time.perf_counter()
        run_config = {
            "data": {"sha256": sha256_arrays(x), "shape": list(x.shape)}
            | ({} if test is None else {"test_sha256": sha256_arrays(test), "test_shape": list(test.shape)}),
            "model": model_config.to_dict(),
            "train": config.to_dict(),
        }
        run_config["id"] = config_hash(run_config)
        run_config["versions"] = versions()
        run_config["engine"] = engine
        timings = {
            "train_seconds": train_seconds,
            "eval_seconds": evaluated - began,
            "iterations": model_config.iterations(config.steps),
            "iterations_per_second": model_config.iterations(config.steps) / train_seconds,
            "threads": torch.get_num_threads(),
            **engine,
        }
        results.append(RunResult(model, history, result_metrics, run_config, timings))
    return results


def save_run(result: RunResult, out_dir: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the run directory in a temporary sibling, then rename it into place
    (making the folders above it that are missing)."""
    out = Path(out_dir)
    if out.exists() and not force:
        raise LatentdimError(f"{out} exists; use --force to overwrite")
    with writing(str(out)):
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with writing(str(out)):
            (tmp / "config.json").write_text(json.dumps(result.config, indent=2) + "\n")
            (tmp / "metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n")
            (tmp / "timings.json").write_text(json.dumps(result.timings, indent=2) + "\n")
            (tmp / "history.csv").write_text(result.history.to_csv())
            try:
                torch.save(result.model.state_dict(), tmp / "model.pt")
            except RuntimeError as exc:  # torch's writer reports a full disk this way
                raise OSError(str(exc).splitlines()[0]) from None
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def load_run(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> AutoEncoder:
    """Rebuild the trained model of a run directory (config JSON + ``state_dict``) on
    ``device``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LatentdimError(f"{run_dir} is not a run directory")
    device = resolve_device(device)
    with reading(f"run {run_dir}/config.json"):
        config = json.loads((run_dir / "config.json").read_text())
        model = build_model(ModelConfig(**config["model"]))
    with reading(f"run {run_dir}/model.pt"):
        state = torch.load(run_dir / "model.pt", weights_only=True, map_location="cpu")
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise LatentdimError(f"{run_dir}/model.pt is not a state_dict")
        model.load_state_dict(state)
    model.to_device(device)
    model.eval()
    return model
