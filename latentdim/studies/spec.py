"""A study spec: its datasets, models, grid and claims, parsed and checked at load;
the cells it expands into; where its data and reference outcome are."""

from __future__ import annotations

import functools
import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from latentdim.config import ModelConfig, TrainConfig
from latentdim.data.readers import image_shape_of, read_matrix, resolve_data_file, sklearn_data
from latentdim.data.synthetic import SyntheticSpec, generate, spec_from_recipe
from latentdim.errors import LatentdimError
from latentdim.files import canonical_json, config_hash, json_lines, reading, sha256_arrays
from latentdim.models import MODELS
from latentdim.studies.claims import check_models, parse_claims

_STUDY_KEYS = {"name", "description", "seed", "datasets", "models", "latent_dims", "seeds", "train", "model"}
_STUDY_KEYS |= {"claims"}
_WHERE = ("file", "test_file")  # where a cell's data sits: not part of its identity
_MODEL_KEYS = {f.name for f in fields(ModelConfig)} - {"model", "latent_dim", "data_dim"}
_TRAIN_KEYS = {f.name for f in fields(TrainConfig)} - {"seed"}


@dataclass(frozen=True)
class Cell:
    """One training run of a study: everything it needs, nothing it does not."""

    dataset: str
    data: dict
    model: str
    model_config: dict
    latent_dim: int
    replicate: int
    seed: int
    train: dict
    threads: int = 1

    @property
    def id(self) -> str:
        """Hash of the cell's canonical JSON, less where its data files sit (their SHA-256
        names the data): its identity in the records, the same wherever the data is kept,
        so a study's committed records resume on another machine."""
        cell = asdict(self)
        cell["data"] = {k: v for k, v in cell["data"].items() if k not in _WHERE}
        return config_hash(cell)

    @property
    def true_dim(self) -> int | None:
        """The data's true latent dimension n (synthetic data), or None (real data)."""
        return int(self.data["n"]) if "n" in self.data else None

    def label(self) -> str:
        return f"{self.dataset} {self.model} m={self.latent_dim} seed#{self.replicate}"


@dataclass(frozen=True)
class Study:
    """A parsed study spec; :meth:`cells` expands its grid."""

    name: str
    datasets: dict[str, dict]
    models: dict[str, dict]
    latent_dims: tuple[int, ...]
    grids: dict[str, tuple[int, ...]] = field(default_factory=dict)
    seeds: int = 1
    seed: int = 0
    train: dict = field(default_factory=dict)
    description: str = ""
    path: str | None = None
    model_train: dict[str, dict] = field(default_factory=dict)  # per model label: [train] overrides
    claims: tuple[dict, ...] = ()  # what the report gives a verdict (latentdim.studies.claims)

    def replicate_seeds(self) -> list[int]:
        """Training seed of each replicate, from ``SeedSequence(seed).spawn(seeds)``."""
        children = np.random.SeedSequence(self.seed).spawn(self.seeds)
        return [int(child.generate_state(1)[0] >> 1) for child in children]

    def cells(self) -> list[Cell]:
        """The grid in a fixed order: dataset, model, m, replicate."""
        seeds = self.replicate_seeds()
        return [
            Cell(
                dataset=dataset,
                data=data,
                model=label,
                model_config=model,
                latent_dim=m,
                replicate=r,
                seed=seeds[r],
                train={**self.train, **self.model_train.get(label, {})},
            )
            for dataset, data in self.datasets.items()
            for label, model in self.models.items()
            for m in self.grids.get(dataset, self.latent_dims)
            for r in range(self.seeds)
        ]

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def reference_dir(self) -> Path | None:
        """The committed reference outcome: the folder named after the study beside its spec."""
        return None if self.path is None else Path(self.path).parent / self.name


RUNS = Path("runs")


def default_out(study: Study) -> Path:
    """Where a user's sweep of ``study`` goes unless told otherwise: ``runs/NAME``."""
    return RUNS / study.name


def is_reference_dir(folder: str | os.PathLike, study: Study | None = None) -> bool:
    """Whether ``folder`` is a study's reference outcome: ``study``'s, or any folder
    ``X`` with a study spec ``X.toml`` beside it."""
    folder = Path(folder).resolve()
    if study is not None and study.reference_dir is not None:
        if folder == study.reference_dir.resolve():
            return True
    return folder.with_name(folder.name + ".toml").is_file()


def studies_dir() -> Path:
    """``studies/`` in the working directory, else the one in the source tree."""
    for base in (Path(), Path(__file__).resolve().parents[2]):  # the repository root
        if (base / "studies").is_dir():
            return base / "studies"
    raise LatentdimError("no studies/ folder here or in the source tree")


@dataclass(frozen=True)
class StudyListing:
    """One line of ``latentdim sweep --list``: a spec and what its reference run took."""

    name: str
    path: Path
    description: str
    cells: int
    reference_cells: int
    reference_wall_seconds: float | None


def list_studies(folder: str | os.PathLike | None = None) -> list[StudyListing]:
    """Every study spec in ``folder`` (default :func:`studies_dir`), with the number of
    cells and the wall time of its reference run (from the reference's ``sweeps.jsonl``:
    the invocations that ran cells; None when none was logged there)."""
    folder = Path(folder) if folder is not None else studies_dir()
    listings = []
    for path in sorted(folder.glob("*.toml")):
        try:
            with open(path, "rb") as handle:
                if "models" not in tomllib.load(handle):
                    continue  # not a study spec (a dataset recipe, say)
        except (OSError, ValueError):  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
            pass  # load_study names the problem
        try:
            study = load_study(path)
        except LatentdimError as exc:
            listings.append(StudyListing(path.stem, path, f"cannot be planned here: {exc}", 0, 0, None))
            continue
        reference = study.reference_dir
        ok = {r.get("id") for r in json_lines(reference / "records.jsonl") if r.get("status") == "ok"}
        walls = [
            r["summary"]["wall_seconds"]
            for r in json_lines(reference / "sweeps.jsonl")
            if r.get("summary", {}).get("ran")
        ]
        wall = sum(walls) if walls else None
        listings.append(StudyListing(study.name, path, study.description, len(study.cells()), len(ok), wall))
    return listings


def load_study(path: str | os.PathLike, recipes: str | os.PathLike | None = None) -> Study:
    """Parse and validate a study TOML. Dataset names resolve to ``RECIPES/NAME.toml``
    (default: the ``synthetic/`` folder beside the study's folder), or are paths."""
    path = Path(path)
    with reading(f"study {path}"), open(path, "rb") as handle:
        spec = tomllib.load(handle)
    where = f"study {path}"
    unknown = sorted(set(spec) - _STUDY_KEYS)
    if unknown:
        raise LatentdimError(f"{where}: unknown keys {', '.join(unknown)}")
    for key in ("datasets", "models", "latent_dims"):
        if not isinstance(spec.get(key), list) or not spec[key]:
            raise LatentdimError(f"{where}: '{key}' must be a non-empty list")
    recipes = Path(recipes) if recipes is not None else path.resolve().parent.parent / "synthetic"
    latent_dims = _grid(spec["latent_dims"], where)
    datasets, grids = {}, {}
    for entry in spec["datasets"]:
        grid = None
        if isinstance(entry, dict):
            entry = dict(entry)
            grid = entry.pop("latent_dims", None)
            keys = {"recipe", "sklearn", "path", "test_path", "name"}
            table = _table(entry, keys, f"{where}: dataset {entry}")
            sources = [k for k in ("recipe", "sklearn", "path") if k in table]
            if len(sources) != 1:
                raise LatentdimError(f"{where}: a dataset table needs one of 'recipe', 'sklearn' or 'path'")
            if "test_path" in table and "path" not in table:
                raise LatentdimError(f"{where}: dataset {entry}: 'test_path' goes with 'path'")
            if sources != ["recipe"]:
                name, data = _real_dataset(table, path.parent, where)
            else:
                name, data = _dataset(table["recipe"], path.parent, recipes, where)
            name = str(table.get("name", name))
        else:
            name, data = _dataset(entry, path.parent, recipes, where)
        if name in datasets:
            raise LatentdimError(f"{where}: dataset {name!r} appears twice")
        datasets[name] = data
        if grid is not None:
            grids[name] = _grid(grid, f"{where}: dataset {name!r}")
    defaults = _table(spec.get("model", {}), _MODEL_KEYS, f"{where}: [model]")
    models, model_train = {}, {}
    for entry in spec["models"]:
        label, config, overrides = _model(entry, defaults, where)
        if label in models:
            raise LatentdimError(f"{where}: model label {label!r} appears twice")
        models[label] = config
        if overrides:
            model_train[label] = overrides
    _check_images(datasets, models, where)
    seeds, seed = spec.get("seeds", 1), spec.get("seed", 0)
    if not isinstance(seeds, int) or seeds < 1:
        raise LatentdimError(f"{where}: seeds must be an integer >= 1")
    if not isinstance(seed, int) or seed < 0:
        raise LatentdimError(f"{where}: seed must be an integer >= 0")
    train = _table(spec.get("train", {}), _TRAIN_KEYS, f"{where}: [train]")
    for overrides in [{}, *model_train.values()]:
        TrainConfig(**{**train, **overrides})  # validate now, not in a worker
    claims = parse_claims(spec.get("claims", []), where)
    check_models(claims, set(models), where)
    return Study(
        name=str(spec.get("name", path.stem)),
        description=str(spec.get("description", "")),
        datasets=datasets,
        models=models,
        latent_dims=latent_dims,
        grids=grids,
        seeds=seeds,
        seed=seed,
        train=train,
        path=str(path),
        model_train=model_train,
        claims=claims,
    )


def _check_images(datasets: dict[str, dict], models: dict[str, dict], where: str) -> None:
    """Every dataset must be an image set of the right size for every model that reads
    images: a convolutional net, or a model given an image shape."""
    readers = {
        label: m for label, m in models.items() if m.get("net") == "conv" or m.get("image_shape") is not None
    }
    if not readers:
        return
    for name, data in datasets.items():
        source = image_shape_of(data.get("file"), data.get("sklearn"))  # read once per dataset
        columns = data["shape"][1] if "shape" in data else data["d"]
        for label, model in readers.items():
            shape = model.get("image_shape") or source
            if shape is None:
                raise LatentdimError(
                    f"{where}: model {label!r} has net 'conv', but dataset {name!r} is not a set of "
                    "images: give its image shape, image_shape = [C, H, W]"
                )
            try:
                ModelConfig("wae-mmd", 1, columns, image_shape=shape, net=model.get("net", "mlp"))
            except LatentdimError as exc:
                raise LatentdimError(f"{where}: model {label!r} on dataset {name!r}: {exc}") from None


def _grid(value, where: str) -> tuple[int, ...]:
    ok = isinstance(value, list) and value and all(isinstance(m, int) and m >= 1 for m in value)
    if not ok or len(set(value)) < len(value):
        raise LatentdimError(f"{where}: latent_dims must be distinct integers >= 1")
    return tuple(sorted(value))


def _table(value, allowed: set[str], where: str) -> dict:
    if not isinstance(value, dict):
        raise LatentdimError(f"{where} must be a table")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise LatentdimError(f"{where}: unknown keys {', '.join(unknown)}")
    return dict(value)


def _dataset(entry, study_dir: Path, recipes: Path, where: str) -> tuple[str, dict]:
    if not isinstance(entry, str):
        raise LatentdimError(f"{where}: datasets must be recipe names or paths, got {entry!r}")
    candidates = [study_dir / entry, recipes / f"{entry}.toml"]
    recipe = next((c for c in candidates if c.is_file()), None)
    if recipe is None:
        raise LatentdimError(f"{where}: no recipe {entry!r} (looked for {recipes / (entry + '.toml')})")
    spec: SyntheticSpec = spec_from_recipe(recipe)
    return Path(entry).stem, spec.to_dict()


def _real_dataset(table: dict, study_dir: Path, where: str) -> tuple[str, dict]:
    """(name, cell data) of a dataset of unknown n: ``sklearn = "digits"`` (bundled with
    scikit-learn) or ``path = "..."`` (a matrix or MNIST-format file; a relative path is
    looked for under ``$LATENTDIM_DATA``, then in the study's folder), optionally with
    ``test_path``, its held-out set (MNIST's t10k file: cells train on every row of
    ``path`` and are scored against the test rows). A file's cells carry its absolute
    path and its SHA-256, so a cell whose file has changed since it was planned fails
    rather than mixing data."""
    if "sklearn" in table:
        name = str(table["sklearn"])
        x = sklearn_data(name)
        return name, {"sklearn": name, "shape": list(x.shape)}
    try:
        file = resolve_data_file(str(table["path"]), study_dir, root_first=True)
        test = table.get("test_path")
        test = None if test is None else resolve_data_file(str(test), study_dir, root_first=True)
    except LatentdimError as exc:
        raise LatentdimError(f"{where}: {exc}") from None
    x = read_matrix(file)
    data = {"file": str(file), "sha256": sha256_arrays(x), "shape": list(x.shape)}
    if test is not None:
        x_test = read_matrix(test)
        if x_test.shape[1] != x.shape[1]:
            raise LatentdimError(
                f"{where}: test_path {test} has {x_test.shape[1]} columns, path {file} has {x.shape[1]}"
            )
        data.update(test_file=str(test), test_sha256=sha256_arrays(x_test), test_shape=list(x_test.shape))
    return file.name.split(".")[0], data


def cell_data(data: dict) -> tuple[np.ndarray, object | None, np.ndarray | None]:
    """The rows of a cell's dataset, its ground truth (synthetic data) or None, and its
    held-out set of its own (``test_path``) or None."""
    from latentdim.runs import GroundTruth

    if "sklearn" in data:
        return sklearn_data(data["sklearn"]), None, None
    if "file" in data:
        x = checked_rows(data["file"], data["sha256"])
        test = None if "test_file" not in data else checked_rows(data["test_file"], data["test_sha256"])
        return x, None, test
    dataset = _synthetic_dataset(canonical_json(data))
    return dataset.x, GroundTruth.of(dataset), None


def checked_rows(file: str, sha256: str) -> np.ndarray:
    """The rows of ``file``, which must still hash to ``sha256``."""
    x = read_matrix(file)
    if sha256_arrays(x) != sha256:
        raise LatentdimError(f"{file} has changed since the study was planned (its SHA-256 differs)")
    return x


def _model(entry, defaults: dict, where: str) -> tuple[str, dict, dict]:
    """(label, model config, [train] overrides) of a model entry: a name, or a table
    whose keys are ModelConfig fields, TrainConfig fields (``steps = 12000``: this
    model's budget) and ``label``."""
    if isinstance(entry, str):
        entry = {"model": entry}
    if not isinstance(entry, dict) or "model" not in entry:
        raise LatentdimError(f"{where}: a model is a name or a table with a 'model' key, got {entry!r}")
    entry = dict(entry)
    name = entry.pop("model")
    label = str(entry.pop("label", name))
    if name not in MODELS:
        raise LatentdimError(f"{where}: unknown model {name!r} (choose from {', '.join(MODELS)})")
    overrides = _table(entry, _MODEL_KEYS | _TRAIN_KEYS, f"{where}: model {label!r}")
    train = {k: overrides.pop(k) for k in list(overrides) if k in _TRAIN_KEYS}
    config = {"model": name, **defaults, **overrides}
    ModelConfig(latent_dim=1, **config)  # validate now, not in a worker
    return label, config, train


# -- running one cell -----------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _synthetic_dataset(data_json: str):
    return generate(SyntheticSpec(**json.loads(data_json)))
