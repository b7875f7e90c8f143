"""``latentdim make-data`` and ``latentdim info``: synthetic datasets with a known n."""

from __future__ import annotations

import json
from pathlib import Path

import click

from latentdim.cli.common import (
    cli,
)
from latentdim.data.latents import LATENT_LAWS
from latentdim.data.synthetic import SyntheticSpec, generate, load_dataset, spec_from_recipe
from latentdim.errors import LatentdimError


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
