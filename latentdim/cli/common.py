"""The ``latentdim`` group and what its commands share: one-line errors, the options
several commands take, reading a data file, stopping cleanly on a signal."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import numpy as np

from latentdim.data.readers import (
    SKLEARN_DATA,
    check_matrix,
    read_matrix,
    resolve_data_file,
)
from latentdim.data.synthetic import load_dataset
from latentdim.errors import DivergenceError, LatentdimError
from latentdim.files import reading


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


def _data_file(path: str | None) -> str | None:
    """A data file as typed, found in the working directory, else under $LATENTDIM_DATA."""
    return None if path is None else str(resolve_data_file(path, Path.cwd(), root_first=False))


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


class _Interrupted(BaseException):
    """SIGTERM during a long command, raised in the driver like a KeyboardInterrupt, and
    like it a BaseException: code that turns a cell's Exception into a failed record
    (an inline sweep, ``-j 1``) lets it through instead of recording it and going on."""

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
