"""The figures of a sweep's report: Fig 2, 5, 6, 7, the budget and the local dimension."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from latentdim.files import atomic_path
from latentdim.metrics import ACTIVE_THRESHOLD, GENERATION_METRICS, PRIMARY_METRIC
from latentdim.report.tables import (
    Group,
    _dataset_key,
    _true_n,
)


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
