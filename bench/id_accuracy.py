"""How well does latentdim estimate intrinsic dimension? Against scikit-dimension.

Per dataset: latentdim's estimate (MaskAAEDimension: median active dims over seeds,
capacity chosen automatically; or VAEDimension with ``--method vae``) beside TwoNN,
MLE, DANCoFit and local PCA
(``latentdim.estimate.classical_band``), with run times. Then, per group of datasets
with a known dimension, each estimator's MAE, mean relative error |est - n| / n and
% exact (round(est) == n).

Datasets: synthetic MLP data n = 4, 8, 16, 32 (d = 128, 10k points); the 24
``skdim.datasets.BenchmarkManifolds`` (2500 points each); sklearn digits (no known
dimension: listed, not scored). ``--noise r`` adds Gaussian noise of r times the data's
RMS (the root mean square of the centred coordinates) to every dataset, drawn from
a fixed seed. Needs the extras ``latentdim[baselines]``.

    .venv/bin/python bench/id_accuracy.py [--groups mlp,manifolds,digits] [--seeds 3]
        [--method maskaae|vae] [--steps N] [--jobs 2] [--only NAME,...] [--map-seed S] [--latent LAW]
        [--noise R] [--json FILE]
    .venv/bin/python bench/id_accuracy.py --merge A.json B.json   # scores of runs split in parts
"""

import argparse
import json
import math
import time

import numpy as np
import torch

from latentdim import make_dataset
from latentdim.estimate import BASELINES, ESTIMATORS, classical_band
from latentdim.studies.sweep import default_jobs


def datasets(groups: list[str], map_seed: int = 0, latent: str = "gaussian"):
    """Yield (group, name, true n or None, X)."""
    if "mlp" in groups:
        suffix = (f"-seed{map_seed}" if map_seed else "") + ("" if latent == "gaussian" else f"-{latent}")
        for n in (4, 8, 16, 32):
            x = make_dataset(n, 128, samples=10000, seed=map_seed, latent=latent).x
            yield "mlp", f"mlp-n{n}-d128{suffix}", n, x
    if "manifolds" in groups:
        import skdim

        bench = skdim.datasets.BenchmarkManifolds(random_state=0)
        data = bench.generate(n=2500)
        truth = bench.truth["Intrinsic Dimension"]
        for name, x in data.items():
            yield "manifolds", name, int(truth[name]), np.asarray(x)
    if "digits" in groups:
        from sklearn.datasets import load_digits

        yield "digits", "sklearn-digits", None, load_digits().data


def add_noise(x: np.ndarray, ratio: float, seed: int = 0) -> np.ndarray:
    """x plus N(0, s^2) per coordinate, s = ratio x the RMS of x's centred coordinates."""
    if ratio == 0:
        return x
    rms = float(np.sqrt(np.mean((x - x.mean(axis=0)) ** 2)))
    return x + np.random.default_rng(seed).normal(0.0, ratio * rms, size=x.shape)


def scores(rows: list[dict], estimator: str) -> dict:
    known = [r for r in rows if r["n"] is not None and math.isfinite(r["estimates"][estimator])]
    est = np.array([r["estimates"][estimator] for r in known])
    true = np.array([r["n"] for r in known], dtype=float)
    return {
        "datasets": len(known),
        "mae": float(np.mean(np.abs(est - true))),
        "mre": float(np.mean(np.abs(est - true) / true)),
        "exact": float(np.mean(np.round(est) == true)),
        "seconds": float(sum(r["seconds"][estimator] for r in known)),
    }


def residual_text(est) -> str:
    residuals = [r for r in getattr(est, "residuals_", []) if r is not None]
    return f", residual {' '.join(f'{r:.3g}' for r in residuals)}" if residuals else ""


def print_scores(rows: list[dict], groups: list[str], names: list[str]) -> None:
    for group in groups:
        scored = [r for r in rows if r["group"] == group and r["n"] is not None]
        if not scored:
            continue
        print(f"\n{group}: {len(scored)} datasets with known n")
        print(f"  {'estimator':10s} {'MAE':>7s} {'mean rel err':>13s} {'% exact':>8s} {'seconds':>9s}")
        for k in names:
            s = scores(scored, k)
            print(f"  {k:10s} {s['mae']:7.2f} {s['mre']:13.3f} {100 * s['exact']:7.0f}% {s['seconds']:9.0f}")


def contrast_text(contrast: float | None) -> str:
    return "" if contrast is None else f", gap contrast {contrast:.3g}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", default="mlp,manifolds,digits")
    parser.add_argument("--only", help="comma-separated dataset names")
    parser.add_argument("--map-seed", type=int, default=0, help="seed of the synthetic MLP maps")
    parser.add_argument("--latent", default="gaussian", help="latent law of the synthetic MLP data")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--settle", action="store_true", help="stop once the median is settled")
    parser.add_argument("--method", choices=list(ESTIMATORS), default="maskaae")
    parser.add_argument("--steps", type=int, help="iterations per run [the estimator's default]")
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--noise", type=float, default=0.0, help="noise sd as a fraction of the data RMS")
    parser.add_argument("--json", help="also write every row to this JSON file")
    parser.add_argument("--merge", nargs="+", help="score the rows of these --json files as one run")
    args = parser.parse_args()
    if args.merge:
        rows = [row for path in args.merge for row in json.load(open(path))]
        print_scores(rows, list(dict.fromkeys(r["group"] for r in rows)), list(rows[0]["estimates"]))
        return
    groups = args.groups.split(",")
    only = set(args.only.split(",")) if args.only else None
    names = ["latentdim", *BASELINES]

    estimator = ESTIMATORS[args.method]
    budget = {} if args.steps is None else {"steps": args.steps}
    print(
        f"torch {torch.__version__}; {estimator.__name__} seeds {args.seeds}"
        f"{' (at most; stop once the median is settled)' if args.settle else ''}, "
        f"steps {budget.get('steps', estimator().steps)}, "
        f"{args.jobs} processes x 1 thread; classical band on 1 thread"
        + (f"; noise {args.noise:g} x data RMS" if args.noise else "")
    )
    header = f"{'dataset':22s} {'n':>3s} {'D':>4s} {'N':>6s}  " + " ".join(f"{k:>10s}" for k in names)
    print(header + "   latentdim per seed [m]   seconds (latentdim / band)")
    rows = []
    for group, name, n, x in datasets(groups, args.map_seed, args.latent):
        if only and name not in only:
            continue
        x = add_noise(x, args.noise)
        start = time.perf_counter()
        est = estimator(seeds=args.seeds, n_jobs=args.jobs, settle=args.settle, **budget).fit(x)
        seconds = {"latentdim": time.perf_counter() - start}
        band = classical_band(x)
        estimates = {"latentdim": est.dimension_, **{k: v["dimension"] for k, v in band.items()}}
        seconds.update({k: v["seconds"] for k, v in band.items()})
        row = {
            "group": group,
            "dataset": name,
            "n": n,
            "shape": list(x.shape),
            "estimates": estimates,
            "seconds": seconds,
            "per_seed": est.per_seed_,
            "latent_counts": est.latent_counts_,
            "residuals": getattr(est, "residuals_", None),
            "capacities": {str(m): c for m, c in est.capacities_.items()},
            "gap_contrast": est.result().get("gap_contrast"),  # VAE: the median row's
        }
        rows.append(row)
        shown = " ".join(f"{estimates[k]:10.2f}" for k in names)
        band_seconds = sum(v["seconds"] for v in band.values())
        print(
            f"{name:22s} {n if n is not None else '?':>3} {x.shape[1]:4d} {x.shape[0]:6d}  {shown}"
            f"   {est.per_seed_} [m={est.latent_dim_}, units {est.latent_counts_}{residual_text(est)}"
            f"{contrast_text(row['gap_contrast'])}]"
            f"   {seconds['latentdim']:.0f} / {band_seconds:.0f}",
            flush=True,
        )

    print_scores(rows, groups, names)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
