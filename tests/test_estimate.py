"""Intrinsic-dimension estimation: the sklearn estimator, the classical band, the CLI."""

import itertools
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.utils.estimator_checks import check_estimator

from latentdim import MaskAAEDimension, VAEDimension, make_dataset
from latentdim.cli import cli
from latentdim.errors import LatentdimError
from latentdim.estimate import (
    _lpca_pointwise,
    _Reading,
    _settled,
    band_share,
    classical_band,
    merge_band,
    principal_basis,
    standardise,
)

FAST = {"steps": 20, "seeds": 1, "hidden": (8,), "critic_hidden": (8,)}


def test_standardise_drops_constant_columns_and_scales_the_rest():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(5, 3, 200), np.full(200, 7.0), rng.normal(-1, 0.01, 200)])
    xs, kept = standardise(x)
    assert kept.tolist() == [0, 2]
    np.testing.assert_allclose(xs.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(xs.std(axis=0), 1, rtol=1e-5)


def test_principal_basis_spans_the_rows_and_is_none_at_full_rank():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 7))  # rank 3 in R^7
    z = (z - z.mean(axis=0)).astype(np.float32)  # float32 rounding leaves ~1e-8 of the top
    basis = principal_basis(z)
    assert basis.shape == (7, 3)
    np.testing.assert_allclose(basis.T @ basis, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(z @ basis @ basis.T, z, atol=1e-5)  # the rows lie in the span
    variances = (z @ basis).var(axis=0)
    assert np.all(np.diff(variances) <= 0)  # largest first
    full = rng.normal(size=(300, 7))
    full[:, 6] *= 1e-3  # small but real: kept
    assert principal_basis(full - full.mean(axis=0)) is None


@pytest.mark.parametrize(
    "estimator",
    [MaskAAEDimension(**FAST), VAEDimension(steps=20, seeds=1, hidden=(8,))],
    ids=["maskaae", "vae"],
)
def test_passes_sklearn_check_estimator(estimator):
    # every applicable check; check_array_api_input skips itself unless SCIPY_ARRAY_API=1
    failures = [
        (r["check_name"], r["exception"])
        for r in check_estimator(estimator, on_fail=None)
        if r["status"] == "failed"
    ]
    assert failures == []


def test_the_vae_reads_the_units_below_the_gap_in_their_posterior_variances():
    # n = 2 data in R^8, capacity 6: a learned-variance VAE uses few of its units
    x = make_dataset(2, 8, samples=2000, seed=0).x
    est = VAEDimension(latent_dim=6, steps=1500, seeds=2, hidden=(32, 32)).fit(x)
    assert est.latent_dim_ == 6 and not est.saturated_
    assert all(2 <= c <= 3 for c in est.per_seed_), est.per_seed_
    variances = np.sort(est.posterior_variances_)
    k = int(est.dimension_)
    assert variances[k - 1] * 10 < variances[k]  # the gap the count reads
    assert est.result()["method"] == "vae" and len(est.result()["posterior_variances"]) == 6
    assert est.model_.config.likelihood == "learned" and est.model_.config.latent_dim == 6
    assert est.model_.config.kl_warmup == 0.005


def test_the_vae_estimate_is_the_median_local_dimension_and_reads_any_rows():
    x = make_dataset(2, 8, samples=1500, seed=0).x
    est = VAEDimension(latent_dim=4, steps=1000, seeds=3, hidden=(32, 32)).fit(x)
    local = est.local_dimension_
    assert local.shape == (1500,) and local.dtype == np.int64 and local.min() >= 1
    assert local.max() <= est.latent_dim_
    # the picked seed's median over the rows is the estimate (the median of the seeds')
    assert np.median(local[:5000]) == est.dimension_ == np.median(est.per_seed_)
    assert len(est.latent_counts_) == 3
    np.testing.assert_array_equal(est.local_dimension(x[:10]), local[:10])
    histogram = est.result()["local_dimension"]
    assert sum(histogram.values()) == 1500 and set(map(int, histogram)) == set(np.unique(local))
    contrast = est.gap_contrast_
    assert contrast.shape == (1500,) and (contrast >= 1).all()
    np.testing.assert_array_equal(est.gap_contrast(x[:10]), contrast[:10])
    assert est.result()["gap_contrast"] == np.median(contrast)
    with pytest.raises(ValueError, match="8 features"):
        est.local_dimension(x[:, :5])


def test_a_vae_that_leaves_half_the_variance_read_the_data_as_noise_and_reads_d():
    # an isotropic Gaussian in R^6 has no structure below its spread: the learned-gamma
    # VAE explains it as noise (gamma ~ 1), and the estimate is D, at every row
    x = np.random.default_rng(0).normal(size=(1000, 6))
    est = VAEDimension(steps=300, seeds=2).fit(x)
    assert all(r >= 0.5 for r in est.residuals_), est.residuals_
    assert est.dimension_ == 6 and est.per_seed_ == [6.0, 6.0]
    assert est.local_dimension_.tolist() == [6] * 1000
    assert np.isnan(est.gap_contrast_).all() and est.result()["gap_contrast"] is None
    assert est.result()["residual_share"] == est.residuals_
    assert est.result()["read_as_noise"] == [True, True]
    structured = VAEDimension(latent_dim=4, steps=600, seeds=1).fit(make_dataset(2, 8, samples=1000).x)
    assert structured.residuals_[0] < 0.05 and structured.dimension_ < 4
    assert est.rank_ == 6 and structured.rank_ == 8  # full rank: trained on the columns
    assert structured.result()["read_as_noise"] == [False]


def test_the_cli_says_when_the_noise_rule_read_d(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(500, 6)))
    args = ["estimate", str(tmp_path / "x.npy"), "--steps", "100", "--seeds", "2", "-j", "1"]
    result = CliRunner().invoke(cli, [*args, "--no-baselines"])
    assert result.exit_code == 0, result.output
    assert "note: 2 of 2 seeds left at least half of the data's variance unexplained" in result.stdout
    assert "read D = 6" in result.stdout


def test_the_vae_trains_on_the_span_of_the_rows_and_reads_its_rank_as_d():
    # the same Gaussian noise, each column written twice: 6 columns spanning 3 dims. The
    # VAE sees the 3 coordinates of the span (rank_), so the noise rule reads 3, not 6
    g = np.random.default_rng(0).normal(size=(1000, 3))
    x = np.hstack([g, 2.0 * g])
    est = VAEDimension(steps=300, seeds=1).fit(x)
    assert est.rank_ == 3 and est.model_.config.data_dim == 3 and len(est.columns_) == 6
    assert est.dimension_ == 3 and est.local_dimension(x[:5]).tolist() == [3] * 5
    assert est.result()["rank"] == 3 and est.result()["columns"] == 6
    assert MaskAAEDimension(**FAST).fit(x).rank_ == 6  # MaskAAE trains on the columns


def test_fit_sets_the_fitted_attributes_and_is_reproducible():
    x = make_dataset(2, 8, samples=400, seed=0).x
    first = MaskAAEDimension(latent_dim=4, steps=60, seeds=2, hidden=(16,), critic_hidden=(8,)).fit(x)
    assert first.latent_dim_ in (4, 8) and len(first.per_seed_) == 2
    assert first.interval_[0] <= first.dimension_ <= first.interval_[1]
    assert first.mask_.shape == (first.latent_dim_,)
    assert first.model_.config.latent_dim == first.latent_dim_
    assert set(first.capacities_) >= {4}
    again = MaskAAEDimension(latent_dim=4, steps=60, seeds=2, hidden=(16,), critic_hidden=(8,)).fit(x)
    assert again.per_seed_ == first.per_seed_
    np.testing.assert_array_equal(again.mask_, first.mask_)


@pytest.mark.parametrize("jobs,seeds", [(1, 2), (2, 2), (1, 3), (2, 3)])
def test_progress_counts_every_training_iteration_of_every_capacity(jobs, seeds):
    # n = 6 data at capacity 2 grows: one report series per capacity, in iterations of
    # the stacks; with 2 jobs they are counted in spawned workers, stacks of 1 seed.
    # Three seeds, settle=True, train in rounds (2, then 1 unless the first two settle the median),
    # and the total grows with the second
    x = make_dataset(6, 8, samples=300, seed=0).x
    calls = []
    est = MaskAAEDimension(
        latent_dim=2, steps=40, seeds=seeds, n_jobs=jobs, hidden=(8,), critic_hidden=(8,), settle=seeds == 3
    )
    est.fit(x, progress=lambda done, total, m: calls.append((done, total, m)))
    for m, counts in est.capacities_.items():
        mine = [(done, total) for done, total, mm in calls if mm == m]
        stacks = len(counts) if jobs == 2 else 1 + (len(counts) > 2)  # 2 seeds: a stack of 2 or 2 of 1
        assert mine[-1] == (stacks * 40, stacks * 40)
        assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in itertools.pairwise(mine))
    assert [m for _, _, m in calls] == sorted(m for _, _, m in calls)


def _readings(*pairs):
    return [_Reading(count, [], estimate, None, None, {}) for count, estimate in pairs]


def test_seeds_are_settled_when_the_rest_cannot_move_the_median_or_the_capacity_rule():
    # (units in use, estimate) per seed, 3 seeds, capacity m = 16, D = 32
    assert _settled(_readings((8, 8), (9, 8)), 3, 16, 32)  # two equal estimates, counts both < 15
    assert not _settled(_readings((8, 8), (9, 9)), 3, 16, 32)  # the third decides the median
    assert not _settled(_readings((14, 8), (15, 8)), 3, 16, 32)  # the third decides whether m doubles
    assert _settled(_readings((15, 8), (16, 8)), 3, 16, 32)  # both >= m - 1: m doubles whatever
    assert _settled(_readings((3, 3), (3, 4)), 2, 16, 32)  # every seed trained
    assert not _settled(_readings((3, 3), (3, 3)), 5, 16, 32)  # 2 of 5 cannot settle a median
    assert _settled(_readings((3, 3), (3, 3), (3, 3)), 5, 16, 32)


def test_seeds_stop_once_the_median_is_settled_and_read_what_every_seed_reads(tmp_path):
    # on the CPU with fewer jobs than seeds: 2 seeds, then the third where they leave the
    # median (or the capacity rule) open; the estimate, capacity and model are those of
    # training all three. Here the VAE's first two agree (each reads D), and MaskAAE's
    # counts at m = 4 (3, 4) leave the capacity rule open
    x = make_dataset(3, 8, samples=400, seed=0).x
    vae = {"steps": 60, "hidden": (16, 16), "latent_dim": 4, "seeds": 3}
    mask = {"steps": 30, "hidden": (16, 16), "critic_hidden": (8, 8), "latent_dim": 4, "seeds": 3}
    for estimator, params, trained in ((VAEDimension, vae, 2), (MaskAAEDimension, mask, 3)):
        settled = estimator(**params, settle=True).fit(x)
        every = estimator(**params).fit(x)
        assert len(settled.per_seed_) == trained and len(every.per_seed_) == 3
        assert settled.per_seed_ == every.per_seed_[:trained]
        assert (settled.dimension_, settled.latent_dim_) == (every.dimension_, every.latent_dim_)
        a, b = settled.model_.state_dict(), every.model_.state_dict()
        assert all(np.array_equal(a[k], b[k]) for k in a)
        assert settled.result()["seeds"] == 3
    assert list(every.capacities_) == [4, 8] and len(settled.capacities_[4]) == 3
    # the CLI says so; Gaussian noise, whose every seed reads D = 6 (the noise rule)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(500, 6)))
    args = ["estimate", str(tmp_path / "x.npy"), "--steps", "100", "-j", "1", "--no-baselines"]
    result = CliRunner().invoke(cli, [*args, "--settle"])
    assert result.exit_code == 0, result.output
    assert "seeds 6, 6 (2 of 3: the rest could not change the median)" in result.stdout
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert json.loads(result.stdout)["per_seed"] == [6.0, 6.0, 6.0]
    with pytest.raises(ValueError, match="settle must be True or False"):
        VAEDimension(settle="yes").fit(x)


@pytest.mark.parametrize("shares", [2, 3])
def test_the_band_in_shares_reads_what_the_whole_band_reads(shares):
    x = make_dataset(3, 16, samples=800, seed=0).x
    whole = classical_band(x)
    parts = [band_share(x, i, shares) for i in range(shares)]
    assert all(sum(name in p for p in parts) == 1 for name in whole)  # each estimator runs once
    merged = merge_band(parts)
    assert list(merged) == list(whole)
    assert {k: (v["dimension"], v["rows"]) for k, v in merged.items()} == {
        k: (v["dimension"], v["rows"]) for k, v in whole.items()
    }


@pytest.mark.parametrize("rows, columns", [(600, 16), (300, 128)])
def test_batched_local_pca_reads_what_scikit_dimension_reads(rows, columns):
    # both branches: fewer columns than neighbours (covariance) and more (Gram matrix)
    import skdim

    x = standardise(make_dataset(5, columns, samples=rows, seed=1).x)[0].astype(np.float64)
    expected = skdim.id.lPCA().fit_pw(x, n_neighbors=100).dimension_pw_
    assert np.array_equal(_lpca_pointwise(x), expected)
    assert len(set(expected)) > 1  # the rows do not all read alike


def test_saturated_capacity_grows():
    # n = 6 data at capacity 2: the mask keeps both dims, so m doubles until D
    x = make_dataset(6, 8, samples=400, seed=0).x
    est = MaskAAEDimension(latent_dim=2, **FAST).fit(x)
    assert list(est.capacities_)[:2] == [2, 4]
    assert not hasattr(est, "residuals_")  # a VAE's reading: MaskAAE's mask has none
    assert est.latent_dim_ == max(est.capacities_)
    assert est.saturated_ == (est.per_seed_[0] >= est.latent_dim_ - 1)


def test_full_capacity_is_flagged_saturated(tmp_path):
    # 2-column data: capacity m = D = 2; a mask keeping >= m - 1 dims is saturated
    x = np.random.default_rng(0).normal(size=(300, 2))
    est = MaskAAEDimension(**FAST).fit(x)
    assert est.latent_dim_ == 2 and est.per_seed_[0] >= 1
    assert est.saturated_ and est.result()["saturated"] is True
    path = tmp_path / "x.npy"
    np.save(path, x)
    result = CliRunner().invoke(
        cli, ["estimate", str(path), "--method", "maskaae", "--steps", "20", "--seeds", "1", "--no-baselines"]
    )
    assert result.exit_code == 0, result.output
    assert "note: the model kept (almost) every dim at the full capacity m = 2" in result.stdout


def test_classical_band_brackets_the_true_dimension():
    x = make_dataset(3, 16, samples=1500, seed=0).x
    band = classical_band(x)
    assert set(band) == {"TwoNN", "MLE", "DANCoFit", "lPCA"}
    for name, entry in band.items():
        assert 2.0 <= entry["dimension"] <= 5.0, (name, entry)
        assert entry["seconds"] >= 0


@pytest.mark.parametrize("jobs,seeds", [(1, 2), (2, 2), (2, 3)])
def test_fit_runs_the_classical_band_beside_the_seeds(jobs, seeds):
    # with 2 jobs the band runs in worker processes beside the seeds (after them, in
    # shares, when 2 of 3 seeds settle the median with settle=True); either way it reads what
    # classical_band reads on the same rows, once, even when m doubles
    x = make_dataset(6, 8, samples=300, seed=0).x
    est = MaskAAEDimension(latent_dim=2, n_jobs=jobs, settle=seeds == 3, **{**FAST, "seeds": seeds})
    est.fit(x, band=True)
    assert len(est.capacities_) >= 2
    alone = classical_band(x)
    assert {k: v["dimension"] for k, v in est.band_.items()} == {k: v["dimension"] for k, v in alone.items()}
    assert not hasattr(est.fit(x), "band_")  # a refit without the band drops the old one


@pytest.mark.parametrize("jobs", [1, 2])
def test_estimate_cli_json(tmp_path, jobs):
    path = tmp_path / "x.npy"
    np.save(path, make_dataset(2, 8, samples=300, seed=0).x)
    result = CliRunner().invoke(
        cli, ["estimate", str(path), "--steps", "20", "--seeds", "2", "-j", str(jobs), "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) >= {"dimension", "interval", "per_seed", "baselines"}
    assert len(out["per_seed"]) == 2 and out["data"]["shape"] == [300, 8]
    assert set(out["baselines"]) == {"TwoNN", "MLE", "DANCoFit", "lPCA"}
    timings = out["timings"]
    (m,) = out["capacities"]  # one capacity: its wall time, a training time per stack, readings
    assert set(timings["capacities"][m]) == {"wall", "train", "read"}
    assert len(timings["capacities"][m]["train"]) == jobs  # both seeds in one stack, or one each
    phases = timings["setup"] + timings["workers"] + timings["capacities"][m]["wall"] + timings["finish"]
    assert 0 < phases <= timings["total"] <= out["seconds"]


def test_estimate_verbose_says_where_the_time_went(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, make_dataset(2, 8, samples=300, seed=0).x)
    args = ["estimate", str(path), "--steps", "20", "--seeds", "2", "-j", "1", "-m", "8", "--no-baselines"]
    result = CliRunner().invoke(cli, [*args, "-v"])
    assert result.exit_code == 0, result.output
    (line,) = [row for row in result.stdout.splitlines() if row.startswith("time: ")]
    assert "set-up" in line and "m = 8 " in line and "training per stack" in line and "fit " in line
    assert "time: " not in CliRunner().invoke(cli, args).stdout


def test_large_inputs_are_subsampled_and_say_so(tmp_path):
    x = make_dataset(2, 8, samples=900, seed=0).x
    est = MaskAAEDimension(latent_dim=4, max_rows=300, **FAST).fit(x)
    assert (est.rows_, est.rows_used_) == (900, 300)
    assert est.result()["rows_used"] == 300
    again = MaskAAEDimension(latent_dim=4, max_rows=300, **FAST).fit(x)
    np.testing.assert_array_equal(again.mask_, est.mask_)  # the subsample is random_state's
    band = classical_band(x, names=("TwoNN", "DANCoFit"), max_rows=400)
    assert band["TwoNN"]["rows"] == 400
    np.save(tmp_path / "x.npy", x)
    args = [
        "estimate",
        str(tmp_path / "x.npy"),
        "--steps",
        "10",
        "--seeds",
        "1",
        "-j",
        "1",
        "--max-rows",
        "300",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "trained on 300 of the 900 rows (a random subsample; --max-rows)" in result.stdout
    result = CliRunner().invoke(cli, [*args[:-1], "0"])
    assert result.exit_code == 2 and "max_rows must be an integer >= 1" in result.output


def test_estimate_cli_text_on_bundled_digits():
    result = CliRunner().invoke(
        cli,
        [
            "estimate",
            "--sklearn",
            "digits",
            "--method",
            "maskaae",
            "--steps",
            "10",
            "--seeds",
            "1",
            "--no-baselines",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "sklearn digits: 1797 x 64 (61 non-constant columns)" in result.stdout
    assert "intrinsic dimension (MaskAAE active dims):" in result.stdout


def test_estimate_cli_text_shows_the_vae_gap_contrast(tmp_path):
    np.save(tmp_path / "x.npy", make_dataset(2, 8, samples=1000).x)
    args = [
        "estimate",
        str(tmp_path / "x.npy"),
        "--steps",
        "600",
        "--seeds",
        "1",
        "-m",
        "4",
        "--no-baselines",
    ]
    result = CliRunner().invoke(cli, [*args, "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "gap contrast, median over points: " in result.stdout
    assert "(near 1: no clear gap, weak evidence)" in result.stdout


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("nan.npy", np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]]), "NaN or infinite"),
        ("inf.npy", np.array([[1.0, np.inf], [2.0, 3.0], [4.0, 5.0]]), "NaN or infinite"),
        ("onecol.npy", np.arange(10.0).reshape(10, 1), "at least 2 rows and 2 columns"),
        ("onerow.npy", np.arange(10.0).reshape(1, 10), "at least 2 rows and 2 columns"),
        ("words.csv", "a,b\n1,2\nx,3\n", "non-numeric value"),
        ("data.parquet", "whatever", "unknown file type"),
    ],
)
def test_estimate_bad_input_is_one_line_exit_2(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        np.save(path, content)
        path = path.with_suffix(".npy")
    result = CliRunner().invoke(cli, ["estimate", str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_estimate_cli_writes_the_local_dimension_per_point_and_its_histogram(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, make_dataset(2, 8, samples=300, seed=0).x)
    points, plot = tmp_path / "local.npy", tmp_path / "local.png"
    args = ["estimate", str(path), "--method", "vae", "--steps", "30", "--seeds", "1", "-m", "3"]
    args += ["--no-baselines", "--per-point", str(points), "--plot", str(plot)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "intrinsic dimension (VAE local dimension, median over points):" in result.stdout
    local = np.load(points)
    # at most m = 3 directions, or D = 8 at every row where 30 steps left the data as noise
    assert local.shape == (300,) and 1 <= local.min() and (local.max() <= 3 or set(local) == {8})
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and f"{points} exists; use --force to overwrite" in again.stderr
    assert CliRunner().invoke(cli, [*args, "--force"]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local.npy", "local.png", "x.npy"]  # no temp left


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "maskaae", "--per-point", "out.npy"], "--per-point needs --method vae"),
        (["--method", "vae", "--per-point", "out.txt"], "--per-point out.txt: the file must end in .npy"),
        (["--method", "vae", "--plot", "out.pdf"], "--plot out.pdf: the file must end in .png"),
        (["--method", "vae", "--plot", "nowhere/out.png"], "no such folder nowhere"),
    ],
)
def test_estimate_refuses_per_point_outputs_before_training(tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    np.save("x.npy", make_dataset(2, 8, samples=100, seed=0).x)
    result = CliRunner().invoke(cli, ["estimate", "x.npy", *extra])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_estimate_needs_exactly_one_source(tmp_path):
    result = CliRunner().invoke(cli, ["estimate"])
    assert result.exit_code == 2 and "give a data FILE or --sklearn" in result.stderr


def test_without_scikit_dimension_the_band_is_a_one_line_error_and_the_cli_skips_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "skdim", None)  # import blocked, as when it is not installed
    x = make_dataset(2, 8, samples=300, seed=0).x
    with pytest.raises(LatentdimError, match=r"pip install 'latentdim\[baselines\]'"):
        MaskAAEDimension(**FAST).fit(x, band=True)
    np.save(tmp_path / "x.npy", x)
    args = ["estimate", str(tmp_path / "x.npy"), "--method", "maskaae", "--steps", "10", "--seeds", "1"]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert "skipping the classical band" in result.stderr
    assert json.loads(result.stdout)["baselines"] == {}
