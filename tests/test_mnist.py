"""MNIST as a user has it: the data root, a held-out set of its own, the mnist-cnn
features. Fake MNIST folders (scikit-learn's digits, scaled up to 28 x 28) stand in
for the real files, which a last test reads when ``$LATENTDIM_DATA/mnist`` exists."""

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_images import idx_bytes

from latentdim.cli import cli
from latentdim.config import ModelConfig, TrainConfig
from latentdim.errors import LatentdimError
from latentdim.metrics.feature_nets import MNIST_FILES, _mnist_cnn_in, mnist_cnn

REAL = Path(os.environ.get("LATENTDIM_DATA") or "/nonexistent") / "mnist"


def fake_mnist(folder: Path, train: int = 1500) -> Path:
    """The four IDX files of an MNIST-like set: digits scaled 3x and padded to 28 x 28."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.kron(digits.images / 16.0, np.ones((3, 3)))
    images = (np.pad(images, ((0, 0), (2, 2), (2, 2))) * 255).astype(np.uint8)
    labels = digits.target.astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    parts = {
        "train_images": images[:train],
        "train_labels": labels[:train],
        "test_images": images[train:],
        "test_labels": labels[train:],
    }
    for key, array in parts.items():
        (folder / MNIST_FILES[key]).write_bytes(gzip.compress(idx_bytes(array), mtime=0))
    return folder


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    fake_mnist(root / "mnist")
    monkeypatch.setenv("LATENTDIM_DATA", str(root))
    return root


def study_text(path: str, test_path: str | None = None, features: str = "identity") -> str:
    test = f', test_path = "{test_path}"' if test_path else ""
    return f"""
name = "m"
datasets = [{{path = "{path}"{test}, name = "mnist"}}]
models = ["wae-mmd"]
latent_dims = [4]
[train]
steps = 10
batch_size = 32
eval_samples = 200
fid_features = "{features}"
[model]
hidden = [16]
critic_hidden = [8]
"""


def test_a_study_path_resolves_under_the_data_root_with_its_test_set(data_root, tmp_path):
    from latentdim.studies import load_study
    from latentdim.studies.records import RecordStore
    from latentdim.studies.sweep import sweep

    spec = tmp_path / "studies" / "m.toml"
    spec.parent.mkdir()
    files = ("mnist/train-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz")
    spec.write_text(study_text(*files, "mnist-cnn"))
    study = load_study(spec)
    data = study.datasets["mnist"]
    assert data["file"] == str((data_root / "mnist" / MNIST_FILES["train_images"]).resolve())
    assert data["shape"] == [1500, 784] and data["test_shape"] == [297, 784]
    assert len(data["sha256"]) == len(data["test_sha256"]) == 64 and data["sha256"] != data["test_sha256"]
    summary = sweep(study, tmp_path / "out", jobs=1)
    assert (summary.ran, summary.ok) == (1, 1)
    (record,) = RecordStore(tmp_path / "out" / "records.jsonl").load().values()
    assert record["cell"]["data"]["test_sha256"] == data["test_sha256"]  # the record names both files
    assert record["metrics"]["features_accuracy"] == mnist_cnn()[1]
    from latentdim.metrics.features import feature_network_id

    assert record["metrics"]["features_sha256"] == feature_network_id("mnist-cnn")  # which network scored it

    from latentdim.report import report

    report(tmp_path / "out")
    floor = json.loads((tmp_path / "out" / "floor.json").read_text())["mnist"]
    assert floor["test_rows"] == 297 and floor["train_rows"] == 1500 and floor["features"] == "mnist-cnn"
    assert 0 < floor["fid"] < record["metrics"]["fid"]  # the training images score better than 10 steps
    assert "mnist floor: FID" in (tmp_path / "out" / "REPORT.md").read_text()


def test_a_cell_is_the_same_cell_wherever_its_files_are_kept(data_root, tmp_path, monkeypatch):
    import shutil

    from latentdim.studies import load_study

    spec = tmp_path / "m.toml"
    spec.write_text(study_text("mnist/train-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz"))
    here = load_study(spec).cells()
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(data_root, elsewhere)
    monkeypatch.setenv("LATENTDIM_DATA", str(elsewhere))
    there = load_study(spec).cells()
    assert here[0].data["file"] != there[0].data["file"]
    assert [c.id for c in here] == [c.id for c in there]  # committed records resume on another machine
    fake_mnist(elsewhere / "mnist", train=1400)  # other data: other cells
    assert load_study(spec).cells()[0].id != here[0].id


def test_a_test_set_of_its_own_is_what_the_run_is_scored_on(data_root):
    from latentdim.data.readers import read_matrix
    from latentdim.runs import fit

    x = read_matrix(data_root / "mnist" / MNIST_FILES["train_images"])
    test = read_matrix(data_root / "mnist" / MNIST_FILES["test_images"])
    config = ModelConfig("wae-mmd", 4, hidden=(16,))
    budget = TrainConfig(steps=10, batch_size=32, eval_samples=200)
    own = fit(x, config, budget, test=test)
    inverted = fit(x, config, budget, test=1.0 - test)  # far from everything trained on
    assert own.config["data"]["test_shape"] == [297, 784]
    assert inverted.metrics["fid"] > 2 * own.metrics["fid"]
    assert fit(x, config, budget).config["data"].keys() == {"sha256", "shape"}  # no test set: the holdout


def test_a_missing_or_damaged_file_is_one_line_before_anything_trains(data_root, tmp_path, monkeypatch):
    spec = tmp_path / "m.toml"
    spec.write_text(study_text("mnist/train-images-idx3-ubyte.gz", "mnist/t10k-images.gz"))
    result = CliRunner().invoke(cli, ["sweep", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "no file mnist/t10k-images.gz: looked in" in result.stderr and str(data_root) in result.stderr
    assert not (tmp_path / "out").exists()
    monkeypatch.delenv("LATENTDIM_DATA")
    spec.write_text(study_text("mnist/train-images-idx3-ubyte.gz"))
    result = CliRunner().invoke(cli, ["sweep", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "$LATENTDIM_DATA is not set" in result.stderr
    assert "set LATENTDIM_DATA to the folder that holds it" in result.stderr
    damaged = data_root / "mnist" / MNIST_FILES["train_images"]
    damaged.write_bytes(damaged.read_bytes()[:-100])
    monkeypatch.setenv("LATENTDIM_DATA", str(data_root))
    result = CliRunner().invoke(cli, ["sweep", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "cannot read" in result.stderr and not (tmp_path / "out").exists()


def test_train_reads_a_relative_path_under_the_data_root_and_its_test_data(data_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", "mnist/train-images-idx3-ubyte.gz", "--test-data", "mnist/t10k-images-idx3-ubyte.gz"]
    args += ["--model", "wae-mmd", "-m", "3", "--steps", "10", "--hidden", "16", "--eval-samples", "100"]
    result = CliRunner().invoke(cli, [*args, "-o", "run", "-q"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"]["test_path"].endswith("t10k-images-idx3-ubyte.gz")
    assert config["data"]["test_shape"] == [297, 784] and config["data"]["shape"] == [1500, 784]
    monkeypatch.delenv("LATENTDIM_DATA")
    result = CliRunner().invoke(cli, [*args, "-o", "run2"])
    assert result.exit_code == 2 and "no file mnist/train-images-idx3-ubyte.gz" in result.stderr


def test_mnist_cnn_is_trained_once_cached_and_remade_for_other_files(data_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("LATENTDIM_CACHE", str(cache))
    net, accuracy = mnist_cnn()
    assert accuracy > 0.7  # 1500 scaled-up digits, 36 updates: far above chance (0.1)
    meta = json.loads((cache / "mnist-cnn-v2.json").read_text())
    assert meta["accuracy"] == accuracy and set(meta["files"]) == set(MNIST_FILES)
    _mnist_cnn_in.cache_clear()
    again, cached = mnist_cnn()
    assert cached == accuracy
    state, state_again = net.state_dict(), again.state_dict()
    assert all(np.array_equal(state[k].numpy(), state_again[k].numpy()) for k in state)
    from latentdim.metrics.features import features

    x = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    assert features("mnist-cnn", x).shape == (5, 128)
    with pytest.raises(LatentdimError, match="need 28 x 28 images"):
        features("mnist-cnn", x[:, :64])
    fake_mnist(data_root / "mnist", train=1400)  # other training files: the cache is remade
    _mnist_cnn_in.cache_clear()
    mnist_cnn()
    assert json.loads((cache / "mnist-cnn-v2.json").read_text())["files"] != meta["files"]
    _mnist_cnn_in.cache_clear()
    monkeypatch.delenv("LATENTDIM_DATA")
    monkeypatch.setenv("LATENTDIM_CACHE", str(tmp_path / "empty"))
    from latentdim.metrics import feature_nets as module

    served, served_accuracy = mnist_cnn()  # no data, no cache: the network that ships
    meta = json.loads((module.PACKAGED / "mnist-cnn-v2.json").read_text())
    assert served_accuracy == meta["accuracy"] >= 0.99 and module.network_hash(served) == meta["network_id"]
    _mnist_cnn_in.cache_clear()
    damaged = tmp_path / "weights"
    damaged.mkdir()
    (damaged / "mnist-cnn-v2.json").write_text(json.dumps(meta))
    weights = bytearray((module.PACKAGED / "mnist-cnn-v2.pt").read_bytes())
    weights[-2000] ^= 0xFF  # one weight's bits: the hash no longer matches
    (damaged / "mnist-cnn-v2.pt").write_bytes(bytes(weights))
    monkeypatch.setattr(module, "PACKAGED", damaged)
    assert module.packaged_mnist_cnn() is None
    with pytest.raises(LatentdimError, match="set LATENTDIM_DATA to the folder that holds mnist/"):
        mnist_cnn()
    _mnist_cnn_in.cache_clear()


@pytest.mark.skipif(not REAL.is_dir(), reason="needs the real MNIST: LATENTDIM_DATA, a folder with mnist/")
def test_the_original_files_get_the_packaged_network_and_its_accuracy(tmp_path, monkeypatch):
    from latentdim.data.readers import read_idx, read_idx_labels
    from latentdim.metrics.feature_nets import packaged_mnist_cnn

    monkeypatch.setenv("LATENTDIM_CACHE", str(tmp_path / "empty"))
    _mnist_cnn_in.cache_clear()
    net, accuracy = mnist_cnn()
    assert not (tmp_path / "empty").exists()  # nothing trained, nothing cached
    assert accuracy == packaged_mnist_cnn()[1]
    images = read_idx(REAL / MNIST_FILES["test_images"])
    labels = read_idx_labels(REAL / MNIST_FILES["test_labels"])
    with torch.no_grad():
        predicted = torch.cat([net(chunk).argmax(1) for chunk in torch.from_numpy(images).split(2000)])
    assert float(np.mean(predicted.numpy() == labels)) == accuracy  # the recorded t10k accuracy
    _mnist_cnn_in.cache_clear()


@pytest.mark.skipif(not REAL.is_dir(), reason="needs the real MNIST: LATENTDIM_DATA, a folder with mnist/")
def test_a_2000_image_slice_of_the_real_training_file(tmp_path):
    from latentdim.data.readers import image_shape_of, read_matrix
    from latentdim.runs import fit

    train = REAL / MNIST_FILES["train_images"]
    x = read_matrix(train)
    assert x.shape == (60000, 784) and abs(float(x.mean()) * 255 - 33.318) < 1e-3  # the files' README
    assert image_shape_of(train) == (1, 28, 28)
    test = read_matrix(REAL / MNIST_FILES["test_images"])
    config = ModelConfig("wae-mmd", 8, net="conv", image_shape=(1, 28, 28), hidden=(64,))
    result = fit(x[:2000], config, TrainConfig(steps=30, batch_size=64, eval_samples=500), test=test)
    assert result.config["data"]["shape"] == [2000, 784]
    assert result.config["data"]["test_shape"] == [10000, 784] and np.isfinite(result.metrics["fid"])
