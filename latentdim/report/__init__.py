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

from latentdim.report.figures import (
    COLUMNS,
    LOG_FAMILIES,
    _by_dataset,
    _by_n,
    _draw,
    _errorbars,
    _m_ticks,
    _metric_panel,
    _panel_grid,
    _save,
    budget_rows,
    families,
    figure2,
    figure5,
    figure6,
    figure7,
    figure_budget,
    latent_count,
    local_dimension_figure,
)
from latentdim.report.folder import (
    Report,
    _is_sweep_entry,
    _optional_table,
    _report_md,
    report,
    study_claims,
)
from latentdim.report.tables import (
    BOOTSTRAP,
    SUMMARY_KEYS,
    Group,
    Optimum,
    _csv,
    _dataset_key,
    _fmt,
    _markdown,
    _true_n,
    _write_text,
    fig5_check,
    groups,
    optima_per_metric,
    optimal_m,
    summary_rows,
    table1,
    table2,
)

__all__ = [
    "BOOTSTRAP",
    "COLUMNS",
    "LOG_FAMILIES",
    "SUMMARY_KEYS",
    "Group",
    "Optimum",
    "Report",
    "_by_dataset",
    "_by_n",
    "_csv",
    "_dataset_key",
    "_draw",
    "_errorbars",
    "_fmt",
    "_is_sweep_entry",
    "_m_ticks",
    "_markdown",
    "_metric_panel",
    "_optional_table",
    "_panel_grid",
    "_report_md",
    "_save",
    "_true_n",
    "_write_text",
    "budget_rows",
    "families",
    "fig5_check",
    "figure2",
    "figure5",
    "figure6",
    "figure7",
    "figure_budget",
    "groups",
    "latent_count",
    "local_dimension_figure",
    "optima_per_metric",
    "optimal_m",
    "report",
    "study_claims",
    "summary_rows",
    "table1",
    "table2",
]
