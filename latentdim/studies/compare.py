"""Your run beside a reference: do two sweeps of one study agree within the seed spread?

:func:`compare` lines up the cells two sweeps have in common (same dataset, model and
m, and the same data, model and training config; seeds may differ in number) and
reads, on both sides, what the slides claim:

* the **optimal m** of each model without a mask, by the primary metric and by scaled
  FID (argmin of the mean, with its 95 % bootstrap interval over seeds,
  :func:`latentdim.report.optimal_m`), where both sides recorded that metric: the two
  agree when their intervals overlap;
* the **active dims** of each masked model at every m;
* the **NAC rows** of Table 2: every model at every m > n.

For the last two, yours and the reference agree when

    |mean_yours - mean_reference| <= 2 s sqrt(1/k_yours + 1/k_reference),

k the seeds on each side and s the seed standard deviation pooled over every cell of
that dataset, model and quantity on both sides (the within-cell variance, k - 1
degrees of freedom per cell). Pooling matters: three seeds give a poor sd for one cell,
and a count that happened to agree on three seeds would otherwise tolerate nothing.
When no cell has two seeds the spread is unknown, and a row agrees only if the values
are identical. With equivalent runs about 5 % of rows fall outside by chance.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentdim.errors import LatentdimError
from latentdim.files import config_hash
from latentdim.metrics import GENERATION_METRICS, PRIMARY_METRIC
from latentdim.report import groups, optimal_m
from latentdim.studies.claims import pooled_sd
from latentdim.studies.records import RECORDS, RecordStore

Z = 2.0  # half-width of the agreement band, in standard errors of the difference


@dataclass(frozen=True)
class Row:
    """One compared quantity: formatted values and the verdict (None: cannot judge)."""

    section: str
    label: str
    yours: str
    reference: str
    agree: bool | None


@dataclass
class Comparison:
    rows: list[Row]
    seeds_yours: int
    seeds_reference: int
    not_compared: list[str] = field(default_factory=list)

    @property
    def agreed(self) -> int:
        return sum(r.agree is True for r in self.rows)

    @property
    def judged(self) -> int:
        return sum(r.agree is not None for r in self.rows)

    def text(self, yours: str = "yours", reference: str = "reference") -> str:
        """A table, one section per quantity, and a one-line verdict."""
        lines = [
            f"{yours} ({self.seeds_yours} seed{'s' * (self.seeds_yours != 1)}) against "
            f"{reference} ({self.seeds_reference} seed{'s' * (self.seeds_reference != 1)}); "
            f"agree: within {Z:g} x the pooled seed sd x sqrt(1/k + 1/k_ref), or overlapping intervals"
        ]
        width = max([len(r.label) for r in self.rows] + [10])
        section = None
        for row in self.rows:
            if row.section != section:
                section = row.section
                lines.append(f"{section}:")
                lines.append(f"  {'':{width}s}  {'yours':>16s}  {'reference':>16s}  agree")
            verdict = {True: "yes", False: "NO", None: "n/a"}[row.agree]
            lines.append(f"  {row.label:{width}s}  {row.yours:>16s}  {row.reference:>16s}  {verdict}")
        if self.not_compared:
            skipped = ", ".join(self.not_compared)
            lines.append(f"not compared (in one run only, or a different config): {skipped}")
        lines.append(
            f"{self.agreed} of {self.judged} rows agree within the seed spread"
            + (f"; {len(self.rows) - self.judged} cannot be judged" if self.judged < len(self.rows) else "")
        )
        return "\n".join(lines)


def _setup(record: dict) -> str:
    """Hash of what a cell computed, seed and replicate aside."""
    cell = record.get("cell", {})
    return config_hash({k: v for k, v in cell.items() if k not in ("replicate", "seed", "threads")})


def _key(record: dict) -> tuple:
    return record["dataset"], record["model"], record["latent_dim"]


def common_records(yours: list[dict], reference: list[dict]) -> tuple[list[dict], list[dict], list[str]]:
    """The ok records of the (dataset, model, m) cells both sides ran with the same
    config, and a label for every cell that is not compared."""
    setups: list[dict[tuple, set[str]]] = [defaultdict(set), defaultdict(set)]
    for side, records in zip(setups, (yours, reference), strict=True):
        for r in records:
            side[_key(r)].add(_setup(r))
    keys = set(setups[0]) | set(setups[1])
    shared = {k: setups[0][k] & setups[1][k] for k in keys}
    missing = defaultdict(list)
    for (dataset, model, m), s in sorted(shared.items()):
        if not s:
            missing[dataset, model].append(str(m))
    skipped = [f"{d} {model} m={','.join(ms)}" for (d, model), ms in missing.items()]

    def keep(records):
        return [r for r in records if _setup(r) in shared[_key(r)]]

    return keep(yours), keep(reference), skipped


def _mean_row(section: str, label: str, mine: list[float], ref: list[float], sd: float | None, digits: int):
    def fmt(values):
        v = np.asarray(values, dtype=float)
        text = f"{v.mean():.{digits}f}"
        return text + (f" ± {v.std(ddof=1):.{digits}f}" if v.size > 1 else "")

    gap = abs(float(np.mean(mine)) - float(np.mean(ref)))
    if sd is None:
        agree = True if gap == 0 else None
    else:
        agree = gap <= Z * sd * math.sqrt(1 / len(mine) + 1 / len(ref)) + 1e-12
    return Row(section, label, fmt(mine), fmt(ref), agree)


def compare(yours: list[dict], reference: list[dict]) -> Comparison:
    """Line up two sweeps' ok records (see the module docstring for the rule)."""
    yours = [r for r in yours if r.get("status", "ok") == "ok"]
    reference = [r for r in reference if r.get("status", "ok") == "ok"]
    mine, ref, skipped = common_records(yours, reference)
    rows: list[Row] = []
    if not mine:
        return Comparison(rows, 0, 0, skipped)
    ref_groups = {(g.dataset, g.model, g.m): g for g in groups(ref)}
    my_groups = {(g.dataset, g.model, g.m): g for g in groups(mine)}
    order = list(my_groups)  # groups() orders by dataset's n, then model and m

    masked = {key[1] for key, g in my_groups.items() if g.masked}
    for metric in dict.fromkeys((PRIMARY_METRIC, "scaled_fid")):
        ref_optima = {(o.dataset, o.model): o for o in optimal_m(ref, metric)}
        for o in optimal_m(mine, metric):
            r = ref_optima.get((o.dataset, o.model))
            if o.model in masked or r is None:
                continue  # a masked model's optimum says little; or the reference lacks the metric
            overlap = max(o.low, r.low) <= min(o.high, r.high)
            rows.append(
                Row(
                    f"optimal m by {GENERATION_METRICS[metric][1]} (95 % bootstrap interval)",
                    f"{o.dataset} (n = {o.n}) {o.model}",
                    f"{o.m} [{o.low}, {o.high}]",
                    f"{r.m} [{r.low}, {r.high}]",
                    overlap,
                )
            )

    def values(g, metric):
        return [float(v) for v in g.values(metric) if math.isfinite(v)]

    def pooled(dataset, model, metric):
        cells = [g for side in (my_groups, ref_groups) for k, g in side.items() if k[:2] == (dataset, model)]
        return pooled_sd(*(values(g, metric) for g in cells))

    for metric, section, digits, wanted in (
        ("active_dims", "active dims of the masked models", 1, lambda g: g.masked),
        ("nac", "NAC at m > n (Table 2)", 3, lambda g: g.n is None or g.m > g.n),
    ):
        sds = {}
        for key in order:
            g = my_groups[key]
            if not wanted(g):
                continue
            a, b = values(g, metric), values(ref_groups[key], metric)
            if not a or not b:
                continue
            if key[:2] not in sds:
                sds[key[:2]] = pooled(key[0], key[1], metric)
            rows.append(_mean_row(section, f"{g.dataset} {g.model} m={g.m}", a, b, sds[key[:2]], digits))
    seeds = [max(len(g.records) for g in side.values()) for side in (my_groups, ref_groups)]
    return Comparison(rows, seeds[0], seeds[1], skipped)


def compare_folders(run: str | os.PathLike, reference: str | os.PathLike) -> Comparison:
    """:func:`compare` on the records of two sweep folders (read only)."""
    sides = []
    for folder in (Path(run), Path(reference)):
        if not (folder / RECORDS).is_file():
            raise LatentdimError(f"{folder} has no {RECORDS}: not a sweep folder")
        sides.append(list(RecordStore(folder / RECORDS).load(repair=False).values()))
    result = compare(*sides)
    if not result.rows:
        raise LatentdimError(f"{run} and {reference} have no finished cells of the same study and config")
    return result
