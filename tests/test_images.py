"""Image data without downloads: MNIST-family IDX files (plain or gzipped) and the
``x_train`` .npz layout, written here, and scikit-learn's bundled digits."""

import gzip
import struct

import numpy as np
import pytest
from click.testing import CliRunner

from latentdim.cli import cli
from latentdim.data.readers import read_matrix, sklearn_data
from latentdim.errors import LatentdimError


def idx_bytes(array: np.ndarray) -> bytes:
    """LeCun's IDX layout for unsigned bytes: 0, 0, 0x08, ndim, dims (>i4), values."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(60, 6, 5), dtype=np.uint8)


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"])
def test_idx_images_become_rows_in_the_unit_interval(tmp_path, images, name):
    raw = idx_bytes(images)
    (tmp_path / name).write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    x = read_matrix(tmp_path / name)
    assert x.shape == (60, 30) and x.dtype == np.float32
    np.testing.assert_array_equal(x, images.reshape(60, 30) / np.float32(255))


def test_the_keras_npz_layout_reads_the_training_images(tmp_path, images):
    np.savez(
        tmp_path / "mnist.npz", x_train=images, y_train=np.zeros(60), x_test=images[:10], y_test=np.zeros(10)
    )
    x = read_matrix(tmp_path / "mnist.npz")
    assert x.shape == (60, 30) and float(x.max()) <= 1.0


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (lambda a: idx_bytes(a)[:-7], "declares (60, 6, 5), 1800 bytes, but 1793 follow"),
        (lambda a: idx_bytes(a[:, 0, 0]), "holds 60 labels (1-D), not images"),
        (lambda a: b"\x01\x02" + idx_bytes(a)[2:], "not an IDX file"),
        (lambda a: b"", "not an IDX file"),
    ],
)
def test_damaged_idx_files_are_one_line(tmp_path, images, content, says):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(content(images))
    with pytest.raises(LatentdimError, match=says.replace("(", r"\(").replace(")", r"\)")):
        read_matrix(path)


def test_sklearn_digits_are_pixels_in_the_unit_interval():
    x = sklearn_data("digits")
    assert x.shape == (1797, 64) and x.min() == 0.0 and x.max() == 1.0


def test_a_run_on_a_users_mnist_file_works_end_to_end(tmp_path):
    rng = np.random.default_rng(1)
    strokes = (rng.random((400, 1, 1)) * np.linspace(0, 1, 36).reshape(1, 6, 6) * 255).astype(np.uint8)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(strokes)))
    common = ["--model", "vae", "--likelihood", "bernoulli", "-m", "4", "--steps", "30", "--batch-size", "32"]
    common += ["--hidden", "16,16", "--eval-samples", "40"]
    result = CliRunner().invoke(
        cli, ["train", str(tmp_path / "train-images-idx3-ubyte.gz"), *common, "-o", str(tmp_path / "run")]
    )
    assert result.exit_code == 0, result.output
    sampled = CliRunner().invoke(
        cli, ["sample", str(tmp_path / "run"), "-n", "5", "-o", str(tmp_path / "s.npy")]
    )
    assert sampled.exit_code == 0, sampled.output
    points = np.load(tmp_path / "s.npy")
    assert points.shape == (5, 36) and points.min() >= 0 and points.max() <= 1
    result = CliRunner().invoke(
        cli, ["train", "--sklearn", "digits", *common, "-o", str(tmp_path / "digits")]
    )
    assert result.exit_code == 0, result.output
    both = CliRunner().invoke(
        cli, ["train", str(tmp_path / "x.npy"), "--sklearn", "digits", *common, "-o", "r"]
    )
    assert both.exit_code == 2 and "one of them" in both.output


def test_a_study_sweeps_and_reports_bundled_and_file_datasets(tmp_path):
    from latentdim.report import report
    from latentdim.studies import load_study
    from latentdim.studies.records import RecordStore
    from latentdim.studies.sweep import sweep

    np.save(tmp_path / "mine.npy", np.random.default_rng(2).normal(size=(300, 5)).astype(np.float32))
    (tmp_path / "real.toml").write_text(
        """
name = "real"
datasets = [{sklearn = "digits", latent_dims = [2, 4]}, {path = "mine.npy", name = "mine"}]
models = ["wae-mmd", {model = "vae", likelihood = "learned", label = "vae learned"}]
latent_dims = [2]
[train]
steps = 20
batch_size = 32
eval_samples = 60
[model]
hidden = [16]
critic_hidden = [8]
"""
    )
    study = load_study(tmp_path / "real.toml")
    assert study.datasets["digits"] == {"sklearn": "digits", "shape": [1797, 64]}
    assert study.datasets["mine"]["shape"] == [300, 5] and study.datasets["mine"]["file"].endswith("mine.npy")
    summary = sweep(study, tmp_path / "out", jobs=1)
    assert (summary.ran, summary.ok) == (6, 6)
    records = RecordStore(tmp_path / "out" / "records.jsonl").load()
    assert {r["n"] for r in records.values()} == {None}
    assert not any("latent_recovery" in r["metrics"] for r in records.values())  # no ground truth here
    made = report(tmp_path / "out")
    assert (tmp_path / "out" / "fig2.png").exists() and made.ok == 6
    np.save(tmp_path / "mine.npy", np.zeros((300, 5), dtype=np.float32) + np.arange(5))
    changed = sweep(study, tmp_path / "again", jobs=1)
    failed = [
        r for r in RecordStore(tmp_path / "again" / "records.jsonl").load().values() if r["dataset"] == "mine"
    ]
    assert changed.failed == 2 and all(
        "has changed since the study was planned" in r["error"]["message"] for r in failed
    )


def test_a_digits_comparison_reports_table1_and_fig6(tmp_path):
    from latentdim.report import report
    from latentdim.studies import load_study
    from latentdim.studies.records import RecordStore
    from latentdim.studies.sweep import sweep

    (tmp_path / "t1.toml").write_text(
        """
name = "t1"
datasets = [{sklearn = "digits"}]
models = ["wae-mmd", "maskaae", {model = "vae", likelihood = "bernoulli", label = "vae"}]
latent_dims = [4]
seeds = 2
[train]
steps = 30
batch_size = 32
eval_samples = 60
log_every = 5
fid_features = "digits-cnn"
[model]
hidden = [16]
critic_hidden = [8]
"""
    )
    sweep(load_study(tmp_path / "t1.toml"), tmp_path / "out", jobs=1)
    records = list(RecordStore(tmp_path / "out" / "records.jsonl").load().values())
    masked = [r for r in records if r["model"] == "maskaae"]
    assert all(len(r["mask_history"]["step"]) == 6 and len(r["mask_history"]["mask"][0]) == 4 for r in masked)
    assert not any("mask_history" in r for r in records if r["model"] != "maskaae")
    made = report(tmp_path / "out")
    assert (tmp_path / "out" / "fig6.png").exists()
    table = (tmp_path / "out" / "table1.md").read_text()
    assert "digits FID (digits-cnn features)" in table and "(m = 4)" in table
    assert len(table.strip().splitlines()) == 5  # header, rule, three models
    assert "## Table 1" in (tmp_path / "out" / "REPORT.md").read_text() and made.ok == 6
