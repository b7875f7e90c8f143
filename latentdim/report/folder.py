"""``latentdim report``: every figure and table of a sweep folder, and its REPORT.md."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from latentdim.errors import LatentdimError
from latentdim.files import json_lines
from latentdim.metrics import GENERATION_METRICS, PRIMARY_METRIC
from latentdim.metrics.floors import FLOOR, fid_floors, floor_lines
from latentdim.report.figures import (
    budget_rows,
    figure2,
    figure5,
    figure6,
    figure_budget,
)
from latentdim.report.tables import (
    Optimum,
    _csv,
    _markdown,
    _true_n,
    _write_text,
    fig5_check,
    groups,
    optima_per_metric,
    summary_rows,
    table1,
    table2,
)
from latentdim.studies.claims import claims_markdown, judge, parse_claims
from latentdim.studies.records import RECORDS, RecordStore
from latentdim.studies.sweep import SWEEPS


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
    claims = sweeps[-1]["study"].get("claims") or []
    kept: list[dict] = []
    for claim in claims if isinstance(claims, list) else []:
        try:
            kept += parse_claims([claim], str(out / SWEEPS))
        except LatentdimError:
            continue  # written by other code (a value claim without 'within'): left out, the rest kept
    return tuple(kept)


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
            stopped = " (stopped early)" if s.get("stopped") else ""
            lines.append(
                f"{command}   # {s['started']}: {reused}ran {summary['ran']} of {summary['cells']} cells "
                f"in {summary['wall_seconds']:.0f} s, {summary['samples_per_second']:.0f} training samples/s"
                f"{stopped}"
            )
        lines += [f"latentdim report {out}", "```", ""]
    lines += [f"{result.ok} finished cells, {len(result.failed)} failed.", ""]
    if (out / "claims.md").exists():
        lines += ["## Claims and verdicts", "", "Each claim the study checks, judged on the seeds "
                  "(latentdim.studies.claims: a 95 % two-sample t-test per pair, "
                  "a 95 % t interval per value).", ""]
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
