"""Feature networks for image FID and KID: the registry, the digits CNN (shipped; trained
once and cached where the shipped one cannot serve), the kernel inception distance
against a direct computation, and the one-line error when Inception weights are absent."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from latentdim.cli import cli
from latentdim.data.readers import sklearn_data
from latentdim.errors import LatentdimError
from latentdim.metrics.feature_nets import cache_dir, digits_cnn
from latentdim.metrics.features import features, kid


def test_kid_is_the_unbiased_polynomial_mmd():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 4)), rng.normal(0.5, 1, size=(40, 4))

    def k(u, v):
        return (u @ v / 4 + 1) ** 3

    within_a = np.mean([k(a[i], a[j]) for i in range(30) for j in range(30) if i != j])
    within_b = np.mean([k(b[i], b[j]) for i in range(40) for j in range(40) if i != j])
    across = np.mean([k(u, v) for u in a for v in b])
    assert kid(a, b) == pytest.approx(within_a + within_b - 2 * across, rel=1e-10)
    same = rng.normal(size=(2000, 4))
    assert abs(kid(same[:1000], same[1000:])) < 0.02 < kid(a, b)


def test_the_digits_cnn_ships_and_is_trained_where_it_cannot_serve(feature_cache, monkeypatch, tmp_path):
    from latentdim.metrics import feature_nets

    feature_nets._digits_cnn_in.cache_clear()
    served, accuracy = digits_cnn()  # the network that ships: nothing trained, nothing cached
    meta = json.loads((feature_nets.PACKAGED / "digits-cnn-v1.json").read_text())
    assert accuracy == meta["accuracy"] >= 0.95 and feature_nets.network_hash(served) == meta["network_id"]
    assert not (feature_cache / "digits-cnn-v1.pt").exists()
    feature_nets._digits_cnn_in.cache_clear()
    damaged = tmp_path / "weights"
    damaged.mkdir()
    (damaged / "digits-cnn-v1.json").write_text(json.dumps(meta))
    weights = bytearray((feature_nets.PACKAGED / "digits-cnn-v1.pt").read_bytes())
    weights[-2000] ^= 0xFF  # one weight's bits: the hash no longer matches
    (damaged / "digits-cnn-v1.pt").write_bytes(bytes(weights))
    monkeypatch.setattr(feature_nets, "PACKAGED", damaged)
    _, trained = digits_cnn()  # trained on first use and cached
    assert trained >= 0.95
    assert (cache_dir() / "digits-cnn-v1.pt").is_file()
    assert json.loads((feature_cache / "digits-cnn-v1.json").read_text())["accuracy"] == trained
    feature_nets._digits_cnn_in.cache_clear()
    _, cached = digits_cnn()
    x = sklearn_data("digits")[:50]
    assert cached == trained
    np.testing.assert_array_equal(features("digits-cnn", x), features("digits-cnn", x))
    assert features("digits-cnn", x).shape == (50, 64)
    with pytest.raises(LatentdimError, match="need 8 x 8 images"):
        features("digits-cnn", np.zeros((5, 10)))
    feature_nets._digits_cnn_in.cache_clear()


def test_inception_without_weights_is_one_line(monkeypatch):
    monkeypatch.delenv("LATENTDIM_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(LatentdimError, match="set LATENTDIM_INCEPTION_WEIGHTS"):
        features("inception", np.zeros((5, 784)))


def test_train_on_digits_reports_fid_on_the_cnn_features(tmp_path):
    args = ["train", "--sklearn", "digits", "--model", "vae", "--likelihood", "bernoulli", "-m", "4"]
    args += ["--steps", "30", "--batch-size", "32", "--hidden", "16,16", "--eval-samples", "100"]
    result = CliRunner().invoke(cli, [*args, "--fid-features", "digits-cnn", "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "feature network digits-cnn: held-out accuracy 0.9" in result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["fid_features"] == "digits-cnn" and metrics["eval_samples"] == 100
    assert metrics["fid"] > 0 and np.isfinite(metrics["kid"]) and metrics["scaled_fid"] > 0
    result = CliRunner().invoke(cli, [*args, "--fid-features", "inception", "-o", str(tmp_path / "r2")])
    assert result.exit_code == 2 and "LATENTDIM_INCEPTION_WEIGHTS" in result.output
