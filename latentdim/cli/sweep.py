"""``latentdim sweep`` and ``report``: a study's cells, resumable, and their report."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from latentdim.cli.common import (
    DEVICE_OPTION,
    QUIET_OPTION,
    _interruptible,
    cli,
)
from latentdim.config import (
    EXECUTOR_NAMES,
)
from latentdim.errors import LatentdimError
from latentdim.progress import duration, show_progress


def _default_study() -> Path:
    """``studies/default.toml`` in the working directory, else in the source tree."""
    from latentdim.studies import studies_dir

    candidate = studies_dir() / "default.toml"
    if not candidate.is_file():
        raise LatentdimError(f"no {candidate}; give a STUDY file")
    return candidate


def _cell_line(record: dict) -> str:
    where = f"{record['dataset']} {record['model']} m={record['latent_dim']} seed#{record['replicate']}"
    seconds = record["timings"].get("wall_seconds", float("nan"))
    if record["status"] != "ok":
        return f"failed {where}: {record['error']['type']}: {record['error']['message']} ({seconds:.1f} s)"
    m = record["metrics"]
    nac = "n/a" if m["nac"] is None else f"{m['nac']:.3f}"
    recall = f"recall {m['recall']:.3f}, " if m.get("recall") is not None else ""
    return (
        f"ok     {where}: scaled FID {m['scaled_fid']:.4f}, {recall}active {m['active_dims']}, "
        f"NAC {nac} ({seconds:.1f} s)"
    )


@cli.command()
@click.argument("study_file", metavar="[STUDY]", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(file_okay=False), help="Output folder [runs/NAME].")
@click.option("-j", "--jobs", type=int, help="Local worker processes, one torch thread each [cores].")
@click.option("--executor", type=click.Choice(EXECUTOR_NAMES), default="local", show_default=True)
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Dask scheduler address (--executor dask).")
@click.option("--seeds", type=int, help="Replicates per (dataset, model, m) [the study's].")
@click.option(
    "--stack",
    default="auto",
    show_default=True,
    help="Most cells trained as one stacked model; auto: cells of one shape together; 1: one at a time.",
)
@DEVICE_OPTION
@click.option("--retry-failed", is_flag=True, help="Re-run cells recorded as failed.")
@click.option(
    "--reuse",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Another sweep folder: copy the cells it finished (same id) instead of training them. Repeatable.",
)
@click.option("--no-report", is_flag=True, help="Do not write the report and comparison afterwards.")
@click.option(
    "--update-reference",
    is_flag=True,
    help="Write into the study's committed reference folder (beside STUDY) instead of runs/NAME.",
)
@click.option("--list", "list_only", is_flag=True, help="List the studies available here and exit.")
@click.option("-v", "--verbose", is_flag=True, help="Log each finished cell on stderr.")
@QUIET_OPTION
def sweep(
    study_file,
    out,
    jobs,
    executor,
    scheduler,
    seeds,
    stack,
    device,
    retry_failed,
    reuse,
    no_report,
    update_reference,
    list_only,
    verbose,
    quiet,
):
    """Run a study (default: studies/default.toml) into runs/NAME, report it, and print
    it beside the study's reference outcome. Resumable: finished cells in
    OUT/records.jsonl are skipped."""
    import dataclasses

    from latentdim.studies import default_out, load_study
    from latentdim.studies.records import RECORDS, RecordStore
    from latentdim.studies.sweep import sweep as run_sweep

    if list_only:
        click.echo(_study_listing())
        return
    if stack != "auto":
        try:
            stack = int(stack)
        except ValueError:
            raise LatentdimError(f"--stack must be auto or an integer >= 1, got {stack!r}") from None
    path = Path(study_file) if study_file else _default_study()
    study = load_study(path)
    if seeds is not None:
        if seeds < 1:
            raise LatentdimError(f"--seeds must be >= 1, got {seeds}")
        study = dataclasses.replace(study, seeds=seeds)
    reference = study.reference_dir
    if update_reference:
        if out is not None and Path(out).resolve() != reference.resolve():
            raise LatentdimError(f"--update-reference writes {reference}; leave out -o")
        out = reference
    else:
        out = Path(out) if out else default_out(study)
    bar = None  # the progress display (a bar on a terminal, lines elsewhere)
    ran = 0

    def on_start(todo: int, total: int) -> None:
        nonlocal bar
        if verbose or todo < total:
            done = total - todo
            click.echo(f"sweep {study.name}: {total} cells, {done} already recorded in {out}", err=True)
        bar = show_progress(f"sweep {study.name}", todo, "cells", quiet)

    def on_record(record: dict) -> None:
        nonlocal ran
        ran += 1
        if verbose:
            click.echo(("\n" if sys.stderr.isatty() and bar else "") + _cell_line(record), err=True)
        if bar:
            bar.update(ran, _last_cell(record))

    def stopped(signum: int) -> str:
        nonlocal bar
        if bar:
            bar.close()
            bar = None
        # the executor has stopped its workers; every finished cell is on disk
        recorded = len(RecordStore(out / RECORDS).load(repair=False)) if (out / RECORDS).exists() else 0
        return (
            f"sweep interrupted ({signal.Signals(signum).name}); {recorded} cells are recorded in {out}: "
            "run the same command to resume"
        )

    try:
        with _interruptible(stopped):
            summary = run_sweep(
                study,
                out,
                executor=executor,
                jobs=jobs,
                scheduler=scheduler,
                retry_failed=retry_failed,
                on_start=on_start,
                on_record=on_record,
                command=["latentdim", *sys.argv[1:]],
                update_reference=update_reference,
                stack=stack,
                device=device,
                reuse=reuse,
            )
    finally:
        if bar:
            bar.close()
    retry = " (--retry-failed re-runs them)" if summary.failed else ""
    reused = f" (reused {summary.reused} from {', '.join(reuse)})" if summary.reused else ""
    click.echo(
        f"sweep {study.name}{reused}: ran {summary.ran} of {summary.cells} cells: {summary.ok} ok, "
        f"{summary.failed} failed{retry}; {summary.wall_seconds:.0f} s, "
        f"{summary.samples_per_second:.0f} training samples/s",
        err=True,
    )
    if no_report:
        return
    _report(out)
    if not update_reference and (reference / RECORDS).is_file():
        try:
            _against(out, reference)
        except LatentdimError as exc:
            click.echo(f"latentdim: note: not compared with the reference: {exc}", err=True)


def _last_cell(record: dict) -> str:
    where = f"last {record['model']} m={record['latent_dim']}"
    if record["status"] != "ok":
        return f"{where} failed"
    return f"{where} scaled FID {record['metrics']['scaled_fid']:.4f}"


def _study_listing() -> str:
    from latentdim.studies import list_studies, studies_dir

    listings = list_studies()
    lines = [f"studies in {studies_dir()} (run one with `latentdim sweep studies/NAME.toml`):"]
    width = max([len(s.name) for s in listings] + [5])
    lines.append(f"  {'study':{width}s}  {'cells':>5s}  {'reference run':>22s}  description")
    for s in listings:
        if s.reference_cells:
            wall = "wall n/a" if s.reference_wall_seconds is None else duration(s.reference_wall_seconds)
            ref = f"{s.reference_cells} cells, {wall}"
        else:
            ref = "none"
        first = " ".join(s.description.split()).split(". ")[0].rstrip(".")
        lines.append(f"  {s.name:{width}s}  {s.cells:5d}  {ref:>22s}  {first}")
    return "\n".join(lines)


@cli.command("report")
@click.argument("out", type=click.Path(file_okay=False))
@click.option(
    "--against",
    type=click.Path(file_okay=False),
    help="A reference sweep folder (e.g. studies/default) to print OUT beside.",
)
def report_command(out, against):
    """Write Fig 2, Fig 5, Table 2 and the optimal m of the sweep in OUT; with
    --against, print OUT's findings beside the reference's and whether they agree."""
    if against is not None:
        from latentdim.studies.compare import compare_folders

        compare_folders(out, against)  # fail before writing anything
    _report(Path(out))
    if against is not None:
        _against(Path(out), Path(against))


def _report(out: Path) -> None:
    from latentdim.report import report

    result = report(out)
    click.echo(result.optima_text())
    click.echo(f"report: {out / 'REPORT.md'} ({len(result.files)} files)")


def _against(out: Path, reference: Path) -> None:
    from latentdim.studies.compare import compare_folders

    comparison = compare_folders(out, reference)
    click.echo(comparison.text(yours=f"your run {out}", reference=f"the reference {reference}"))
