"""``latentdim train``, ``sample`` and ``codes``: one model, its samples, its codes."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from latentdim.cli.common import (
    DEVICE_OPTION,
    QUIET_OPTION,
    SKLEARN_OPTION,
    _data_file,
    _image_shape,
    _one_source,
    _read_training_data,
    _widths,
    cli,
)
from latentdim.config import (
    FEATURE_NAMES,
    LIKELIHOODS,
    MODEL_NAMES,
    NETS,
    ModelConfig,
    TrainConfig,
)
from latentdim.data.readers import (
    image_shape_of,
    read_matrix,
    sklearn_data,
)
from latentdim.errors import LatentdimError
from latentdim.files import atomic_path, writing
from latentdim.progress import show_progress


@cli.command()
@click.argument("data", required=False, type=click.Path(dir_okay=False))
@SKLEARN_OPTION
@click.option("--model", "model_name", required=True, type=click.Choice(MODEL_NAMES), help="Model family.")
@click.option("--latent-dim", "-m", required=True, type=int, help="Latent capacity m.")
@click.option("--steps", type=int, default=TrainConfig.steps, show_default=True, help="Training iterations.")
@click.option("--batch-size", type=int, default=TrainConfig.batch_size, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--hidden", callback=_widths, help="Encoder hidden widths, e.g. 256,256 (decoder mirrors).")
@click.option("--critic-hidden", callback=_widths, help="Latent critic hidden widths, e.g. 128,128.")
@click.option(
    "--penalty", type=float, help="WAE-MMD lambda [10], WAE-GAN adversarial weight [1] or VAE beta [1]."
)
@click.option(
    "--likelihood",
    type=click.Choice(LIKELIHOODS),
    help="VAE decoder: fixed unit variance [default], learned variance (Dai & Wipf) or bernoulli.",
)
@click.option(
    "--kl-warmup",
    type=float,
    default=ModelConfig.kl_warmup,
    show_default=True,
    help="VAE family: fraction of the steps over which the KL weight rises from 0 to beta.",
)
@click.option(
    "--stage2-steps",
    type=int,
    default=ModelConfig.stage2_steps,
    show_default=True,
    help="2-Stage VAE: stage 2's own iterations after all of --steps train stage 1 (0: half each).",
)
@click.option(
    "--net",
    type=click.Choice(NETS),
    default=ModelConfig.net,
    show_default=True,
    help="Encoder/decoder: MLPs, or a small convolutional pair for images.",
)
@click.option(
    "--image-shape",
    callback=_image_shape,
    help="How a row's pixels form an image, CxHxW [read from IDX, x_train .npz and --sklearn digits].",
)
@click.option(
    "--test-data",
    type=click.Path(dir_okay=False),
    help="A held-out set of its own to evaluate on (e.g. MNIST's t10k images): train on every row of DATA.",
)
@click.option("--eval-samples", type=int, default=TrainConfig.eval_samples, show_default=True)
@click.option(
    "--fid-features",
    type=click.Choice(FEATURE_NAMES),
    default=TrainConfig.fid_features,
    show_default=True,
    help="Feature network of fid and kid: the data space, the digits CNN, or Inception-v3 (local weights).",
)
@click.option("--threads", type=int, help="torch threads [torch's default].")
@DEVICE_OPTION
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--force", is_flag=True, help="Replace an existing run directory.")
@QUIET_OPTION
def train(
    data,
    bundled,
    model_name,
    latent_dim,
    hidden,
    critic_hidden,
    penalty,
    likelihood,
    kl_warmup,
    stage2_steps,
    net,
    image_shape,
    threads,
    device,
    output,
    force,
    quiet,
    test_data,
    **train_options,
):
    """Train a model on DATA (.npz from make-data, .npy, .npz, .csv, or MNIST-format IDX
    images; a relative path not found here is looked for under $LATENTDIM_DATA) or a
    bundled scikit-learn dataset, and evaluate it."""
    from latentdim.runs import fit, save_run

    _one_source(data, bundled, "a DATA file")
    if Path(output).exists() and not force:
        raise LatentdimError(f"{output} exists; use --force to overwrite")
    with writing(output):  # the folder it goes in, before anything trains
        Path(output).parent.mkdir(parents=True, exist_ok=True)
    data = _data_file(data)
    x, truth = _read_training_data(data) if data else (sklearn_data(bundled), None)
    test = None
    if test_data is not None:
        test_data = _data_file(test_data)
        test = read_matrix(test_data)
        if test.shape[1] != x.shape[1]:
            raise LatentdimError(f"--test-data {test_data} has {test.shape[1]} columns, DATA {x.shape[1]}")
        truth = None  # scored on rows whose latents are unknown
    shapes = {k: v for k, v in {"hidden": hidden, "critic_hidden": critic_hidden}.items() if v}
    model_config = ModelConfig(
        model_name,
        latent_dim,
        x.shape[1],
        penalty=penalty,
        likelihood=likelihood,
        kl_warmup=kl_warmup,
        stage2_steps=stage2_steps,
        net=net,
        image_shape=image_shape or image_shape_of(data, bundled),
        **shapes,
    )
    train_config = TrainConfig(**train_options)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    shown = show_progress(f"train {model_name}", model_config.iterations(train_config.steps), "it", quiet)

    def on_iteration(iteration: int, row: dict | None) -> None:
        shown.update(iteration, _main_loss(row))

    try:
        result = fit(x, model_config, train_config, truth, device, on_iteration if shown else None, test)
    finally:
        if shown:
            shown.close()
    result.config["data"]["path" if data else "sklearn"] = str(data) if data else bundled
    if test_data is not None:
        result.config["data"]["test_path"] = str(test_data)
    save_run(result, output, force=force)
    accuracy = result.metrics.get("features_accuracy")
    if accuracy is not None:
        click.echo(f"feature network {train_config.fid_features}: held-out accuracy {accuracy:.4f}", err=True)
    shown = {k: v for k, v in result.metrics.items() if k != "mask"}
    click.echo(json.dumps(shown, indent=2))


def _main_loss(row: dict | None) -> str:
    """``ae_loss 0.0123``: the first loss of a logged row (the first step's), or ''."""
    losses = [(k, v) for k, v in (row or {}).items() if k.endswith("_loss")]
    return f"{losses[0][0]} {losses[0][1]:.4g}" if losses else ""


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("-n", "num", type=int, default=1000, show_default=True, help="Number of points.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output .npy file.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def sample(run_dir, num, seed, output, force):
    """Generate N points from a trained run into a .npy file."""
    import torch

    from latentdim.runs import load_run

    if num < 1:
        raise LatentdimError(f"-n must be >= 1, got {num}")
    if not output.endswith(".npy"):
        raise LatentdimError(f"{output}: output must be a .npy file")
    points = load_run(run_dir).sample(num, torch.Generator().manual_seed(seed))
    with atomic_path(output, force=force) as tmp, open(tmp, "wb") as handle:
        np.save(handle, points)
    click.echo(f"{output}: {num} x {points.shape[1]} generated points")


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--data", type=click.Path(dir_okay=False), help="The rows to encode (any data file).")
@SKLEARN_OPTION
@click.option("-n", "rows", type=int, default=2000, show_default=True, help="Encode at most this many rows.")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="Figure: NAME.png (+ .pdf)."
)
def codes(runs, data, bundled, rows, output):
    """Fig 7: the correlation matrix of the codes of each trained RUN (e.g. a WAE and a
    MaskAAE), side by side, on the rows of --data or --sklearn NAME."""
    from latentdim.report import figure7
    from latentdim.runs import load_run

    _one_source(data, bundled, "--data FILE")
    if not output.endswith(".png"):
        raise LatentdimError(f"{output}: the figure must be a .png file")
    x = (_read_training_data(_data_file(data))[0] if data else sklearn_data(bundled))[:rows]
    models = [(Path(run).name, load_run(run)) for run in runs]
    for label, model in models:
        if model.config.data_dim != x.shape[1]:
            raise LatentdimError(
                f"run {label} was trained on {model.config.data_dim} columns, the data has {x.shape[1]}"
            )
    written = figure7(models, x, Path(output).with_suffix(""))
    click.echo(" ".join(str(p) for p in written))
