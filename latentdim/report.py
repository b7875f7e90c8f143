"""Turn a sweep's records into the slides' figures and tables (METHOD.md §5).

``report(OUT)`` reads ``OUT/records.jsonl`` and writes, beside it:

* ``fig2.png/.pdf`` — for the models without a mask (the WAE family), per dataset, one
  panel per metric family the records hold (``metrics.GENERATION_METRICS``: scaled
  FID, energy, precision/recall, density/coverage and, for synthetic data, manifold
  error, off-manifold share, latent recovery) against latent capacity m, mean ± sd over
  seeds, true n marked;
* ``fig5.png/.pdf`` — the same panels for every model, and the masked models' active
  dims against m with the lines y = m and y = n;
* ``table2.csv/.md`` — for every dataset and capacity m > n run by both kinds of
  model: each unmasked model's NAC, each masked model's active dims and NAC;
* ``optimal_m.csv`` — per dataset, model and metric, the m optimising the mean metric
  (argmin; argmax for recall, coverage), with a 95 % bootstrap interval over
  seeds (replicates resampled with replacement); the primary metric first;
* ``summary.csv`` — mean and sd of every metric per (dataset, model, m);
* ``REPORT.md`` — all of the above in one page, with the commands that made it.

Only ``ok`` records are used; failed cells are counted and listed.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentdim.claims import claims_markdown, judge, parse_claims
from latentdim.errors import LatentdimError
from latentdim.files import atomic_path, json_lines
from latentdim.floors import FLOOR, fid_floors, floor_lines
from latentdim.metrics import ACTIVE_THRESHOLD, GENERATION_METRICS, PRIMARY_METRIC
from latentdim.sweep import RECORDS, SWEEPS, RecordStore

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


# -- figures --------------------------------------------------------------------------


def _save(fig, base: Path) -> list[Path]:
    written = []
    for ext, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        path = base.with_suffix(f".{ext}")
        with atomic_path(path, force=True) as tmp:
            fig.savefig(tmp, format=ext, dpi=150, metadata=meta, bbox_inches="tight")
        written.append(path)
    return written


def _errorbars(ax, gs: list[Group], key: str, label: str, marker: str = "o", **style) -> None:
    ms = [g.m for g in gs]
    stats = np.array([g.mean_sd(key) for g in gs])
    ax.errorbar(ms, stats[:, 0], yerr=stats[:, 1], marker=marker, ms=4, capsize=3, label=label, **style)


def _by_dataset(gs: list[Group]) -> dict[tuple[str, int], dict[str, list[Group]]]:
    out: dict[tuple[str, int], dict[str, list[Group]]] = defaultdict(lambda: defaultdict(list))
    for g in gs:
        out[g.dataset, g.n][g.model].append(g)
    return out


LOG_FAMILIES = {"scaled FID", "energy", "manifold error"}
COLUMNS = 4  # panels per figure row; a dataset's panels wrap onto more rows


def families(gs: list[Group]) -> list[tuple[str, list[str]]]:
    """The metric families (one figure panel each) that ``gs`` hold values for, in
    the order of ``GENERATION_METRICS``."""
    found: dict[str, list[str]] = {}
    for key, (family, _, _) in GENERATION_METRICS.items():
        if any(np.isfinite(g.values(key)).any() for g in gs):
            found.setdefault(family, []).append(key)
    return list(found.items())


def _metric_panel(ax, family: str, keys: list[str], models: dict[str, list[Group]], colours: dict) -> None:
    means = []
    for model, mg in sorted(models.items()):
        for key, line in zip(keys, ("-", "--"), strict=False):
            label = model if len(keys) == 1 else f"{model}: {GENERATION_METRICS[key][1]}"
            _errorbars(ax, mg, key, label, color=colours[model], linestyle=line)
            means += [g.mean_sd(key)[0] for g in mg]
    finite = [v for v in means if np.isfinite(v)]
    log = family in LOG_FAMILIES and finite and min(finite) > 0
    primary = " (primary)" if PRIMARY_METRIC in keys else ""
    ax.set(yscale="log" if log else "linear", ylabel=family, title=f"{family}{primary}")


def _panel_grid(plt, rows: list[int], title: str):
    """A figure with, per dataset, ``rows[i]`` panels wrapped at ``COLUMNS``; returns
    the figure and each dataset's list of axes (unused axes are hidden)."""
    lines = [max(1, -(-count // COLUMNS)) for count in rows]
    columns = min(COLUMNS, max(rows))
    fig, axes = plt.subplots(
        sum(lines), columns, figsize=(4.3 * columns, 3.3 * sum(lines)), squeeze=False, layout="constrained"
    )
    out, top = [], 0
    for count, height in zip(rows, lines, strict=True):
        block = [ax for row in axes[top : top + height] for ax in row]
        for ax in block[count:]:
            ax.set_visible(False)
        out.append(block[:count])
        top += height
    fig.suptitle(title, fontsize=10)
    return fig, out


def _draw(gs: list[Group], base: Path, title: str, with_active: bool) -> list[Path]:
    import matplotlib.pyplot as plt

    data = _by_n(_by_dataset(gs))
    colours = {model: f"C{i}" for i, model in enumerate(sorted({g.model for g in gs}))}
    panels = []
    for (_, _), models in data:
        mine = [g for mg in models.values() for g in mg]
        extra = [("active dims", None)] if with_active and any(g.masked for g in mine) else []
        panels.append(families(mine) + extra)
    fig, blocks = _panel_grid(plt, [len(p) for p in panels], title)
    for ((dataset, n), models), block, plan in zip(data, blocks, panels, strict=True):
        ms = sorted({g.m for mg in models.values() for g in mg})
        for ax, (family, keys) in zip(block, plan, strict=True):
            if keys is None:
                for model, mg in sorted(models.items()):
                    if mg[0].masked:
                        _errorbars(ax, mg, "active_dims", f"{model} active dims", "s", color=colours[model])
                ax.plot(ms, ms, color="black", lw=1, ls=":", label="y = m")
                if n is not None:
                    ax.axhline(n, color="tab:red", lw=1, ls="--", label=f"y = n = {n}")
                ax.set(ylabel="active latent dims", title="active dims")
            else:
                _metric_panel(ax, family, keys, models, colours)
            if n is not None:
                ax.axvline(n, color="grey", ls="--", lw=1)
            ax.set_xlabel(f"latent capacity m ({dataset}, {_true_n(n)})")
            _m_ticks(ax, ms)
            ax.legend(fontsize=7)
    try:
        return _save(fig, base)
    finally:
        plt.close(fig)


def figure2(gs: list[Group], base: Path) -> list[Path]:
    """Every metric family against m for the unmasked models, per dataset."""
    plain = [g for g in gs if not g.masked]
    if not plain:
        return []
    return _draw(plain, base, "Fig 2: generation against latent capacity (mean ± sd over seeds)", False)


def figure5(gs: list[Group], base: Path) -> list[Path]:
    """Per dataset: every metric family against m for every model, and the masked
    models' active dims against m with the lines y = m and y = n."""
    if not gs or not any(g.masked for g in gs):
        return []
    return _draw(gs, base, "Fig 5: WAE vs MaskAAE against latent capacity (mean ± sd over seeds)", True)


def figure6(records: list[dict], base: Path) -> list[Path]:
    """Fig 6: each masked model's mask values against the iteration, one panel per
    (dataset, model, m) (the first seed's trajectory), the active count over seeds in
    the title."""
    found: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if r.get("mask_history"):
            found[r["dataset"], r["n"], r["model"], r["latent_dim"]].append(r)
    if not found:
        return []
    import matplotlib.pyplot as plt

    keys = sorted(found, key=lambda k: (_dataset_key(k[0], k[1]), k[2], k[3]))
    fig, axes = plt.subplots(
        1, len(keys), figsize=(3.6 * len(keys), 3.0), squeeze=False, layout="constrained"
    )
    for ax, key in zip(axes[0], keys, strict=True):
        runs = sorted(found[key], key=lambda r: r["replicate"])
        history = runs[0]["mask_history"]
        ax.plot(history["step"], np.asarray(history["mask"]), lw=0.8)
        ax.axhline(ACTIVE_THRESHOLD, color="black", ls=":", lw=0.8)
        active = " ".join(str(r["metrics"]["active_dims"]) for r in runs)
        dataset, _, model, m = key
        ax.set(xlabel="iteration", ylabel="mask alpha", ylim=(-0.02, 1.02))
        ax.set_title(f"{dataset} {model} m = {m}: active {active}", fontsize=8)
    fig.suptitle(
        "Fig 6: mask values against the iteration (first seed; active dims of every seed)", fontsize=10
    )
    try:
        return _save(fig, base)
    finally:
        plt.close(fig)


def local_dimension_figure(local: np.ndarray, estimate: float, title: str, path: Path) -> None:
    """A histogram of per-point local dimensions (integers), the estimate marked, as the
    single figure ``path`` (its suffix names the format)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values, rows = np.unique(np.asarray(local), return_counts=True)
    fig, ax = plt.subplots(figsize=(5, 3.2), layout="constrained")
    try:
        ax.bar(values, rows / rows.sum(), width=0.8, color="C0")
        ax.axvline(estimate, color="C3", ls="--", label=f"estimate {estimate:g}")
        ax.set(xlabel="local dimension", ylabel="share of points", title=title)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(frameon=False)
        with atomic_path(path, force=True) as tmp:
            fig.savefig(tmp, format=path.suffix[1:], dpi=150, metadata={"Software": None})
    finally:
        plt.close(fig)


def figure7(models: list[tuple[str, object]], x: np.ndarray, base: Path) -> list[Path]:
    """Fig 7: the correlation matrix of each trained model's codes of the rows ``x``
    (their active dims), side by side, with the NAC (mean |R_ij|, i != j) in each title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from latentdim.metrics import nac

    fig, axes = plt.subplots(
        1, len(models), figsize=(3.6 * len(models), 3.4), squeeze=False, layout="constrained"
    )
    for ax, (label, model) in zip(axes[0], models, strict=True):
        codes = model.encode(x)
        active = model.active_dims(codes)
        corr = np.corrcoef(codes[:, active], rowvar=False).reshape(active.size, active.size)
        image = ax.imshow(np.nan_to_num(corr), vmin=-1, vmax=1, cmap="RdBu_r")
        value = nac(codes, active)
        shown = "n/a" if np.isnan(value) else f"{value:.3f}"
        ax.set_title(f"{label}: m = {model.config.latent_dim}, {active.size} active, NAC {shown}", fontsize=8)
        ax.set(xlabel="active latent dim", ylabel="active latent dim")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="correlation")
    fig.suptitle("Fig 7: correlation of the codes", fontsize=10)
    try:
        return _save(fig, base)
    finally:
        plt.close(fig)


def latent_count(metrics: dict) -> tuple[str, int] | None:
    """A model's own reading of how many latent dims it uses, with its name: the mask's
    active dims, or a VAE's ``posterior_dims``; None for a model that has neither."""
    if metrics.get("mask") is not None:
        return "mask", metrics["active_dims"]
    if metrics.get("posterior_dims") is not None:
        return "posterior variances", metrics["posterior_dims"]
    return None


def budget_rows(records: list[dict]) -> list[dict]:
    """Each model's latent count (:func:`latent_count`) per (dataset, model family, m,
    training steps), mean and sd over seeds; empty unless some (dataset, family, m) ran
    at several budgets (a study whose model tables set their own ``steps``)."""
    from latentdim.config import TrainConfig

    found: dict[tuple, list[float]] = defaultdict(list)
    reading: dict[str, str] = {}
    for r in records:
        count = latent_count(r["metrics"])
        if count is None or "cell" not in r:
            continue
        family = r["cell"].get("model_config", {}).get("model", r["model"])
        steps = r["cell"].get("train", {}).get("steps", TrainConfig.steps)
        found[r["dataset"], r["n"], family, r["latent_dim"], steps].append(count[1])
        reading[family] = count[0]
    budgets = defaultdict(set)
    for dataset, _n, family, m, steps in found:
        budgets[dataset, family, m].add(steps)
    rows = []
    order = sorted(found.items(), key=lambda kv: (_dataset_key(*kv[0][:2]), kv[0][2:]))
    for (dataset, n, family, m, steps), values in order:
        if len(budgets[dataset, family, m]) < 2:
            continue
        v = np.asarray(values, dtype=float)
        sd = float(v.std(ddof=1)) if v.size > 1 else 0.0
        row = {
            "dataset": dataset,
            "n": n,
            "model": family,
            "reading": reading[family],
            "m": m,
            "steps": steps,
        }
        row.update(active_dims_mean=float(v.mean()), active_dims_sd=sd, seeds=int(v.size))
        row["active_dims"] = " ".join(str(int(a)) for a in values)
        rows.append(row)
    return rows


def figure_budget(rows: list[dict], base: Path) -> list[Path]:
    """The models' latent counts against the training budget, one panel per dataset."""
    import matplotlib.pyplot as plt

    if not rows:
        return []
    datasets = list(dict.fromkeys((r["dataset"], r["n"]) for r in rows))
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(4.3 * len(datasets), 3.4), squeeze=False, layout="constrained"
    )
    for ax, (dataset, n) in zip(axes[0], datasets, strict=True):
        mine = [r for r in rows if r["dataset"] == dataset]
        for model, m in dict.fromkeys((r["model"], r["m"]) for r in mine):
            line = sorted((r for r in mine if (r["model"], r["m"]) == (model, m)), key=lambda r: r["steps"])
            means, sds = [r["active_dims_mean"] for r in line], [r["active_dims_sd"] for r in line]
            label = f"{model} m = {m}"
            ax.errorbar([r["steps"] for r in line], means, yerr=sds, marker="s", ms=4, capsize=3, label=label)
        if n is not None:
            ax.axhline(n, color="tab:red", lw=1, ls="--", label=f"y = n = {n}")
        steps = sorted({r["steps"] for r in mine})
        ax.set_xscale("log", base=2)
        ax.set_xticks(steps, [str(s) for s in steps])
        ax.set(xlabel="training iterations", ylabel="latent dims in use", title=f"{dataset} ({_true_n(n)})")
        ax.legend(fontsize=8)
    fig.suptitle(
        "Latent dims in use (mask; VAE: posterior variances) against the training budget "
        "(mean ± sd over seeds)",
        fontsize=10,
    )
    try:
        return _save(fig, base)
    finally:
        plt.close(fig)


def _by_n(data: dict) -> list:
    """Datasets in order of true dimension, then name."""
    return sorted(data.items(), key=lambda item: _dataset_key(*item[0]))


def _m_ticks(ax, ms: list[int]) -> None:
    """Tick every m of the grid, leaving out those too close to the previous tick."""
    ticks, span = [], max(ms) - min(ms) or 1
    for m in sorted(set(ms)):
        if not ticks or (m - ticks[-1]) / span >= 0.04:
            ticks.append(m)
    ax.set_xticks(ticks, [str(m) for m in ticks])


# -- the report -----------------------------------------------------------------------


@dataclass
class Report:
    files: list[Path]
    optima: list[Optimum]
    ok: int
    failed: list[dict]

    def optima_text(self) -> str:
        """The optimal m by the primary metric and by scaled FID (the slides')."""
        lines = []
        for metric in dict.fromkeys((PRIMARY_METRIC, "scaled_fid")):
            chosen = [o for o in self.optima if o.metric == metric]
            if not chosen:
                continue
            label = GENERATION_METRICS[metric][1] + (" (primary)" if metric == PRIMARY_METRIC else "")
            best = "argmax" if GENERATION_METRICS[metric][2] == "max" else "argmin"
            lines.append(f"optimal m ({best} of mean {label}; 95 % bootstrap interval over seeds):")
            for o in chosen:
                lines.append(
                    f"  {o.dataset} ({_true_n(o.n)})  {o.model:10s} m* = {o.m:3d}  [{o.low}, {o.high}]"
                    f"  ({o.seeds} seed{'s' * (o.seeds > 1)})"
                )
        return "\n".join(lines)


def _optional_table(out: Path, name: str, numeric: list[dict], header: list[str], rows: list[list]) -> list:
    """Write NAME.csv (``numeric``) and NAME.md (``header``, ``rows``) when there are
    rows; otherwise remove those of an earlier grid of this folder. The files written."""
    files = [out / f"{name}.csv", out / f"{name}.md"]
    if not numeric:
        for path in files:
            path.unlink(missing_ok=True)
        return []
    columns = list(numeric[0])
    _write_text(files[0], _csv(columns, [[r[c] for c in columns] for r in numeric]))
    _write_text(files[1], _markdown(header, rows))
    return files


def report(out: str | os.PathLike) -> Report:
    """Write figures, tables and REPORT.md for the sweep in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out)
    if not (out / RECORDS).is_file():
        raise LatentdimError(f"{out} has no {RECORDS}: run `latentdim sweep` first")
    records = list(RecordStore(out / RECORDS).load().values())
    ok = [r for r in records if r["status"] == "ok"]
    failed = [r for r in records if r["status"] != "ok"]
    if not ok:
        raise LatentdimError(f"{out / RECORDS} has no finished (ok) cells")
    gs = groups(ok)
    optima = optima_per_metric(ok)
    files = [*figure2(gs, out / "fig2"), *figure5(gs, out / "fig5")]
    budget = budget_rows(ok)
    if budget:
        files += figure_budget(budget, out / "budget")
        columns = list(budget[0])
        _write_text(out / "budget.csv", _csv(columns, [[r[c] for c in columns] for r in budget]))
        files.append(out / "budget.csv")

    files += figure6(ok, out / "fig6")
    files += _optional_table(out, "fig5_check", *fig5_check(gs))
    files += _optional_table(out, "table1", *table1(gs))
    floors = fid_floors(ok, out)
    if floors:
        files.append(out / FLOOR)
    claims = study_claims(out)
    if claims:
        _write_text(out / "claims.md", claims_markdown([judge(c, ok) for c in claims]))
        files.append(out / "claims.md")
    else:
        (out / "claims.md").unlink(missing_ok=True)

    rows = summary_rows(gs)
    header = list(rows[0])
    _write_text(out / "summary.csv", _csv(header, [[r[h] for h in header] for r in rows]))
    t2_numeric, t2_header, t2_rows = table2(gs)
    t2_columns = list(t2_numeric[0]) if t2_numeric else ["dataset", "n", "m"]
    _write_text(out / "table2.csv", _csv(t2_columns, [[r[c] for c in t2_columns] for r in t2_numeric]))
    _write_text(out / "table2.md", _markdown(t2_header, t2_rows))
    opt_header = ["dataset", "n", "model", "metric", "optimal_m", "ci_low", "ci_high", "seeds"]
    opt_rows = [[o.dataset, o.n, o.model, o.metric, o.m, o.low, o.high, o.seeds] for o in optima]
    _write_text(out / "optimal_m.csv", _csv(opt_header, opt_rows))
    files += [out / name for name in ("summary.csv", "table2.csv", "table2.md", "optimal_m.csv")]

    result = Report(files, optima, len(ok), failed)
    text = _report_md(out, result, t2_header, t2_rows, opt_header, opt_rows, floor_lines(floors))
    _write_text(out / "REPORT.md", text)
    result.files.append(out / "REPORT.md")
    return result


def study_claims(out: Path) -> tuple[dict, ...]:
    """The claims of the study that last swept ``out`` (``[[claims]]`` in its spec)."""
    sweeps = [s for s in json_lines(out / SWEEPS) if _is_sweep_entry(s)]
    if not sweeps:
        return ()
    try:
        return parse_claims(sweeps[-1]["study"].get("claims") or [], str(out / SWEEPS))
    except LatentdimError:
        return ()  # written by other code: the report goes on without them


def _is_sweep_entry(entry: dict) -> bool:
    """A ``sweeps.jsonl`` line with what REPORT.md prints (others, corrupt, are left out)."""
    summary, study = entry.get("summary"), entry.get("study")
    number = (int, float)
    return (
        isinstance(study, dict)
        and isinstance(study.get("name"), str)
        and isinstance(study.get("description", ""), str)
        and isinstance(entry.get("started"), str)
        and isinstance(entry.get("command") or [], list)
        and all(isinstance(word, str) for word in entry.get("command") or [])
        and isinstance(summary, dict)
        and all(
            isinstance(summary.get(k), number) for k in ("ran", "cells", "wall_seconds", "samples_per_second")
        )
    )


def _report_md(out: Path, result: Report, t2_header, t2_rows, opt_header, opt_rows, floors) -> str:
    sweeps = [s for s in json_lines(out / SWEEPS) if _is_sweep_entry(s)]
    lines = [f"# Sweep report: {out.name}", ""]
    if sweeps:
        study = sweeps[-1]["study"]
        lines += [study.get("description", "") or f"Study {study['name']}.", ""]
        lines += ["Made by:", "", "```"]
        for s in sweeps:
            summary = s["summary"]
            command = " ".join(s["command"]) if s.get("command") else "(library call)"
            reused = summary.get("reused")
            reused = f"reused {reused} cells, " if isinstance(reused, int) and reused else ""
            lines.append(
                f"{command}   # {s['started']}: {reused}ran {summary['ran']} of {summary['cells']} cells "
                f"in {summary['wall_seconds']:.0f} s, {summary['samples_per_second']:.0f} training samples/s"
            )
        lines += [f"latentdim report {out}", "```", ""]
    lines += [f"{result.ok} finished cells, {len(result.failed)} failed.", ""]
    if (out / "claims.md").exists():
        lines += ["## Claims and verdicts", "", "Each claim the study checks, judged on the seeds "
                  "(latentdim.claims: a 95 % two-sample t-test per pair, a 95 % t interval per value).", ""]
        lines += [(out / "claims.md").read_text(), ""]
    for name, title in (
        ("fig2", "Fig 2"),
        ("fig5", "Fig 5"),
        ("fig6", "Fig 6"),
        ("budget", "Active dims against the budget"),
    ):
        if (out / f"{name}.png").exists():
            lines += [f"## {title}", "", f"![{title}]({name}.png)", ""]
    if (out / "fig5_check.md").exists():
        lines += [
            f"## Fig 5's claim: masked models at m >= n against the plain model at m = n ({PRIMARY_METRIC})",
            "",
            (out / "fig5_check.md").read_text(),
            "",
        ]
    if (out / "table1.md").exists():
        lines += ["## Table 1 (FID per model and dataset, mean ± sd over seeds)", ""]
        lines += [(out / "table1.md").read_text(), ""]
    if floors:
        lines += ["What a perfect model would score (the floor):", "", *floors, ""]
    lines += ["## Table 2 (NAC; MaskAAE's active dims)", "", _markdown(t2_header, t2_rows)]
    lines += [
        "## Optimal latent capacity",
        "",
        f"Argmin over m of the mean metric (argmax for recall and coverage); the "
        f"primary metric is `{PRIMARY_METRIC}` (METHOD.md §4). 95 % bootstrap interval over seeds.",
        "",
        _markdown(opt_header, opt_rows),
    ]
    if result.failed:
        lines += ["## Failed cells", ""]
        for r in result.failed:
            error = r.get("error", {})
            lines.append(
                f"- {r['dataset']} {r['model']} m={r['latent_dim']} seed#{r['replicate']}: "
                f"{error.get('type')}: {error.get('message')}"
            )
        lines.append("")
    return "\n".join(lines)
