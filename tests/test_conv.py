"""The convolutional encoder/decoder (``net = "conv"``): the stacked layers are
convolutions (agree with ``torch.nn.functional``), a member is bit for bit the same at
every stack size, every model trains on them, and the image shape comes from the
source (IDX, ``x_train`` .npz, digits) or is refused in one line when it cannot."""

import gzip
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_images import idx_bytes
from test_stacking import _configs, _same_run

from latentdim import make_dataset
from latentdim.cli import cli
from latentdim.config import ModelConfig
from latentdim.data.readers import image_shape_of, read_matrix
from latentdim.errors import LatentdimError
from latentdim.models import MODELS, build_model
from latentdim.nn.layers import (
    StackedConv2d,
    StackedConvTranspose2d,
    conv_decoder,
    conv_encoder,
    reset_parameters,
)
from latentdim.runs import fit, fit_stack, load_run, save_run

SMALL = {"hidden": (16,), "critic_hidden": (8, 8), "net": "conv", "image_shape": (1, 4, 4)}


@pytest.mark.parametrize("side", [8, 7])
@pytest.mark.parametrize("channels", [2, 1], ids=["onednn", "im2col"])
def test_stacked_convolutions_are_torchs_convolutions_drawn_as_torch_draws_them(side, channels):
    c = channels
    conv, up = StackedConv2d(3, c, 5), StackedConvTranspose2d(3, 5, c, (side, side))
    reset_parameters(torch.nn.ModuleList([conv, up]), [torch.Generator().manual_seed(s) for s in range(3)])
    x = torch.randn(3, 4, c, side, side, generator=torch.Generator().manual_seed(9))
    y, back = conv(x), up(conv(x))
    assert y.shape == (3, 4, 5, side // 2, side // 2) and back.shape == (3, 4, c, side, side)
    for k in range(3):
        torch.manual_seed(k)  # torch's own layers, drawn from the stream member k draws from
        torch_conv, torch_up = torch.nn.Conv2d(c, 5, 4, 2, 1), torch.nn.ConvTranspose2d(5, c, 4, 2, 1)
        assert torch.equal(conv.weight[k].T.reshape(5, c, 4, 4), torch_conv.weight)
        assert torch.equal(up.weight[k].reshape(5, c, 4, 4), torch_up.weight)
        assert torch.equal(conv.bias[k], torch_conv.bias) and torch.equal(up.bias[k], torch_up.bias)
        with torch.no_grad():
            torch.testing.assert_close(y[k], torch_conv(x[k]), rtol=1e-5, atol=1e-5)
            padding = side - 2 * (side // 2)
            torch.testing.assert_close(
                back[k], torch_up(y[k], output_size=(side, side)), rtol=1e-5, atol=1e-5
            )
            assert padding in (0, 1)


def test_conv_nets_map_rows_to_codes_and_back():
    encoder = conv_encoder((3, 9, 6), (20,), 5, stack=2)
    decoder = conv_decoder((3, 9, 6), (20,), 5, stack=2)
    codes = encoder(torch.randn(2, 7, 3 * 9 * 6))
    assert codes.shape == (2, 7, 5) and decoder(codes).shape == (2, 7, 3 * 9 * 6)


@pytest.mark.parametrize("name", list(MODELS))
def test_a_conv_member_is_the_same_run_at_k_1_2_and_8(name):
    laws = ("gaussian", "uniform", "ball", "student-t")
    xs = [make_dataset(2, 16, samples=300, seed=s % 2, latent=laws[s % 4]).x for s in range(8)]
    config = ModelConfig(name, 3, **SMALL)
    seeds = list(range(20, 28))
    eight = fit_stack(xs, config, _configs(seeds))
    _same_run(fit(xs[6], config, _configs(seeds[6:7])[0]), eight[6])
    _same_run(fit_stack(xs[5:7], config, _configs(seeds[5:7]))[1], eight[6])
    assert len({r.metrics["scaled_fid"] for r in eight}) == 8


@pytest.mark.parametrize("name", ["two-stage-vae", "maskaae"])
def test_a_conv_run_saves_and_loads_with_its_image_shape(name, tmp_path):
    x = make_dataset(2, 16, samples=300, seed=0).x
    result = fit(x, ModelConfig(name, 3, **SMALL), _configs([0])[0])
    save_run(result, tmp_path / "run")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["image_shape"] == [1, 4, 4]
    loaded = load_run(tmp_path / "run")
    assert loaded.config.net == "conv" and loaded.config.image_shape == (1, 4, 4)
    g = torch.Generator().manual_seed(3)
    np.testing.assert_array_equal(
        loaded.sample(5, g), result.model.sample(5, torch.Generator().manual_seed(3))
    )


def test_the_image_shape_comes_from_the_source(tmp_path, images):
    (tmp_path / "a-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    assert image_shape_of(tmp_path / "a-images-idx3-ubyte.gz") == (1, 6, 5)
    assert image_shape_of(sklearn="digits") == (1, 8, 8) and image_shape_of(sklearn="iris") is None
    colour = np.random.default_rng(0).integers(0, 256, size=(20, 6, 5, 3), dtype=np.uint8)
    np.savez(tmp_path / "cifar.npz", x_train=colour, y_train=np.zeros(20))
    assert image_shape_of(tmp_path / "cifar.npz") == (3, 6, 5)
    # channels-last images become rows in (C, H, W) order, the layout the conv nets read
    rows = read_matrix(tmp_path / "cifar.npz")
    np.testing.assert_array_equal(rows[2].reshape(3, 6, 5), colour[2].transpose(2, 0, 1) / np.float32(255))
    np.save(tmp_path / "rows.npy", rows)
    assert image_shape_of(tmp_path / "rows.npy") is None


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(60, 6, 5), dtype=np.uint8)


def test_config_checks_the_image_shape():
    with pytest.raises(
        LatentdimError, match="image shape 1x8x8 has 64 values per image, but the data has 60"
    ):
        ModelConfig("vae", 2, 60, image_shape=(1, 8, 8))
    with pytest.raises(LatentdimError, match="at least 4 x 4 pixels, got 3 x 9"):
        ModelConfig("vae", 2, 27, net="conv", image_shape=(1, 3, 9))
    with pytest.raises(LatentdimError, match="unknown net 'cnn'"):
        ModelConfig("vae", 2, net="cnn")
    with pytest.raises(LatentdimError, match="net 'conv' needs the image shape"):
        build_model(ModelConfig("vae", 2, 64, net="conv"))


def test_cli_trains_conv_nets_on_images_and_refuses_rows_without_a_shape(tmp_path, images):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.repeat(images, 5, axis=0)))
    common = ["--model", "wae-mmd", "-m", "3", "--steps", "20", "--batch-size", "32", "--hidden", "16"]
    common += ["--eval-samples", "40", "--net", "conv"]
    run = CliRunner().invoke(
        cli, ["train", str(tmp_path / "train-images-idx3-ubyte"), *common, "-o", str(tmp_path / "r")]
    )
    assert run.exit_code == 0, run.output
    assert json.loads((tmp_path / "r" / "config.json").read_text())["model"]["image_shape"] == [1, 6, 5]
    digits = CliRunner().invoke(cli, ["train", "--sklearn", "digits", *common, "-o", str(tmp_path / "d")])
    assert digits.exit_code == 0, digits.output
    assert json.loads((tmp_path / "d" / "config.json").read_text())["model"]["image_shape"] == [1, 8, 8]
    np.save(tmp_path / "rows.npy", read_matrix(tmp_path / "train-images-idx3-ubyte"))
    rows = CliRunner().invoke(cli, ["train", str(tmp_path / "rows.npy"), *common, "-o", str(tmp_path / "x")])
    assert rows.exit_code == 2 and "give --image-shape CxHxW" in rows.output
    assert len(rows.output.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
    given = [
        "train",
        str(tmp_path / "rows.npy"),
        *common,
        "--image-shape",
        "1x6x5",
        "-o",
        str(tmp_path / "g"),
    ]
    assert CliRunner().invoke(cli, given).exit_code == 0
    wrong = CliRunner().invoke(cli, [*given[:-2], "--image-shape", "1x5x5", "-o", str(tmp_path / "w")])
    assert wrong.exit_code == 2 and "has 25 values per image, but the data has 30 columns" in wrong.output
    bad = CliRunner().invoke(cli, [*given[:-2], "--image-shape", "6x5", "-o", str(tmp_path / "w")])
    assert bad.exit_code == 2 and "expected three sizes CxHxW" in bad.output


def test_a_study_of_conv_models_on_digits_stacks_and_records(tmp_path):
    from latentdim.studies import load_study, plan_stacks
    from latentdim.studies.records import RecordStore
    from latentdim.studies.sweep import sweep

    spec = """
name = "conv"
datasets = [{sklearn = "digits"}]
models = ["wae-mmd", {model = "vae", likelihood = "bernoulli", label = "vae"}]
latent_dims = [3]
seeds = 2
[train]
steps = 20
batch_size = 32
eval_samples = 60
[model]
hidden = [16]
critic_hidden = [8]
net = "conv"
"""
    (tmp_path / "conv.toml").write_text(spec)
    study = load_study(tmp_path / "conv.toml")
    assert [len(stack) for stack in plan_stacks(study.cells(), stack="auto")] == [2, 2]
    summary = sweep(study, tmp_path / "out", jobs=1)
    assert (summary.ran, summary.ok) == (4, 4)
    records = RecordStore(tmp_path / "out" / "records.jsonl").load().values()
    assert {r["engine"]["stack"] for r in records} == {2}
    np.save(tmp_path / "rows.npy", np.random.default_rng(0).random((100, 64), dtype=np.float32))
    (tmp_path / "rows.toml").write_text(spec.replace('{sklearn = "digits"}', '{path = "rows.npy"}'))
    with pytest.raises(LatentdimError, match="dataset 'rows' is not a set of images: give its image shape"):
        load_study(tmp_path / "rows.toml")
    (tmp_path / "wrong.toml").write_text(
        spec.replace('net = "conv"', 'net = "conv"\nimage_shape = [1, 4, 4]')
    )
    with pytest.raises(LatentdimError, match="has 16 values per image, but the data has 64 columns"):
        load_study(tmp_path / "wrong.toml")
