import json

import numpy as np
import pytest
from click.testing import CliRunner

from latentdim.cli import cli
from latentdim.runs import MANIFOLD_KEYS, METRIC_KEYS, TRUTH_KEYS


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    assert run("make-data", "--n", 3, "--d", 12, "--samples", 600, "-o", path).exit_code == 0
    return path


def test_train_writes_run_then_sample(data_file, tmp_path):
    out = tmp_path / "runs" / "a" / "run"  # the folders above it are made
    args = ["--model", "maskaae", "-m", 5, "--steps", 20, "--hidden", "16,16", "--critic-hidden", "16"]
    result = run("train", data_file, *args, "-o", out)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(METRIC_KEYS) | set(MANIFOLD_KEYS) | set(TRUTH_KEYS) <= set(metrics)  # make-data: map known
    assert 0 <= metrics["precision"] <= 1 and 0 <= metrics["off_manifold"] <= 1
    assert metrics["manifold_error"] > 0 and metrics["latent_recovery"] < 1
    assert json.loads(result.stdout)["active_dims"] == metrics["active_dims"]
    lines = [row for row in result.stderr.splitlines() if row.startswith("train maskaae: ")]
    assert len(lines) == 10 and lines[-1].startswith("train maskaae: 20/20 it (100 %)"), result.stderr
    assert "ae_loss" in lines[-1]  # off a terminal: a line per tenth, with the main loss
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["latent_dim"] == 5 and config["train"]["seed"] == 0
    assert config["data"]["path"] == str(data_file) and "torch" in config["versions"]
    header = (out / "history.csv").read_text().splitlines()[0].split(",")
    assert "mask_4" in header and "ae_recon" in header
    samples = tmp_path / "s.npy"
    result = run("sample", out, "-n", 25, "-o", samples)
    assert result.exit_code == 0, result.output
    x = np.load(samples)
    assert x.shape == (25, 12) and np.isfinite(x).all()


def test_train_says_before_training_when_the_run_cannot_be_written(data_file, tmp_path):
    (tmp_path / "a-file").write_text("")
    result = run("train", data_file, "--model", "wae-mmd", "-m", 2, "-o", tmp_path / "a-file" / "run")
    assert result.exit_code == 2
    assert result.output.startswith("latentdim: error: cannot write ")
    assert "train wae-mmd" not in result.output  # nothing trained


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "vqvae", "-m", 2], "'vqvae' is not one of"),
        (["--model", "wae-mmd", "-m", 0], "latent dimension must be >= 1"),
        (["--model", "wae-mmd", "-m", 2, "--steps", 0], "steps must be >= 1"),
        (["--model", "wae-mmd", "-m", 2, "--batch-size", 100000], "batch size 100000 exceeds"),
        (["--model", "wae-mmd", "-m", 2, "--hidden", "8,x"], "comma-separated integers"),
    ],
)
def test_train_bad_input(data_file, tmp_path, args, message):
    result = run("train", data_file, *args, "-o", tmp_path / "run")
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and message in result.output
    assert not (tmp_path / "run").exists()


def test_train_unknown_file_type(tmp_path):
    bad = tmp_path / "x.txt"
    bad.write_text("1,2\n3,4\n")
    result = run("train", bad, "--model", "wae-mmd", "-m", 2, "-o", tmp_path / "run")
    assert result.exit_code == 2 and "unknown file type" in result.output


def test_sample_missing_run(tmp_path):
    result = run("sample", tmp_path / "nope", "-n", 5, "-o", tmp_path / "s.npy")
    assert result.exit_code == 2 and "is not a run directory" in result.output
    assert not (tmp_path / "s.npy").exists()


def test_train_on_a_plain_matrix_has_no_ground_truth_metrics(data_file, tmp_path):
    x = np.load(data_file)["x"]
    np.save(tmp_path / "x.npy", x)
    args = ["--model", "wae-mmd", "-m", 3, "--steps", 20, "-o", tmp_path / "r", "-q"]
    result = run("train", tmp_path / "x.npy", *args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert set(MANIFOLD_KEYS) <= set(metrics) and not set(TRUTH_KEYS) & set(metrics)
    assert "train wae-mmd" not in result.stderr  # -q: no progress


def test_too_few_held_out_rows_is_one_line_before_training(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32))
    result = run(
        "train",
        tmp_path / "x.npy",
        "--model",
        "wae-mmd",
        "-m",
        2,
        "--steps",
        5,
        "--batch-size",
        8,
        "-o",
        tmp_path / "run",
    )
    assert result.exit_code == 2 and "5 held-out rows are too few for the k-NN metrics" in result.output
    assert not (tmp_path / "run").exists()


def test_progress_lines_every_tenth_and_at_the_end():
    import io

    from latentdim.progress import ProgressLines

    stream = io.StringIO()
    shown = ProgressLines("job", 1000, "it", stream)
    for done in range(1, 1001):
        shown.update(done, "loss 1")
    lines = stream.getvalue().splitlines()
    assert [row.split()[1] for row in lines] == [f"{100 * k}/1000" for k in range(1, 11)]
    assert lines[0].endswith("left, loss 1") and "done in" in lines[-1]
    stream = io.StringIO()
    shown = ProgressLines("job", 3, "cells", stream)
    for done in (1, 2, 3):
        shown.update(done)
    assert len(stream.getvalue().splitlines()) == 3  # fewer units than tenths: a line per unit
    stream = io.StringIO()
    slow = ProgressLines("job", 3, "cells", stream)
    slow.start -= 600  # ten minutes for the first cell
    slow.update(1)
    assert "cells (33 %), 10 min 00 s each, 20 min 00 s left" in stream.getvalue()  # not "0.00 cells/s"
