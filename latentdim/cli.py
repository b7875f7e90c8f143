"""The ``latentdim`` command: parse, call the library, format.

Bad input of any kind ends in one line on stderr and exit code 2. Torch, scikit-learn
and the models are imported only inside the commands that train or evaluate, so
``--help``, ``info`` and ``make-data`` start at once (the option choices come from the
torch-free :mod:`latentdim.config`).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import numpy as np

from latentdim.config import (
    ESTIMATOR_NAMES,
    EXECUTOR_NAMES,
    FEATURE_NAMES,
    LIKELIHOODS,
    MODEL_NAMES,
    NETS,
    ModelConfig,
    TrainConfig,
)
from latentdim.data import (
    SKLEARN_DATA,
    check_matrix,
    image_shape_of,
    read_matrix,
    resolve_data_file,
    sklearn_data,
)
from latentdim.errors import DivergenceError, LatentdimError
from latentdim.files import atomic_path, reading
from latentdim.latents import LATENT_LAWS
from latentdim.progress import duration, show_progress
from latentdim.synthetic import SyntheticSpec, generate, load_dataset, spec_from_recipe


class _Cli(click.Group):
    """A group whose errors are one line: ``latentdim: error: ...``, exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except LatentdimError as exc:
            _fail(str(exc), 2)
        except DivergenceError as exc:
            _fail(str(exc), 1)
        except click.Abort:
            _fail("aborted", 1)
        sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    click.echo(f"latentdim: error: {' '.join(str(message).split())}", err=True)
    sys.exit(code)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="latentdim")
def cli() -> None:
    """Latent dimensionality of auto-encoder generative models, and of your data."""


@cli.command("make-data")
@click.option("--n", type=int, help="True latent dimension n.")
@click.option("--d", type=int, help="Data dimension d (>= n).")
@click.option("--samples", type=int, help="Number of points [20000].")
@click.option("--seed", type=int, help="Seed for map, latents and noise [0].")
@click.option("--latent", type=click.Choice(list(LATENT_LAWS)), help="Latent law [gaussian].")
@click.option("--depth", type=int, help="Number of linear layers [3].")
@click.option("--width", type=int, help="Hidden width, n <= width <= d [max(4n, 64) capped at d].")
@click.option("--lipschitz", type=float, help="Lipschitz bound of the map [4].")
@click.option("--noise", type=float, help="Std of additive Gaussian noise [0].")
@click.option("--recipe", type=click.Path(dir_okay=False), help="A synthetic/NAME.toml recipe.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Output .npz file.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def make_data(recipe, output, force, **options) -> None:
    """Generate data of known intrinsic dimension n in R^d and write one .npz."""
    if recipe is not None:
        spec = spec_from_recipe(recipe, **options)
        default_name = Path(recipe).stem
    else:
        for required in ("n", "d"):
            if options[required] is None:
                raise LatentdimError(f"--{required} is required (or give --recipe)")
        spec = SyntheticSpec(**{k: v for k, v in options.items() if v is not None})
        default_name = f"synthetic-n{spec.n}-d{spec.d}-seed{spec.seed}"
    path = Path(output or f"{default_name}.npz")
    if path.exists() and not force:
        raise LatentdimError(f"{path} exists; use --force to overwrite")
    dataset = generate(spec)
    dataset.save(path, force=force)
    click.echo(_summary(path, dataset.meta))


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the full metadata as JSON.")
def info(file, as_json) -> None:
    """Print the metadata of a dataset file."""
    meta = load_dataset(file).meta
    click.echo(json.dumps(meta, indent=2) if as_json else _summary(Path(file), meta))


def _summary(path: Path, meta: dict) -> str:
    spec = meta["spec"]
    lines = [
        f"{path}: {spec['samples']} x {spec['d']} points, true latent dimension n = {spec['n']}",
        f"  latent {spec['latent']}, seed {spec['seed']}, noise {spec['noise']}",
        f"  map {' -> '.join(map(str, meta['widths']))}, {meta['activation']}, "
        f"Lipschitz bound {meta['lipschitz_bound']:.4g}",
        f"  sha256 {meta['sha256']}",
    ]
    return "\n".join(lines)


def _widths(ctx, param, value):
    if value is None:
        return None
    try:
        widths = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    return widths


def _image_shape(ctx, param, value):
    if value is None:
        return None
    try:
        shape = tuple(int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected CxHxW, e.g. 1x28x28, got {value!r}") from None
    if len(shape) != 3:
        raise click.BadParameter(f"expected three sizes CxHxW, e.g. 1x28x28, got {value!r}")
    return shape


QUIET_OPTION = click.option(
    "-q", "--quiet", is_flag=True, help="No progress (a bar on a terminal, a line every ~10 % elsewhere)."
)

DEVICE_OPTION = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where to train: auto picks CUDA when a GPU is present.",
)


def _one_source(file: str | None, bundled: str | None, what: str) -> None:
    """A command reads a file or a bundled dataset: exactly one of them."""
    if (file is None) == (bundled is None):
        raise LatentdimError(f"give {what} or --sklearn NAME (one of them)")


SKLEARN_OPTION = click.option(
    "--sklearn",
    "bundled",
    type=click.Choice(list(SKLEARN_DATA)),
    help="Use a dataset bundled with scikit-learn (digits: 8 x 8 images in [0, 1]) instead of a file.",
)


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
    shown = show_progress(f"train {model_name}", train_config.steps + stage2_steps, "it", quiet)

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


def _data_file(path: str | None) -> str | None:
    """A data file as typed, found in the working directory, else under $LATENTDIM_DATA."""
    return None if path is None else str(resolve_data_file(path, Path.cwd(), root_first=False))


def _main_loss(row: dict | None) -> str:
    """``ae_loss 0.0123``: the first loss of a logged row (the first step's), or ''."""
    losses = [(k, v) for k, v in (row or {}).items() if k.endswith("_loss")]
    return f"{losses[0][0]} {losses[0][1]:.4g}" if losses else ""


def _read_training_data(path: str):
    """The data matrix, and the ground truth when ``path`` is a make-data file (it holds
    the map and the latents: the manifold error and latent recovery can be measured)."""
    from latentdim.runs import GroundTruth

    if path.lower().endswith(".npz"):
        synthetic = False  # unreadable: read_matrix says why
        with contextlib.suppress(LatentdimError), reading(path), np.load(path, allow_pickle=False) as archive:
            synthetic = {"meta", "z", "weight_0"} <= set(archive.files)
        if synthetic:
            dataset = load_dataset(path)
            return check_matrix(dataset.x, path), GroundTruth.of(dataset)
    return read_matrix(path), None


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


def _default_study() -> Path:
    """``studies/default.toml`` in the working directory, else in the source tree."""
    from latentdim.studies import studies_dir

    candidate = studies_dir() / "default.toml"
    if not candidate.is_file():
        raise LatentdimError(f"no {candidate}; give a STUDY file")
    return candidate


class _Interrupted(Exception):
    """SIGTERM during a long command, raised in the driver like a KeyboardInterrupt."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _interruptible(stopped: Callable[[int], str]) -> Iterator[None]:
    """SIGINT (a KeyboardInterrupt) or SIGTERM (raised as :class:`_Interrupted`) in the
    block ends the command: the library's pools have terminated their workers on the
    way out; ``stopped(signum)`` says what was kept and how to go on; exit 128 + signum."""

    def terminated(signum, frame):
        raise _Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    except (KeyboardInterrupt, _Interrupted) as exc:
        signum = exc.signum if isinstance(exc, _Interrupted) else signal.SIGINT
        click.echo(f"\nlatentdim: {stopped(signum)}", err=True)
        sys.exit(128 + signum)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cell_line(record: dict) -> str:
    where = f"{record['dataset']} {record['model']} m={record['latent_dim']} seed#{record['replicate']}"
    seconds = record["timings"].get("wall_seconds", float("nan"))
    if record["status"] != "ok":
        return f"failed {where}: {record['error']['type']}: {record['error']['message']} ({seconds:.1f} s)"
    m = record["metrics"]
    nac = "n/a" if m["nac"] is None else f"{m['nac']:.3f}"
    recall = f"recall {m['recall']:.3f}, " if m.get("recall") is not None else ""
    return (
        f"ok     {where}: scaled FID {m['scaled_fid']:.4f}, {recall}active {m['active_dims']}, "
        f"NAC {nac} ({seconds:.1f} s)"
    )


@cli.command()
@click.argument("study_file", metavar="[STUDY]", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(file_okay=False), help="Output folder [runs/NAME].")
@click.option("-j", "--jobs", type=int, help="Local worker processes, one torch thread each [cores].")
@click.option("--executor", type=click.Choice(EXECUTOR_NAMES), default="local", show_default=True)
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Dask scheduler address (--executor dask).")
@click.option("--seeds", type=int, help="Replicates per (dataset, model, m) [the study's].")
@click.option(
    "--stack",
    default="auto",
    show_default=True,
    help="Most cells trained as one stacked model; auto: cells of one shape together; 1: one at a time.",
)
@DEVICE_OPTION
@click.option("--retry-failed", is_flag=True, help="Re-run cells recorded as failed.")
@click.option(
    "--reuse",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Another sweep folder: copy the cells it finished (same id) instead of training them. Repeatable.",
)
@click.option("--no-report", is_flag=True, help="Do not write the report and comparison afterwards.")
@click.option(
    "--update-reference",
    is_flag=True,
    help="Write into the study's committed reference folder (beside STUDY) instead of runs/NAME.",
)
@click.option("--list", "list_only", is_flag=True, help="List the studies available here and exit.")
@click.option("-v", "--verbose", is_flag=True, help="Log each finished cell on stderr.")
@QUIET_OPTION
def sweep(
    study_file,
    out,
    jobs,
    executor,
    scheduler,
    seeds,
    stack,
    device,
    retry_failed,
    reuse,
    no_report,
    update_reference,
    list_only,
    verbose,
    quiet,
):
    """Run a study (default: studies/default.toml) into runs/NAME, report it, and print
    it beside the study's reference outcome. Resumable: finished cells in
    OUT/records.jsonl are skipped."""
    import dataclasses

    from latentdim.studies import default_out, load_study
    from latentdim.sweep import RECORDS, RecordStore
    from latentdim.sweep import sweep as run_sweep

    if list_only:
        click.echo(_study_listing())
        return
    if stack != "auto":
        try:
            stack = int(stack)
        except ValueError:
            raise LatentdimError(f"--stack must be auto or an integer >= 1, got {stack!r}") from None
    path = Path(study_file) if study_file else _default_study()
    study = load_study(path)
    if seeds is not None:
        if seeds < 1:
            raise LatentdimError(f"--seeds must be >= 1, got {seeds}")
        study = dataclasses.replace(study, seeds=seeds)
    reference = study.reference_dir
    if update_reference:
        if out is not None and Path(out).resolve() != reference.resolve():
            raise LatentdimError(f"--update-reference writes {reference}; leave out -o")
        out = reference
    else:
        out = Path(out) if out else default_out(study)
    bar = None  # the progress display (a bar on a terminal, lines elsewhere)
    ran = 0

    def on_start(todo: int, total: int) -> None:
        nonlocal bar
        if verbose or todo < total:
            done = total - todo
            click.echo(f"sweep {study.name}: {total} cells, {done} already recorded in {out}", err=True)
        bar = show_progress(f"sweep {study.name}", todo, "cells", quiet)

    def on_record(record: dict) -> None:
        nonlocal ran
        ran += 1
        if verbose:
            click.echo(("\n" if sys.stderr.isatty() and bar else "") + _cell_line(record), err=True)
        if bar:
            bar.update(ran, _last_cell(record))

    def stopped(signum: int) -> str:
        nonlocal bar
        if bar:
            bar.close()
            bar = None
        # the executor has stopped its workers; every finished cell is on disk
        recorded = len(RecordStore(out / RECORDS).load(repair=False)) if (out / RECORDS).exists() else 0
        return (
            f"sweep interrupted ({signal.Signals(signum).name}); {recorded} cells are recorded in {out}: "
            "run the same command to resume"
        )

    try:
        with _interruptible(stopped):
            summary = run_sweep(
                study,
                out,
                executor=executor,
                jobs=jobs,
                scheduler=scheduler,
                retry_failed=retry_failed,
                on_start=on_start,
                on_record=on_record,
                command=["latentdim", *sys.argv[1:]],
                update_reference=update_reference,
                stack=stack,
                device=device,
                reuse=reuse,
            )
    finally:
        if bar:
            bar.close()
    retry = " (--retry-failed re-runs them)" if summary.failed else ""
    reused = f" (reused {summary.reused} from {', '.join(reuse)})" if summary.reused else ""
    click.echo(
        f"sweep {study.name}{reused}: ran {summary.ran} of {summary.cells} cells: {summary.ok} ok, "
        f"{summary.failed} failed{retry}; {summary.wall_seconds:.0f} s, "
        f"{summary.samples_per_second:.0f} training samples/s",
        err=True,
    )
    if no_report:
        return
    _report(out)
    if not update_reference and (reference / RECORDS).is_file():
        try:
            _against(out, reference)
        except LatentdimError as exc:
            click.echo(f"latentdim: note: not compared with the reference: {exc}", err=True)


def _last_cell(record: dict) -> str:
    where = f"last {record['model']} m={record['latent_dim']}"
    if record["status"] != "ok":
        return f"{where} failed"
    return f"{where} scaled FID {record['metrics']['scaled_fid']:.4f}"


def _study_listing() -> str:
    from latentdim.studies import list_studies, studies_dir

    listings = list_studies()
    lines = [f"studies in {studies_dir()} (run one with `latentdim sweep studies/NAME.toml`):"]
    width = max([len(s.name) for s in listings] + [5])
    lines.append(f"  {'study':{width}s}  {'cells':>5s}  {'reference run':>22s}  description")
    for s in listings:
        if s.reference_cells:
            wall = "wall n/a" if s.reference_wall_seconds is None else duration(s.reference_wall_seconds)
            ref = f"{s.reference_cells} cells, {wall}"
        else:
            ref = "none"
        first = " ".join(s.description.split()).split(". ")[0].rstrip(".")
        lines.append(f"  {s.name:{width}s}  {s.cells:5d}  {ref:>22s}  {first}")
    return "\n".join(lines)


@cli.command("report")
@click.argument("out", type=click.Path(file_okay=False))
@click.option(
    "--against",
    type=click.Path(file_okay=False),
    help="A reference sweep folder (e.g. studies/default) to print OUT beside.",
)
def report_command(out, against):
    """Write Fig 2, Fig 5, Table 2 and the optimal m of the sweep in OUT; with
    --against, print OUT's findings beside the reference's and whether they agree."""
    if against is not None:
        from latentdim.compare import compare_folders

        compare_folders(out, against)  # fail before writing anything
    _report(Path(out))
    if against is not None:
        _against(Path(out), Path(against))


def _report(out: Path) -> None:
    from latentdim.report import report

    result = report(out)
    click.echo(result.optima_text())
    click.echo(f"report: {out / 'REPORT.md'} ({len(result.files)} files)")


def _against(out: Path, reference: Path) -> None:
    from latentdim.compare import compare_folders

    comparison = compare_folders(out, reference)
    click.echo(comparison.text(yours=f"your run {out}", reference=f"the reference {reference}"))


# --sklearn NAME: the sklearn.datasets loader of each bundled dataset
def _band_available() -> bool:
    """Whether the classical band can run; if not, say so (a note, not an error)."""
    from latentdim.estimate import need_baselines

    try:
        need_baselines()
    except LatentdimError as exc:
        click.echo(f"latentdim: note: {exc}; skipping the classical band", err=True)
        return False
    return True


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


def _check_local_outputs(method: str, per_point: str | None, plot: str | None, force: bool) -> None:
    """Refuse, before any training, per-point outputs the method or the paths cannot take."""
    for option, path, suffix in (("--per-point", per_point, ".npy"), ("--plot", plot, ".png")):
        if path is None:
            continue
        if method != "vae":
            raise LatentdimError(f"{option} needs --method vae: MaskAAE's mask gives one global count")
        if not path.endswith(suffix):
            raise LatentdimError(f"{option} {path}: the file must end in {suffix}")
        if Path(path).exists() and not force:
            raise LatentdimError(f"{path} exists; use --force to overwrite")
        if not Path(path).parent.is_dir():
            raise LatentdimError(f"{option} {path}: no such folder {Path(path).parent}")


def _write_local(estimator, name: str, per_point: str | None, plot: str | None) -> None:
    if per_point:
        with atomic_path(per_point, force=True) as tmp, open(tmp, "wb") as handle:
            np.save(handle, estimator.local_dimension_)
    if plot:
        from latentdim.report import local_dimension_figure

        title = f"{name}: local dimension per point"
        local_dimension_figure(estimator.local_dimension_, estimator.dimension_, title, Path(plot))


def _contrast_text(contrast: float | None) -> str:
    if contrast is None:
        return ""
    return f"; gap contrast, median over points: {contrast:.3g} (near 1: no clear gap, weak evidence)"


def _settled_note(result: dict) -> str:
    trained, asked = len(result["per_seed"]), result["seeds"]
    return "" if trained == asked else f" ({trained} of {asked}: the rest could not change the median)"


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@SKLEARN_OPTION
@click.option(
    "--method",
    type=click.Choice(ESTIMATOR_NAMES),
    default="vae",
    show_default=True,
    help="The local dimension of learned-variance VAEs (see VAEDimension), or MaskAAE's active dims "
    "(faster; undercounts n >= 16).",
)
@click.option(
    "--seeds",
    type=int,
    default=3,
    show_default=True,
    help="Runs per capacity (at most, with --settle).",
)
@click.option(
    "--settle",
    is_flag=True,
    help="On the CPU with fewer jobs than seeds, stop once the seeds left cannot change the median "
    "(faster where the first seeds agree, slower where not).",
)
@click.option("--steps", type=int, help="Iterations per run [vae 48000, maskaae 3000].")
@click.option("--latent-dim", "-m", default="auto", show_default=True, help="Starting capacity, or auto.")
@click.option("-j", "--jobs", type=int, help="Processes the seeds' stack is split over [cores; 1 on CUDA].")
@click.option("--seed", type=int, default=0, show_default=True, help="random_state of the estimator.")
@click.option(
    "--max-rows",
    type=int,
    default=50_000,
    show_default=True,
    help="Train on at most this many rows (a random subsample of larger data).",
)
@DEVICE_OPTION
@click.option("--no-baselines", is_flag=True, help="Skip the classical estimators.")
@click.option(
    "--per-point",
    type=click.Path(dir_okay=False),
    help="Write each row's local dimension to this .npy file (--method vae).",
)
@click.option(
    "--plot", type=click.Path(dir_okay=False), help="Write a histogram of them to this .png (--method vae)."
)
@click.option("--force", is_flag=True, help="Replace existing --per-point / --plot files.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def estimate(
    file,
    bundled,
    method,
    seeds,
    settle,
    steps,
    latent_dim,
    jobs,
    seed,
    max_rows,
    device,
    no_baselines,
    per_point,
    plot,
    force,
    as_json,
):
    """Estimate the intrinsic dimension of FILE (.npy, .npz, .csv) with learned-variance VAEs
    (or MaskAAE), beside the classical estimators (TwoNN, MLE, DANCoFit, local PCA)."""
    import time

    from latentdim.estimate import ESTIMATORS
    from latentdim.sweep import default_jobs
    from latentdim.training import resolve_device

    _one_source(file, bundled, "a data FILE")
    if latent_dim != "auto":
        try:
            latent_dim = int(latent_dim)
        except ValueError:
            raise LatentdimError(f"--latent-dim must be an integer or auto, got {latent_dim!r}") from None
    _check_local_outputs(method, per_point, plot, force)
    name = file if file else f"sklearn {bundled}"
    x = read_matrix(_data_file(file)) if file else sklearn_data(bundled)
    device = str(resolve_device(device))
    jobs = jobs or (1 if device.startswith("cuda") else default_jobs())
    budget = {} if steps is None else {"steps": steps}
    estimator = ESTIMATORS[method](
        latent_dim=latent_dim,
        seeds=seeds,
        settle=settle,
        n_jobs=jobs,
        random_state=seed,
        device=device,
        max_rows=max_rows,
        **budget,
    )
    start = time.perf_counter()

    bar, bar_m = None, None  # the open progress bar (a TTY only), and its capacity

    def close_bar() -> None:
        nonlocal bar
        if bar is not None:
            bar.__exit__(None, None, None)
            bar = None

    def stopped(signum: int) -> str:
        close_bar()
        sig = signal.Signals(signum).name
        return f"estimate interrupted ({sig}); nothing was written: run the command again"

    def progress(done: int, total: int, m: int) -> None:
        nonlocal bar, bar_m
        if bar is None or m != bar_m:
            close_bar()
            label = f"{'MaskAAE' if method == 'maskaae' else 'VAE'} m = {m}"
            bar, bar_m = click.progressbar(length=total, label=label, file=sys.stderr), m
            bar.__enter__()
        bar.length = total  # a round of seeds added
        bar.update(done - bar.pos)

    band = not no_baselines and _band_available()
    try:
        with _interruptible(stopped):
            estimator.fit(x, progress=progress if sys.stderr.isatty() else None, band=band)
            close_bar()
            seconds = time.perf_counter() - start
    except ValueError as exc:
        raise LatentdimError(str(exc)) from None
    baselines = estimator.band_ if band else {}
    result = {"data": {"name": name, "shape": list(x.shape)}, **estimator.result()}
    result["seconds"] = seconds
    result["baselines"] = baselines
    _write_local(estimator, name, per_point, plot)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    lo, hi = result["interval"]
    span = f", spanning {estimator.rank_} dims" if estimator.rank_ < len(estimator.columns_) else ""
    click.echo(f"{name}: {x.shape[0]} x {x.shape[1]} ({len(estimator.columns_)} non-constant columns{span})")
    if estimator.rows_used_ < x.shape[0]:
        click.echo(
            f"trained on {estimator.rows_used_} of the {x.shape[0]} rows (a random subsample; --max-rows)"
        )
    reading = "MaskAAE active dims" if method == "maskaae" else "VAE local dimension, median over points"
    click.echo(
        f"intrinsic dimension ({reading}): {result['dimension']:g}  "
        f"[seeds {', '.join(f'{v:g}' for v in result['per_seed'])}{_settled_note(result)}; "
        f"range {lo:g}-{hi:g}; "
        f"capacity m = {result['latent_dim']}; {result['seconds']:.0f} s]"
    )
    if method == "vae":
        shares = sorted(result["local_dimension"].items(), key=lambda kv: int(kv[0]))
        total = sum(rows for _, rows in shares)
        click.echo(
            f"latent units in use (posterior variance): {', '.join(map(str, result['latent_counts']))}; "
            "local dimension per point: "
            + ", ".join(f"{v}: {100 * rows / total:.0f}%" for v, rows in shares if rows / total >= 0.01)
            + _contrast_text(result["gap_contrast"])
        )
    noise = sum(result.get("read_as_noise", []))
    if noise:
        shares = ", ".join(f"{r:.2f}" for r in result["residual_share"])
        click.echo(
            f"note: {noise} of {len(result['per_seed'])} seeds left at least half of the data's variance "
            f"unexplained (residual share {shares}): they found no structure below the noise and read "
            f"D = {estimator.rank_}; a VAE that stayed at its prior can do this on low-dimensional data "
            "too (docs/estimate.md): read it beside the classical band"
        )
    if result["saturated"]:
        click.echo(
            f"note: the model kept (almost) every dim at the full capacity m = {result['latent_dim']}: "
            "read the estimate as an upper bound"
        )
    if baselines:
        band = ", ".join(f"{k} {v['dimension']:.2f}" for k, v in baselines.items())
        rows = max(v["rows"] for v in baselines.values())
        read = f" (on {rows} random rows)" if rows < x.shape[0] else ""
        click.echo(f"classical band{read}: {band}")
