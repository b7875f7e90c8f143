"""The tables of a sweep's report: groups of seeds, the optimal m with its bootstrap
interval, Table 1, Table 2, Fig 5's claim, the summary; CSV and Markdown writers."""

from __future__ import annotations

import csv
import io
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentdim.files import atomic_path
from latentdim.metrics import GENERATION_METRICS, PRIMARY_METRIC

BOOTSTRAP = 2000
SUMMARY_KEYS = ("fid", "active_dims", "nac", "recon_mse", *GENERATION_METRICS)


@dataclass
class Group:
    """The ok records of one (dataset, model, m) cell across seeds."""

    dataset: str
    n: int
    model: str
    m: int
    masked: bool
    records: list[dict]

    def values(self, key: str) -> np.ndarray:
        out = [r["metrics"].get(key) for r in self.records]
        return np.array([np.nan if v is None else v for v in out], dtype=float)

    def mean_sd(self, key: str) -> tuple[float, float]:
        v = self.values(key)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return float("nan"), float("nan")
        return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


@dataclass
class Optimum:
    dataset: str
    n: int
    model: str
    m: int
    low: int
    high: int
    seeds: int
    metric: str = "scaled_fid"


def _true_n(n: int | None) -> str:
    return "n unknown" if n is None else f"n = {n}"


def _dataset_key(dataset: str, n: int | None) -> tuple:
    """Sort key: datasets by true n (unknown last), then by name."""
    return (n is None, n or 0, dataset)


def groups(records: list[dict]) -> list[Group]:
    """Group ok records by (dataset, model, m), datasets ordered by n."""
    found: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        found[r["dataset"], r["n"], r["model"], r["latent_dim"]].append(r)
    return [
        Group(d, n, model, m, any(r["metrics"].get("mask") is not None for r in rs), rs)
        for (d, n, model, m), rs in sorted(
            found.items(), key=lambda kv: (_dataset_key(*kv[0][:2]), kv[0][2:])
        )
    ]


def optimal_m(
    records: list[dict], metric: str = "scaled_fid", seed: int = 0, rounds: int = BOOTSTRAP
) -> list[Optimum]:
    """argmin over m of the mean ``metric`` per (dataset, model) (argmax for metrics
    where higher is better, see ``GENERATION_METRICS``), with the 2.5–97.5 % range of
    the optimum over bootstrap resamples of the replicates. Records without the metric
    are left out; a (dataset, model) with none has no optimum."""
    sign = -1.0 if GENERATION_METRICS.get(metric, ("", "", "min"))[2] == "max" else 1.0
    rng = np.random.default_rng(seed)
    by: dict[tuple, dict[tuple[int, int], float]] = defaultdict(dict)
    for r in records:
        value = r["metrics"].get(metric)
        if value is not None and np.isfinite(value):
            by[r["dataset"], r["n"], r["model"]][r["replicate"], r["latent_dim"]] = sign * value
    optima = []
    for (dataset, n, model), values in sorted(
        by.items(), key=lambda kv: (_dataset_key(*kv[0][:2]), kv[0][2])
    ):
        reps = sorted({rep for rep, _ in values})
        ms = sorted({m for _, m in values})
        table = np.full((len(reps), len(ms)), np.nan)
        for (rep, m), v in values.items():
            table[reps.index(rep), ms.index(m)] = v
        best = ms[int(np.nanargmin(np.nanmean(table, axis=0)))]
        picks = rng.integers(0, len(reps), size=(rounds, len(reps)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample missing some m
            means = np.nanmean(table[picks], axis=1)  # rounds x len(ms)
        means = np.where(np.isnan(means), np.inf, means)
        argmins = np.asarray(ms)[means.argmin(axis=1)]
        low, high = np.percentile(argmins, [2.5, 97.5], method="nearest")
        optima.append(Optimum(dataset, n, model, best, int(low), int(high), len(reps), metric))
    return optima


def optima_per_metric(records: list[dict]) -> list[Optimum]:
    """:func:`optimal_m` for the primary metric, then every other metric with a
    direction (``GENERATION_METRICS``) that the records hold."""
    names = [PRIMARY_METRIC] + [k for k, v in GENERATION_METRICS.items() if v[2] and k != PRIMARY_METRIC]
    return [o for name in names for o in optimal_m(records, name)]


# -- tables ---------------------------------------------------------------------------


def _fmt(mean: float, sd: float, seeds: int, digits: int = 3) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if seeds > 1 else "")


def summary_rows(gs: list[Group]) -> list[dict]:
    """Mean and sd of every metric per (dataset, model, m)."""
    rows = []
    for g in gs:
        row = {"dataset": g.dataset, "n": g.n, "model": g.model, "m": g.m, "seeds": len(g.records)}
        for key in SUMMARY_KEYS:
            row[f"{key}_mean"], row[f"{key}_sd"] = g.mean_sd(key)
        rows.append(row)
    return rows


def table2(gs: list[Group]) -> tuple[list[dict], list[str], list[list[str]]]:
    """Table 2: per dataset and capacity m > n run by both kinds of model, each
    unmasked model's NAC and each masked model's active dims and NAC.

    Returns numeric rows (mean and sd over seeds, for CSV) and a formatted table."""
    plain = sorted({g.model for g in gs if not g.masked})
    masked = sorted({g.model for g in gs if g.masked})
    columns = [(p, "nac", 3) for p in plain] + [
        (k, key, d) for k in masked for key, d in (("active_dims", 1), ("nac", 3))
    ]
    index = {(g.dataset, g.model, g.m): g for g in gs}
    numeric, formatted = [], []
    for dataset, n, m in sorted(
        {(g.dataset, g.n, g.m) for g in gs}, key=lambda k: (_dataset_key(k[0], k[1]), k[2])
    ):
        if (n is not None and m <= n) or not any((dataset, p, m) in index for p in plain):
            continue
        if not any((dataset, k, m) in index for k in masked):
            continue
        row, cells = {"dataset": dataset, "n": n, "m": m}, [dataset, str(n), str(m)]
        for model, key, digits in columns:
            g = index.get((dataset, model, m))
            mean, sd = g.mean_sd(key) if g else (float("nan"), float("nan"))
            row.update(
                {
                    f"{model}_{key}": mean,
                    f"{model}_{key}_sd": sd,
                    f"{model}_seeds": len(g.records) if g else 0,
                }
            )
            cells.append(_fmt(mean, sd, len(g.records), digits) if g else "")
        numeric.append(row)
        formatted.append(cells)
    header = ["data", "n", "capacity m"] + [f"{model} {key.replace('_', ' ')}" for model, key, _ in columns]
    header = [h.replace(" nac", " NAC") for h in header]
    return numeric, header, formatted


def fig5_check(
    gs: list[Group], metric: str = PRIMARY_METRIC, seed: int = 0, rounds: int = BOOTSTRAP
) -> tuple[list[dict], list[str], list[list[str]]]:
    """Fig 5's claim, read from the records: on data of known n, a masked model at every
    capacity m >= n generates no worse than a plain model at m = n. Per (dataset,
    masked model, m >= n, plain model run at m = n): the two means of ``metric``, their
    difference signed so that positive favours the masked model, and its 95 %
    bootstrap interval (the seeds of each side resampled independently). "no worse"
    when the interval's upper end reaches 0, "worse" otherwise. Empty when no dataset
    has both."""
    sign = -1.0 if GENERATION_METRICS.get(metric, ("", "", "min"))[2] == "min" else 1.0
    rng = np.random.default_rng(seed)
    index = {(g.dataset, g.model, g.m): g for g in gs}
    plain = sorted({g.model for g in gs if not g.masked})
    numeric, formatted = [], []
    for g in sorted(gs, key=lambda g: (_dataset_key(g.dataset, g.n), g.model, g.m)):
        if not g.masked or g.n is None or g.m < g.n:
            continue
        for model in plain:
            base = index.get((g.dataset, model, g.n))
            mine, theirs = g.values(metric), base.values(metric) if base else np.array([])
            mine, theirs = mine[np.isfinite(mine)], theirs[np.isfinite(theirs)]
            if not mine.size or not theirs.size:
                continue
            diff = sign * (mine.mean() - theirs.mean())
            boot = sign * (
                mine[rng.integers(0, mine.size, (rounds, mine.size))].mean(axis=1)
                - theirs[rng.integers(0, theirs.size, (rounds, theirs.size))].mean(axis=1)
            )
            low, high = np.percentile(boot, [2.5, 97.5])
            verdict = "no worse" if high >= 0 else "worse"
            numeric.append(
                {
                    "dataset": g.dataset,
                    "n": g.n,
                    "masked": g.model,
                    "m": g.m,
                    "masked_mean": float(mine.mean()),
                    "plain": model,
                    "plain_mean": float(theirs.mean()),
                    "difference": float(diff),
                    "ci_low": float(low),
                    "ci_high": float(high),
                    "verdict": verdict,
                }
            )
            formatted.append(
                [
                    g.dataset,
                    str(g.n),
                    g.model,
                    str(g.m),
                    _fmt(*g.mean_sd(metric), mine.size),
                    f"{model} {_fmt(*base.mean_sd(metric), theirs.size)}",
                    f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]",
                    verdict,
                ]
            )
    header = ["data", "n", "masked model", "m", metric, f"plain model at m = n, {metric}"]
    header += ["difference (+ favours masked) [95 % CI]", "verdict"]
    return numeric, header, formatted


def table1(gs: list[Group]) -> tuple[list[dict], list[str], list[list[str]]]:
    """Table 1: FID (on the runs' feature network) per model (rows) and dataset
    (columns), mean ± sd over seeds. Made only for a comparison study, where each model
    ran one capacity m per dataset; empty otherwise."""
    if not gs or len({(g.dataset, g.model) for g in gs}) < len(gs):
        return [], [], []
    datasets = list(
        dict.fromkeys((g.dataset, g.n) for g in sorted(gs, key=lambda g: _dataset_key(g.dataset, g.n)))
    )
    models = sorted({g.model for g in gs})
    index = {(g.dataset, g.model): g for g in gs}
    numeric, formatted = [], []
    for model in models:
        row, cells = {"model": model}, [model]
        for dataset, _ in datasets:
            g = index.get((dataset, model))
            mean, sd = g.mean_sd("fid") if g else (float("nan"), float("nan"))
            features = {r["metrics"].get("fid_features", "identity") for r in g.records} if g else set()
            row.update(
                {
                    f"{dataset}_fid": mean,
                    f"{dataset}_fid_sd": sd,
                    f"{dataset}_m": g.m if g else None,
                    f"{dataset}_seeds": len(g.records) if g else 0,
                    f"{dataset}_features": "/".join(sorted(features)),
                }
            )
            cells.append(f"{_fmt(mean, sd, len(g.records))} (m = {g.m})" if g else "")
        numeric.append(row)
        formatted.append(cells)
    features = {r["metrics"].get("fid_features", "identity") for g in gs for r in g.records}
    header = ["model"] + [f"{d} FID ({'/'.join(sorted(features))} features)" for d, _ in datasets]
    return numeric, header, formatted


def _csv(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _markdown(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(text)
