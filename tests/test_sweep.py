"""Studies and sweeps: specs, cell purity, the record store, resuming after kill -9,
failed cells, the process pool and the Dask executor."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import latentdim
from latentdim.errors import LatentdimError
from latentdim.studies import load_study, run_cell
from latentdim.studies.records import RecordStore
from latentdim.studies.sweep import sweep

RECIPE = "n = 2\nd = 8\nsamples = 600\nseed = 0\n"


def write_study(folder, *, models='["wae-mmd", "maskaae"]', extra="", steps=40, seeds=2, dims="[1, 2, 3, 4]"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny-n2.toml").write_text(RECIPE)
    (folder / "tiny.toml").write_text(
        f"""
name = "tiny"
seed = 7
datasets = ["tiny-n2.toml"]
models = {models}
latent_dims = {dims}
seeds = {seeds}
{extra}
[train]
steps = {steps}
batch_size = 32
eval_samples = 100
log_every = 10
recovery_steps = 20

[model]
hidden = [16, 16]
critic_hidden = [8, 8]
"""
    )
    return folder / "tiny.toml"


def comparable(records):
    """Records by id without what legitimately differs between runs: timings, and the
    engine's stack size (a resumed sweep may train the rest of a stack alone; on the
    CPU a member's record does not depend on its stack, tests/test_stacking.py)."""
    return {r["id"]: {k: v for k, v in r.items() if k not in ("timings", "engine")} for r in records}


def read_lines(path):
    return path.read_text().splitlines() if path.exists() else []


def test_study_expands_to_a_grid_with_seeds_from_the_study_seed(tmp_path):
    study = load_study(write_study(tmp_path))
    cells = study.cells()
    assert len(cells) == 1 * 2 * 4 * 2
    assert len({c.id for c in cells}) == len(cells)
    assert {c.seed for c in cells} == set(study.replicate_seeds())
    assert study.replicate_seeds() == load_study(tmp_path / "tiny.toml").replicate_seeds()
    assert cells[0].data["n"] == 2 and cells[0].model_config["hidden"] == [16, 16]
    # a different study seed gives different training seeds and so different cell ids
    text = (tmp_path / "tiny.toml").read_text().replace("seed = 7", "seed = 8")
    (tmp_path / "other.toml").write_text(text)
    assert {c.id for c in load_study(tmp_path / "other.toml").cells()}.isdisjoint({c.id for c in cells})


def test_a_dataset_table_sets_its_own_grid(tmp_path):
    path = write_study(tmp_path)
    (tmp_path / "tiny-n3.toml").write_text(RECIPE.replace("n = 2", "n = 3"))
    path.write_text(
        path.read_text().replace(
            'datasets = ["tiny-n2.toml"]',
            'datasets = ["tiny-n2.toml", {recipe = "tiny-n3.toml", latent_dims = [6]}]',
        )
    )
    cells = load_study(path).cells()
    assert sorted({(c.dataset, c.latent_dim) for c in cells}) == [
        ("tiny-n2", 1), ("tiny-n2", 2), ("tiny-n2", 3), ("tiny-n2", 4), ("tiny-n3", 6)
    ]
    assert {c.true_dim for c in cells if c.dataset == "tiny-n3"} == {3}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("seeds = 2", "seeds = 0"), "seeds must be an integer >= 1"),
        (('["wae-mmd", "maskaae"]', '["wae-mmd", "nope"]'), "unknown model 'nope'"),
        (("latent_dims = [1, 2, 3, 4]", "latent_dims = [1, 1]"), "latent_dims must be distinct"),
        (("tiny-n2.toml", "missing.toml"), "no recipe 'missing.toml'"),
        (("batch_size = 32", "batch_size = 1"), "batch size must be >= 2"),
        (("seed = 7", "sed = 7"), "unknown keys sed"),
        (("hidden = [16, 16]", "hiden = [16, 16]"), "unknown keys hiden"),
    ],
)
def test_bad_study_is_one_clear_error(tmp_path, edit, message):
    path = write_study(tmp_path)
    path.write_text(path.read_text().replace(*edit))
    with pytest.raises(LatentdimError, match=message):
        load_study(path)


def test_cell_is_a_pure_function_of_its_spec(tmp_path):
    cell = load_study(write_study(tmp_path)).cells()[5]
    first, second = run_cell(cell), run_cell(cell)
    assert first["status"] == "ok"
    assert comparable([first]) == comparable([second])
    assert set(first["metrics"]) >= {"scaled_fid", "fid", "nac", "active_dims", "recon_mse"}
    assert first["cell"]["latent_dim"] == cell.latent_dim and first["versions"]["torch"]
    root = Path(latentdim.__file__).resolve().parent.parent
    if (root / ".git").exists():  # an editable install in a checkout: the record names its commit
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert first["versions"]["latentdim_commit"].removesuffix("+dirty") == head.stdout.strip()
    else:
        assert "latentdim_commit" not in first["versions"]


def _stored(cell_id: str, status: str) -> dict:
    record = {"id": cell_id, "status": status, "dataset": "d", "n": 2, "model": "wae-mmd"}
    record.update(latent_dim=2, replicate=0, error={"type": "E", "message": "m"})
    if status == "ok":
        record["metrics"] = {"scaled_fid": 0.1, "fid": 0.1, "active_dims": 2, "recon_mse": 0.0, "nac": None}
    return record


def test_record_store_cuts_a_truncated_last_line(tmp_path):
    store = RecordStore(tmp_path / "records.jsonl")
    store.append(_stored("a", "ok"))
    store.append(_stored("b", "failed"))
    with open(store.path, "a") as handle:
        handle.write('{"id": "c", "sta')
    assert set(store.load()) == {"a", "b"}
    assert store.path.read_text().endswith("}\n")
    store.append(_stored("c", "ok"))
    assert set(store.load()) == {"a", "b", "c"}
    a, b = (json.dumps(_stored(i, "ok")) for i in "ab")
    store.path.write_text(f"{a}\nnot json\n{b}\n")
    with pytest.raises(LatentdimError, match="line 2 is not JSON"):
        store.load()
    store.path.write_text(f'{a}\n{{"id": "x"}}\n{b}\n')
    with pytest.raises(LatentdimError, match="line 2 is not a record: 'status' is missing"):
        store.load()


def test_failed_cell_is_recorded_and_retried_only_on_request(tmp_path):
    models = '["wae-mmd", {model = "wae-mmd", penalty = 1e12, label = "wae-diverge"}]'
    study = load_study(write_study(tmp_path, models=models, seeds=1))
    out = tmp_path / "out"
    summary = sweep(study, out, jobs=1)
    records = RecordStore(out / "records.jsonl").load().values()
    failed = [r for r in records if r["status"] == "failed"]
    assert summary.ok == 4 and summary.failed == 4
    assert {r["model"] for r in failed} == {"wae-diverge"}
    assert all(r["error"]["type"] == "DivergenceError" and r["error"]["iteration"] for r in failed)
    assert sweep(study, out, jobs=1).ran == 0
    assert sweep(study, out, jobs=1, retry_failed=True).ran == 4
    assert len(read_lines(out / "records.jsonl")) == 12


def test_process_pool_gives_the_inline_records(tmp_path):
    study = load_study(write_study(tmp_path, seeds=1))
    sweep(study, tmp_path / "inline", jobs=1)
    sweep(study, tmp_path / "pool", jobs=2)
    inline = RecordStore(tmp_path / "inline" / "records.jsonl").load().values()
    pool = RecordStore(tmp_path / "pool" / "records.jsonl").load().values()
    assert comparable(inline) == comparable(pool)
    assert all(r["status"] == "ok" for r in inline)


def test_kill_9_mid_sweep_then_resume_recomputes_nothing(tmp_path):
    path = write_study(tmp_path, steps=80)
    out = tmp_path / "killed"
    records = out / "records.jsonl"
    command = [sys.executable, "-m", "latentdim", "sweep", str(path), "-o", str(out), "-j", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, start_new_session=True, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(read_lines(records)) < 3:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "sweep produced no records"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = records.read_bytes()
    finished = before[: before.rfind(b"\n") + 1]
    n_before = finished.count(b"\n")
    assert 3 <= n_before < 16, "the kill must land mid-sweep"

    resumed = subprocess.run([*command, "-v"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{n_before} already recorded" in resumed.stderr
    after = records.read_bytes()
    assert after.startswith(finished)  # finished records untouched
    lines = after.decode().splitlines()
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids)) == 16  # nothing recomputed, nothing missing

    reference = tmp_path / "reference"
    sweep(load_study(path), reference, jobs=2)
    assert comparable(RecordStore(records).load().values()) == comparable(
        RecordStore(reference / "records.jsonl").load().values()
    )


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster


def test_dask_executor_gives_the_local_records(tmp_path, dask_cluster):
    study = load_study(write_study(tmp_path, seeds=1))
    sweep(study, tmp_path / "local", jobs=1)
    summary = sweep(study, tmp_path / "dask", executor="dask", scheduler=dask_cluster.scheduler_address)
    assert summary.ok == 8
    local = RecordStore(tmp_path / "local" / "records.jsonl").load().values()
    remote = RecordStore(tmp_path / "dask" / "records.jsonl").load().values()
    assert comparable(local) == comparable(remote)


def test_dask_sweep_survives_a_killed_worker(tmp_path, dask_cluster):
    from distributed import Client

    study = load_study(write_study(tmp_path, steps=200))
    first = threading.Event()
    outcome = {}

    def run():
        try:
            outcome["summary"] = sweep(
                study,
                tmp_path / "dask",
                executor="dask",
                scheduler=dask_cluster.scheduler_address,
                on_record=lambda record: first.set(),
            )
        except BaseException as exc:  # surfaced by the assertions below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    assert first.wait(120), "no cell finished"
    with Client(dask_cluster.scheduler_address) as client:
        victim = next(iter(client.run(os.getpid).values()))
    os.kill(victim, signal.SIGKILL)
    thread.join(300)
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
    summary = outcome["summary"]
    assert summary.ok == 16 and summary.failed == 0
    records = RecordStore(tmp_path / "dask" / "records.jsonl").load()
    assert len(records) == 16 and all(r["status"] == "ok" for r in records.values())


def test_sweep_cli_runs_into_runs_reports_and_compares_with_the_reference(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from latentdim.cli import cli

    monkeypatch.chdir(tmp_path)
    path = write_study(tmp_path / "studies", seeds=2)
    reference = tmp_path / "studies" / "tiny"
    made = CliRunner().invoke(cli, ["sweep", str(path), "-j", "1", "-v", "-q", "--update-reference"])
    assert made.exit_code == 0, made.output
    assert "cells (" not in made.stderr  # -q: no progress lines
    assert "optimal m" in made.stdout and "tiny-n2 (n = 2)" in made.stdout
    for name in ("fig2.png", "fig2.pdf", "fig5.png", "fig5.pdf", "table2.csv", "table2.md", "REPORT.md"):
        assert (reference / name).stat().st_size > 0, name
    table = (reference / "table2.csv").read_text().splitlines()
    assert table[0].startswith("dataset,n,m,wae-mmd_nac")
    assert [row.split(",")[2] for row in table[1:]] == ["3", "4"]  # capacities m > n
    assert "rows agree" not in made.stdout  # no reference to compare a reference with
    frozen = {p.name: p.read_bytes() for p in reference.iterdir()}

    # a user's run: runs/NAME by default, one seed here, printed beside the reference
    mine = CliRunner().invoke(cli, ["sweep", str(path), "-j", "1", "--seeds", "1"])
    assert mine.exit_code == 0, mine.output
    assert "sweep tiny: 8/8 cells (100 %)" in mine.stderr and "scaled FID" in mine.stderr
    assert len(read_lines(tmp_path / "runs" / "tiny" / "records.jsonl")) == 8
    assert "(1 seed) against the reference" in mine.stdout and "(2 seeds)" in mine.stdout
    assert "rows agree within the seed spread" in mine.stdout
    assert {p.name: p.read_bytes() for p in reference.iterdir()} == frozen
    again = CliRunner().invoke(cli, ["sweep", str(path), "-j", "1", "--seeds", "1"])
    assert "8 already recorded" in again.stderr and "ran 0 of 8" in again.stderr

    # the reference folder is refused as an output unless --update-reference
    refused = CliRunner().invoke(cli, ["sweep", str(path), "-o", str(reference)])
    assert refused.exit_code == 2 and "--update-reference" in refused.stderr
    assert {p.name: p.read_bytes() for p in reference.iterdir()} == frozen

    against = CliRunner().invoke(cli, ["report", "runs/tiny", "--against", str(reference)])
    assert against.exit_code == 0, against.output
    assert "active dims of the masked models" in against.stdout and "NAC at m > n" in against.stdout

    listing = CliRunner().invoke(cli, ["sweep", "--list"])
    assert listing.exit_code == 0, listing.output
    (line,) = [row for row in listing.stdout.splitlines() if row.strip().startswith("tiny ")]
    assert line.split()[1:4] == ["16", "16", "cells,"]


def test_library_sweep_refuses_a_reference_folder(tmp_path):
    study = load_study(write_study(tmp_path, seeds=1))
    for folder in (tmp_path / "tiny", tmp_path / "other" / ".." / "tiny"):
        with pytest.raises(LatentdimError, match="committed reference outcome"):
            sweep(study, folder, jobs=1)
    assert not (tmp_path / "tiny").exists()


def test_report_of_a_folder_without_records_is_one_line(tmp_path):
    from click.testing import CliRunner

    from latentdim.cli import cli

    result = CliRunner().invoke(cli, ["report", str(tmp_path)], standalone_mode=True)
    assert result.exit_code == 2
    assert "has no records.jsonl" in result.stderr


def test_a_model_table_may_set_its_own_budget(tmp_path):
    models = '["maskaae", {model = "maskaae", label = "maskaae 4x", steps = 160}]'
    path = write_study(tmp_path, models=models)
    cells = load_study(path).cells()
    assert {(c.model, c.train["steps"]) for c in cells} == {("maskaae", 40), ("maskaae 4x", 160)}
    expected = {"model": "maskaae", "hidden": [16, 16], "critic_hidden": [8, 8]}
    assert all(c.model_config == expected for c in cells)
    plain = load_study(write_study(tmp_path / "plain")).cells()
    assert {c.id for c in cells if c.model == "maskaae"} <= {c.id for c in plain}  # ids unchanged
    path.write_text(path.read_text().replace("steps = 160", "steps = 0"))
    with pytest.raises(LatentdimError, match="steps must be >= 1"):
        load_study(path)


def test_a_study_reuses_the_cells_another_sweep_finished(tmp_path):
    big = load_study(write_study(tmp_path / "big", seeds=1, dims="[1, 2]"))
    sweep(big, tmp_path / "big-out", jobs=1)
    small = load_study(write_study(tmp_path / "small", models='["maskaae"]', seeds=1, dims="[2, 3]"))
    summary = sweep(small, tmp_path / "small-out", jobs=1, reuse=[tmp_path / "big-out"])
    assert (summary.reused, summary.ran) == (1, 1)  # maskaae m=2 is big's; m=3 is trained
    theirs = RecordStore(tmp_path / "big-out" / "records.jsonl").load()
    mine = RecordStore(tmp_path / "small-out" / "records.jsonl").load()
    (shared,) = set(mine) & set(theirs)
    assert mine[shared]["reused_from"] == str(tmp_path / "big-out")
    assert {k: v for k, v in mine[shared].items() if k != "reused_from"} == theirs[shared]
    assert sweep(small, tmp_path / "small-out", jobs=1, reuse=[tmp_path / "big-out"]).reused == 0
    with pytest.raises(LatentdimError, match=r"--reuse .*nowhere: no records\.jsonl there"):
        sweep(small, tmp_path / "other", jobs=1, reuse=[tmp_path / "nowhere"])


def test_a_signal_right_after_a_record_is_written_is_counted_in_the_log(tmp_path, monkeypatch):
    """The log of a stopped invocation counts what its records file holds, even when the
    signal lands between a record's append and the sweep's counting of it."""
    study = load_study(write_study(tmp_path, models='["wae-mmd"]', dims="[2]", seeds=2, steps=20))
    append = RecordStore.append

    def append_then_interrupt(self, record):
        append(self, record)
        raise KeyboardInterrupt

    monkeypatch.setattr(RecordStore, "append", append_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        sweep(study, tmp_path / "out", jobs=1, stack=1)
    (entry,) = [json.loads(line) for line in read_lines(tmp_path / "out" / "sweeps.jsonl")]
    assert entry["stopped"] == "KeyboardInterrupt"
    recorded = read_lines(tmp_path / "out" / "records.jsonl")
    assert entry["summary"]["ran"] == entry["summary"]["ok"] == len(recorded) == 1
