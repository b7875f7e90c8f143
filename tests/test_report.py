"""Report maths on hand-made records: argmin with bootstrap interval, Table 2 rows."""

import numpy as np

from latentdim.report import groups, optimal_m, table2


def record(model, m, replicate, fid, nac=0.1, active=None, mask=None):
    return {
        "dataset": "toy",
        "n": 4,
        "model": model,
        "latent_dim": m,
        "replicate": replicate,
        "metrics": {
            "scaled_fid": fid,
            "nac": nac,
            "active_dims": m if active is None else active,
            "mask": mask,
            "fid": fid,
            "recon_mse": 0.0,
        },
    }


def test_optimal_m_is_the_argmin_of_the_mean_with_a_bootstrap_interval():
    # U-shaped in m with its minimum at m = 4 for every seed: a tight interval
    records = [record("wae", m, r, (m - 4) ** 2 + 1 + 0.01 * r) for m in (2, 4, 8) for r in range(5)]
    (opt,) = optimal_m(records)
    assert (opt.m, opt.low, opt.high, opt.seeds) == (4, 4, 4, 5)
    # seeds disagree: argmin m = 2 for seeds 0 and 1, m = 8 for seed 2 (resampled
    # three times with probability 1/27 > 2.5 %), so the interval spans 2..8
    by_m = {2: [1, 1, 3], 4: [2, 2, 2], 8: [3, 3, 1]}
    noisy = [record("wae", m, r, fids[r]) for m, fids in by_m.items() for r in range(3)]
    (opt,) = optimal_m(noisy)
    assert (opt.m, opt.low, opt.high) == (2, 2, 8)


def test_optimal_m_ignores_missing_cells():
    records = [record("wae", m, 0, fid) for m, fid in ((2, 3.0), (4, 1.0), (8, 2.0))]
    records += [record("wae", m, 1, fid) for m, fid in ((2, 3.0), (8, 2.0))]  # m = 4 failed on seed 1
    (opt,) = optimal_m(records)
    assert opt.m == 4 and opt.low in (4, 8) and opt.high in (4, 8)


def test_table2_has_a_row_per_capacity_above_n_with_both_models():
    mask = [1.0, 0.0]
    records = [record("wae", m, r, 1.0, nac=0.04 + 0.01 * r) for m in (2, 8, 16) for r in range(2)]
    records += [
        record("maskaae", m, r, 1.0, nac=0.03, active=5 + r, mask=mask) for m in (8, 16) for r in range(2)
    ]
    numeric, header, rows = table2(groups(records))
    assert header == ["data", "n", "capacity m", "wae NAC", "maskaae active dims", "maskaae NAC"]
    assert [r["m"] for r in numeric] == [8, 16]
    np.testing.assert_allclose(numeric[0]["wae_nac"], 0.045)
    np.testing.assert_allclose(numeric[0]["maskaae_active_dims"], 5.5)
    assert rows[0] == ["toy", "4", "8", "0.045 ± 0.007", "5.5 ± 0.7", "0.030 ± 0.000"]


def test_optima_per_metric_take_each_metrics_direction_primary_first():
    from latentdim.metrics import PRIMARY_METRIC
    from latentdim.report import optima_per_metric

    records = []
    for m in (2, 4, 8):
        for r in range(3):
            rec = record("wae", m, r, fid=(m - 4) ** 2 + 1.0)
            rec["metrics"].update(energy=abs(m - 8) + 0.1 * r, recall=-abs(m - 2) + 0.01 * r)
            records.append(rec)
    optima = optima_per_metric(records)
    assert optima[0].metric == PRIMARY_METRIC
    found = {o.metric: o.m for o in optima}
    assert found == {"energy": 8, "scaled_fid": 4, "recall": 2}  # recall: the argmax


def test_report_draws_a_panel_per_metric_family(tmp_path):
    import json

    from latentdim.report import families, report

    records = []
    for m in (2, 4, 8):
        for r in range(2):
            rec = record("wae", m, r, fid=1.0 / m)
            rec.update(id=f"{m}-{r}", status="ok")
            rec["metrics"].update(energy=0.01 * m, precision=0.9, recall=0.1 * m, manifold_error=0.1)
            records.append(rec)
    assert [f for f, _ in families(groups(records))] == [
        "scaled FID",
        "energy",
        "precision / recall",
        "manifold error",
    ]
    (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    result = report(tmp_path)
    assert (tmp_path / "fig2.png").stat().st_size > 0
    header = (tmp_path / "summary.csv").read_text().splitlines()[0]
    assert "energy_mean" in header and "latent_recovery_mean" in header
    rows = (tmp_path / "optimal_m.csv").read_text().splitlines()
    assert rows[0] == "dataset,n,model,metric,optimal_m,ci_low,ci_high,seeds"
    assert rows[1].startswith("toy,4,wae,recall,8,")  # the primary first, argmax
    assert rows[2].startswith("toy,4,wae,scaled_fid,8,") and rows[3].startswith("toy,4,wae,energy,2,")
    assert "argmax of mean recall (primary)" in result.optima_text()


def test_budget_rows_and_figure_when_a_model_ran_at_several_budgets(tmp_path):
    from latentdim.report import budget_rows, figure_budget

    records = []
    for steps, actives in ((3000, [8, 8, 9]), (12000, [7, 6, 7])):
        for r, active in enumerate(actives):
            mask = [1.0] * active + [0.0] * (16 - active)
            rec = record("maskaae", 16, r, fid=0.1, active=active, mask=mask)
            rec["cell"] = {"model_config": {"model": "maskaae"}, "train": {"steps": steps}}
            records.append(rec)
    rows = budget_rows(records)
    found = [(r["steps"], r["active_dims"], r["seeds"]) for r in rows]
    assert found == [(3000, "8 8 9", 3), (12000, "7 6 7", 3)]
    np.testing.assert_allclose(rows[1]["active_dims_mean"], 20 / 3)
    assert budget_rows(records[:3]) == []  # one budget: nothing to show
    files = figure_budget(rows, tmp_path / "budget")
    assert [f.name for f in files] == ["budget.png", "budget.pdf"] and files[0].stat().st_size > 0


def test_fig7_draws_the_codes_correlation_of_each_run(tmp_path):
    from click.testing import CliRunner

    from latentdim import make_dataset
    from latentdim.cli import cli

    make_dataset(2, 8, samples=600, seed=0).save(tmp_path / "d.npz")
    common = [
        "--steps",
        "30",
        "--batch-size",
        "32",
        "--hidden",
        "16",
        "--critic-hidden",
        "8",
        "--eval-samples",
        "60",
    ]
    for model in ("wae-mmd", "maskaae"):
        args = [
            "train",
            str(tmp_path / "d.npz"),
            "--model",
            model,
            "-m",
            "3",
            *common,
            "-o",
            str(tmp_path / model),
        ]
        assert CliRunner().invoke(cli, args).exit_code == 0
    runs = [str(tmp_path / "wae-mmd"), str(tmp_path / "maskaae")]
    result = CliRunner().invoke(
        cli, ["codes", *runs, "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "fig7.png")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fig7.png").stat().st_size > 0 and (tmp_path / "fig7.pdf").exists()
    wrong = CliRunner().invoke(cli, ["codes", *runs, "--sklearn", "digits", "-o", str(tmp_path / "x.png")])
    assert wrong.exit_code == 2 and "trained on 8 columns, the data has 64" in wrong.output


def test_budget_rows_read_the_mask_or_the_posterior_variances():
    from latentdim.report import budget_rows, latent_count

    def record(model, steps, metrics):
        cell = {"model_config": {"model": model}, "train": {"steps": steps}}
        return {"dataset": "n8", "n": 8, "model": model, "latent_dim": 16, "cell": cell, "metrics": metrics}

    records = [
        record("maskaae", 3000, {"mask": [1.0] * 8 + [0.0] * 8, "active_dims": 8}),
        record("maskaae", 12000, {"mask": [1.0] * 7 + [0.0] * 9, "active_dims": 7}),
        record("vae", 3000, {"mask": None, "active_dims": 16, "posterior_dims": 12}),
        record("vae", 12000, {"mask": None, "active_dims": 13, "posterior_dims": 9}),
        record("wae-mmd", 3000, {"mask": None, "active_dims": 16}),
    ]
    assert latent_count(records[2]["metrics"]) == ("posterior variances", 12)
    assert latent_count(records[4]["metrics"]) is None
    rows = budget_rows(records)
    assert [(r["model"], r["reading"], r["steps"], r["active_dims"]) for r in rows] == [
        ("maskaae", "mask", 3000, "8"),
        ("maskaae", "mask", 12000, "7"),
        ("vae", "posterior variances", 3000, "12"),
        ("vae", "posterior variances", 12000, "9"),
    ]


def test_fig5_check_compares_each_masked_capacity_with_the_plain_model_at_n():
    from latentdim.report import fig5_check

    def with_recall(r, value):
        r["metrics"]["recall"] = value
        return r

    mask = [1.0, 0.0]
    # the plain model at m = n = 4: recall 0.80 and 0.82; masked: m = 4 clearly worse
    # (0.60, 0.62), m = 8 level with it, m = 2 < n not compared; a lower plain m ignored
    records = [with_recall(record("wae", 4, r, 1.0), 0.80 + 0.02 * r) for r in range(2)]
    records += [with_recall(record("wae", 2, r, 1.0), 0.1) for r in range(2)]
    masked = {2: (0.1, 0.1), 4: (0.60, 0.62), 8: (0.80, 0.83)}
    fids = {2: 9.0, 4: 2.0, 8: 0.5}  # against the plain model's 1.0 at m = n
    records += [
        with_recall(record("maskaae", m, r, fids[m], mask=mask), masked[m][r])
        for m in masked
        for r in range(2)
    ]
    numeric, header, rows = fig5_check(groups(records))
    assert [(r["m"], r["plain"], r["verdict"]) for r in numeric] == [
        (4, "wae", "worse"),
        (8, "wae", "no worse"),
    ]
    np.testing.assert_allclose([r["difference"] for r in numeric], [-0.20, 0.005])
    assert numeric[0]["ci_high"] < 0 < numeric[1]["ci_high"]
    assert rows[1][-2].startswith("+0.005 [") and header[-1] == "verdict"
    # lower is better for scaled FID: a masked model with a smaller FID is favoured
    numeric, _, _ = fig5_check(groups(records), metric="scaled_fid")
    assert [(r["difference"], r["verdict"]) for r in numeric] == [(-1.0, "worse"), (0.5, "no worse")]
