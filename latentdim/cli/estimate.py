"""``latentdim estimate``: the intrinsic dimension of a data file."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import click
import numpy as np

from latentdim.cli.common import (
    DEVICE_OPTION,
    SKLEARN_OPTION,
    _data_file,
    _interruptible,
    _one_source,
    cli,
)
from latentdim.config import (
    ESTIMATOR_NAMES,
)
from latentdim.data.readers import (
    read_matrix,
    sklearn_data,
)
from latentdim.errors import LatentdimError
from latentdim.files import atomic_path


def _band_available() -> bool:
    """Whether the classical band can run; if not, say so (a note, not an error)."""
    from latentdim.estimate import need_baselines

    try:
        need_baselines()
    except LatentdimError as exc:
        click.echo(f"latentdim: note: {exc}; skipping the classical band", err=True)
        return False
    return True


def _check_local_outputs(method: str, per_point: str | None, plot: str | None, force: bool) -> None:
    """Refuse, before any training, per-point outputs the method or the paths cannot take."""
    for option, path, suffix in (("--per-point", per_point, ".npy"), ("--plot", plot, ".png")):
        if path is None:
            continue
        if method != "vae":
            raise LatentdimError(f"{option} needs --method vae: MaskAAE's mask gives one global count")
        if not path.endswith(suffix):
            raise LatentdimError(f"{option} {path}: the file must end in {suffix}")
        if Path(path).exists() and not force:
            raise LatentdimError(f"{path} exists; use --force to overwrite")
        if not Path(path).parent.is_dir():
            raise LatentdimError(f"{option} {path}: no such folder {Path(path).parent}")


def _write_local(estimator, name: str, per_point: str | None, plot: str | None) -> None:
    if per_point:
        with atomic_path(per_point, force=True) as tmp, open(tmp, "wb") as handle:
            np.save(handle, estimator.local_dimension_)
    if plot:
        from latentdim.report import local_dimension_figure

        title = f"{name}: local dimension per point"
        local_dimension_figure(estimator.local_dimension_, estimator.dimension_, title, Path(plot))


def _contrast_text(contrast: float | None) -> str:
    if contrast is None:
        return ""
    return f"; gap contrast, median over points: {contrast:.3g} (near 1: no clear gap, weak evidence)"


def _settled_note(result: dict) -> str:
    trained, asked = len(result["per_seed"]), result["seeds"]
    return "" if trained == asked else f" ({trained} of {asked}: the rest could not change the median)"


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@SKLEARN_OPTION
@click.option(
    "--method",
    type=click.Choice(ESTIMATOR_NAMES),
    default="vae",
    show_default=True,
    help="The local dimension of learned-variance VAEs (see VAEDimension), or MaskAAE's active dims "
    "(faster; undercounts n >= 16).",
)
@click.option(
    "--seeds",
    type=int,
    default=3,
    show_default=True,
    help="Runs per capacity (at most, with --settle).",
)
@click.option(
    "--settle",
    is_flag=True,
    help="On the CPU with fewer jobs than seeds, stop once the seeds left cannot change the median "
    "(faster where the first seeds agree, slower where not).",
)
@click.option("--steps", type=int, help="Iterations per run [vae 48000, maskaae 3000].")
@click.option("--latent-dim", "-m", default="auto", show_default=True, help="Starting capacity, or auto.")
@click.option("-j", "--jobs", type=int, help="Processes the seeds' stack is split over [cores; 1 on CUDA].")
@click.option("--seed", type=int, default=0, show_default=True, help="random_state of the estimator.")
@click.option(
    "--max-rows",
    type=int,
    default=50_000,
    show_default=True,
    help="Train on at most this many rows (a random subsample of larger data).",
)
@DEVICE_OPTION
@click.option("--no-baselines", is_flag=True, help="Skip the classical estimators.")
@click.option(
    "--per-point",
    type=click.Path(dir_okay=False),
    help="Write each row's local dimension to this .npy file (--method vae).",
)
@click.option(
    "--plot", type=click.Path(dir_okay=False), help="Write a histogram of them to this .png (--method vae)."
)
@click.option("--force", is_flag=True, help="Replace existing --per-point / --plot files.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Also say where the time went, per phase.")
def estimate(
    file,
    bundled,
    method,
    seeds,
    settle,
    steps,
    latent_dim,
    jobs,
    seed,
    max_rows,
    device,
    no_baselines,
    per_point,
    plot,
    force,
    as_json,
    verbose,
):
    """Estimate the intrinsic dimension of FILE (.npy, .npz, .csv) with learned-variance VAEs
    (or MaskAAE), beside the classical estimators (TwoNN, MLE, DANCoFit, local PCA)."""
    import time

    from latentdim.estimate import ESTIMATORS
    from latentdim.studies.sweep import default_jobs
    from latentdim.training import resolve_device

    _one_source(file, bundled, "a data FILE")
    if latent_dim != "auto":
        try:
            latent_dim = int(latent_dim)
        except ValueError:
            raise LatentdimError(f"--latent-dim must be an integer or auto, got {latent_dim!r}") from None
    _check_local_outputs(method, per_point, plot, force)
    name = file if file else f"sklearn {bundled}"
    x = read_matrix(_data_file(file)) if file else sklearn_data(bundled)
    device = str(resolve_device(device))
    jobs = jobs or (1 if device.startswith("cuda") else default_jobs())
    budget = {} if steps is None else {"steps": steps}
    estimator = ESTIMATORS[method](
        latent_dim=latent_dim,
        seeds=seeds,
        settle=settle,
        n_jobs=jobs,
        random_state=seed,
        device=device,
        max_rows=max_rows,
        **budget,
    )
    start = time.perf_counter()

    bar, bar_m = None, None  # the open progress bar (a TTY only), and its capacity

    def close_bar() -> None:
        nonlocal bar
        if bar is not None:
            bar.__exit__(None, None, None)
            bar = None

    def stopped(signum: int) -> str:
        close_bar()
        sig = signal.Signals(signum).name
        return f"estimate interrupted ({sig}); nothing was written: run the command again"

    def progress(done: int, total: int, m: int) -> None:
        nonlocal bar, bar_m
        if bar is None or m != bar_m:
            close_bar()
            label = f"{'MaskAAE' if method == 'maskaae' else 'VAE'} m = {m}"
            bar, bar_m = click.progressbar(length=total, label=label, file=sys.stderr), m
            bar.__enter__()
        bar.length = total  # a round of seeds added
        bar.update(done - bar.pos)

    band = not no_baselines and _band_available()
    try:
        with _interruptible(stopped):
            estimator.fit(x, progress=progress if sys.stderr.isatty() else None, band=band)
            close_bar()
            seconds = time.perf_counter() - start
    except ValueError as exc:
        raise LatentdimError(str(exc)) from None
    baselines = estimator.band_ if band else {}
    result = {"data": {"name": name, "shape": list(x.shape)}, **estimator.result()}
    result["seconds"] = seconds
    result["baselines"] = baselines
    _write_local(estimator, name, per_point, plot)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    lo, hi = result["interval"]
    span = f", spanning {estimator.rank_} dims" if estimator.rank_ < len(estimator.columns_) else ""
    click.echo(f"{name}: {x.shape[0]} x {x.shape[1]} ({len(estimator.columns_)} non-constant columns{span})")
    if estimator.rows_used_ < x.shape[0]:
        click.echo(
            f"trained on {estimator.rows_used_} of the {x.shape[0]} rows (a random subsample; --max-rows)"
        )
    reading = "MaskAAE active dims" if method == "maskaae" else "VAE local dimension, median over points"
    click.echo(
        f"intrinsic dimension ({reading}): {result['dimension']:g}  "
        f"[seeds {', '.join(f'{v:g}' for v in result['per_seed'])}{_settled_note(result)}; "
        f"range {lo:g}-{hi:g}; "
        f"capacity m = {result['latent_dim']}; {result['seconds']:.0f} s]"
    )
    if method == "vae":
        shares = sorted(result["local_dimension"].items(), key=lambda kv: int(kv[0]))
        total = sum(rows for _, rows in shares)
        click.echo(
            f"latent units in use (posterior variance): {', '.join(map(str, result['latent_counts']))}; "
            "local dimension per point: "
            + ", ".join(f"{v}: {100 * rows / total:.0f}%" for v, rows in shares if rows / total >= 0.01)
            + _contrast_text(result["gap_contrast"])
        )
    noise = sum(result.get("read_as_noise", []))
    if noise:
        shares = ", ".join(f"{r:.2f}" for r in result["residual_share"])
        click.echo(
            f"note: {noise} of {len(result['per_seed'])} seeds left at least half of the data's variance "
            f"unexplained (residual share {shares}): they found no structure below the noise and read "
            f"D = {estimator.rank_}; a VAE that stayed at its prior can do this on low-dimensional data "
            "too (docs/estimate.md): read it beside the classical band"
        )
    if result["saturated"]:
        click.echo(
            f"note: the model kept (almost) every dim at the full capacity m = {result['latent_dim']}: "
            "read the estimate as an upper bound"
        )
    if baselines:
        band = ", ".join(f"{k} {v['dimension']:.2f}" for k, v in baselines.items())
        rows = max(v["rows"] for v in baselines.values())
        read = f" (on {rows} random rows)" if rows < x.shape[0] else ""
        click.echo(f"classical band{read}: {band}")
    if verbose:
        click.echo(_timings_text(result["timings"], baselines))


def _timings_text(timings: dict, baselines: dict) -> str:
    """Where a fit's time went (``timings_`` of the estimator, the band's seconds), one
    line: set-up, per capacity its wall time, each stack's training and the readings,
    the band, the end."""
    parts = [f"set-up {timings['setup']:.1f} s", f"workers {timings['workers']:.1f} s"]
    for m, t in timings["capacities"].items():
        stacks = ", ".join(f"{s:.1f}" for s in t["train"])
        parts.append(f"m = {m} {t['wall']:.1f} s (training per stack {stacks} s; readings {t['read']:.1f} s)")
    if baselines:
        each = ", ".join(f"{k} {v['seconds']:.1f}" for k, v in baselines.items())
        parts.append(f"band {sum(v['seconds'] for v in baselines.values()):.1f} s ({each})")
    parts.append(f"model and per-row readings {timings['finish']:.1f} s")
    return "time: " + "; ".join(parts) + f"; fit {timings['total']:.1f} s"
