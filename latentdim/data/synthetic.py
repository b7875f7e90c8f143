"""Synthetic data with a known intrinsic dimension (METHOD.md §1-2).

z is drawn from an isotropic law on R^n and pushed through a frozen random MLP
f: R^n -> R^d built so that the hypothesis' assumptions hold by construction:

* widths are non-decreasing, n <= width <= d, and every weight matrix is Gaussian, so
  each has full column rank almost surely and each layer is injective;
* the activation is LeakyReLU (a bijection with Lipschitz constant 1), never ReLU;
* every weight matrix is rescaled to spectral norm ``lipschitz ** (1 / depth)``, so
  Lip(f) <= prod_i ||W_i||_2 = ``lipschitz`` (the product is recomputed and recorded).

Biases are Gaussian with standard deviation half the typical pre-activation scale of
their layer, so the LeakyReLU kinks cut through the bulk of the data rather than
sitting at the origin (our definition). Optional additive noise x = f(z) + sigma*eps.

Randomness: the seed feeds a ``numpy.random.SeedSequence`` whose three children draw
the map, the latents and the noise, so the same seed gives the same map whatever the
sample count, and the first rows of a larger sample equal a smaller one.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from latentdim.data.latents import LATENT_LAWS
from latentdim.data.readers import check_magic
from latentdim.errors import LatentdimError
from latentdim.files import atomic_path, reading, sha256_arrays, versions

FORMAT = "latentdim.synthetic/1"
NEGATIVE_SLOPE = 0.2


def default_width(n: int, d: int) -> int:
    """Hidden width when none is given: max(4n, 64), capped at d.

    Four times n keeps the Jacobian well conditioned (at n = 32, d = 128 its condition
    number falls from ~76 at width 2n to ~17), so the data looks n-dimensional at
    practical sample sizes, not only in the limit.
    """
    return min(d, max(4 * n, 64))


_SPEC_TYPES = {
    **dict.fromkeys(("n", "d", "samples", "seed", "depth"), int),
    "width": (int, type(None)),
    "latent": str,
    **dict.fromkeys(("lipschitz", "noise"), (int, float)),
}
_SPEC_TYPE_NAMES = {
    int: "an integer",
    (int, type(None)): "an integer",
    str: "a string",
    (int, float): "a number",
}


@dataclass(frozen=True)
class SyntheticSpec:
    """Everything that determines a synthetic dataset, validated on construction.

    ``depth`` counts the linear layers (depth - 1 hidden layers of ``width`` units).
    """

    n: int
    d: int
    samples: int = 20000
    seed: int = 0
    latent: str = "gaussian"
    depth: int = 3
    width: int | None = None
    lipschitz: float = 4.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kinds = _SPEC_TYPES[f.name]
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise LatentdimError(f"{f.name} must be {_SPEC_TYPE_NAMES[kinds]}, got {value!r}")
        problems = [
            (self.n <= 0, f"n must be positive, got {self.n}"),
            (self.d < self.n, f"d must be >= n, got d={self.d} < n={self.n}"),
            (self.samples < 2, f"samples must be >= 2, got {self.samples}"),
            (self.seed < 0, f"seed must be >= 0, got {self.seed}"),
            (self.depth < 1, f"depth must be >= 1, got {self.depth}"),
            (not self.lipschitz > 0, f"lipschitz must be > 0, got {self.lipschitz}"),
            (not self.noise >= 0, f"noise must be >= 0, got {self.noise}"),
            (
                self.latent not in LATENT_LAWS,
                f"unknown latent law {self.latent!r}; choose from {', '.join(LATENT_LAWS)}",
            ),
        ]
        if self.width is not None:
            problems += [
                (self.width < self.n, f"width must be >= n, got {self.width} < {self.n}"),
                (
                    self.width > self.d,
                    f"width must be <= d (layers stay injective), got {self.width} > {self.d}",
                ),
            ]
        for bad, message in problems:
            if bad:
                raise LatentdimError(message)

    @property
    def widths(self) -> list[int]:
        """Layer sizes from input to output: [n, w, ..., w, d]."""
        width = self.width if self.width is not None else default_width(self.n, self.d)
        return [self.n] + [width] * (self.depth - 1) + [self.d]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(eq=False)
class SyntheticMap:
    """The frozen map f: a LeakyReLU MLP given by its weights and biases."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """f(z) = W_L a(... a(W_1 z + b_1) ...) + b_L, a = LeakyReLU(0.2), row-wise."""
        h = np.asarray(z, dtype=np.float64)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            if i < len(self.weights) - 1:
                h = np.where(h > 0, h, NEGATIVE_SLOPE * h)
        return h

    def jacobian(self, z: np.ndarray) -> np.ndarray:
        """J_f(z) = W_L D_{L-1} W_{L-1} ... D_1 W_1, D_i the LeakyReLU slopes; d x n."""
        h = np.asarray(z, dtype=np.float64)
        jac = np.eye(h.shape[0])
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = w @ h + b
            jac = w @ jac
            if i < len(self.weights) - 1:
                slope = np.where(h > 0, 1.0, NEGATIVE_SLOPE)
                h = slope * h
                jac = slope[:, None] * jac
        return jac

    def jacobians(self, z: np.ndarray) -> np.ndarray:
        """:meth:`jacobian` at every row of ``z``: an N x d x n array."""
        h = np.asarray(z, dtype=np.float64)
        jac = None
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            jac = np.broadcast_to(w, (h.shape[0], *w.shape)) if jac is None else np.matmul(w, jac)
            if i < len(self.weights) - 1:
                slope = np.where(h > 0, 1.0, NEGATIVE_SLOPE)
                h = slope * h
                jac = slope[:, :, None] * jac
        return np.array(jac)

    def project(
        self, x: np.ndarray, z0: np.ndarray, iterations: int = 100, rtol: float = 1e-10, batch: int = 256
    ) -> tuple[np.ndarray, np.ndarray]:
        """The nearest point of the manifold: argmin_z ||f(z) - x|| for every row of
        ``x``, by Levenberg-Marquardt started from the rows of ``z0`` (a local minimum
        near the start). Returns (z, distance). Piecewise linear f makes each accepted
        Gauss-Newton step exact within a linear region, so few iterations are needed.
        """
        x = np.asarray(x, np.float64)
        z_out = np.array(z0, dtype=np.float64, copy=True)
        dist = np.empty(x.shape[0])
        for start in range(0, x.shape[0], batch):
            rows = slice(start, start + batch)
            z_out[rows], dist[rows] = self._project(x[rows], z_out[rows], iterations, rtol)
        return z_out, dist

    def _project(self, x, z, iterations, rtol):
        residual = self(z) - x
        cost = np.einsum("bd,bd->b", residual, residual)
        damping = np.full(x.shape[0], 1e-3)
        active = np.ones(x.shape[0], dtype=bool)
        gram = np.empty((x.shape[0], z.shape[1], z.shape[1]))
        grad = np.empty(z.shape)
        stale = np.ones(x.shape[0], dtype=bool)  # J'J and J'r to recompute (z moved)
        for _ in range(iterations):
            if not active.any():
                break
            renew = np.flatnonzero(active & stale)
            if renew.size:
                jac_t = self.jacobians(z[renew]).transpose(0, 2, 1)
                gram[renew] = np.matmul(jac_t, jac_t.transpose(0, 2, 1))
                grad[renew] = np.matmul(jac_t, residual[renew][..., None])[..., 0]
                stale[renew] = False
            index = np.flatnonzero(active)
            g = gram[index]
            diagonal = np.einsum("bnn->bn", g) + 1e-12  # LM: damp by diag(J'J)
            damped = g + (damping[index, None] * diagonal)[:, :, None] * np.eye(z.shape[1])
            trial = z[index] + np.linalg.solve(damped, -grad[index][..., None])[..., 0]
            trial_residual = self(trial) - x[index]
            trial_cost = np.einsum("bd,bd->b", trial_residual, trial_residual)
            better = trial_cost < cost[index]
            gain = cost[index] - trial_cost
            accepted = index[better]
            z[accepted], residual[accepted] = trial[better], trial_residual[better]
            cost[accepted] = trial_cost[better]
            stale[accepted] = True
            damping[accepted] = np.maximum(damping[accepted] / 10.0, 1e-12)
            damping[index[~better]] *= 10.0
            # a point is done when a step gains (almost) nothing, or no small step gains
            done = (better & (gain <= rtol * cost[index])) | (damping[index] > 1e8) | (cost[index] == 0)
            active[index[done]] = False
        return z, np.sqrt(cost)

    @property
    def lipschitz_bound(self) -> float:
        """prod_i ||W_i||_2 >= Lip(f), since LeakyReLU is 1-Lipschitz."""
        return float(np.prod([np.linalg.norm(w, 2) for w in self.weights]))

    @classmethod
    def random(cls, spec: SyntheticSpec, rng: np.random.Generator) -> SyntheticMap:
        """Gaussian layers rescaled to spectral norm lipschitz^(1/depth) each."""
        scale = spec.lipschitz ** (1.0 / spec.depth)
        weights, biases = [], []
        for fan_in, fan_out in zip(spec.widths[:-1], spec.widths[1:], strict=True):
            w = rng.standard_normal((fan_out, fan_in))
            w *= scale / np.linalg.norm(w, 2)
            # typical |pre-activation| for unit-variance inputs is the RMS row norm
            b = 0.5 * np.sqrt(np.mean(np.sum(w**2, axis=1))) * rng.standard_normal(fan_out)
            weights.append(w)
            biases.append(b)
        return cls(weights, biases)


@dataclass(eq=False)
class Dataset:
    """A synthetic dataset: data ``x`` (N x d, float32), true latents ``z``, the map
    and a metadata record (spec, Lipschitz bound, versions, content hash)."""

    x: np.ndarray
    z: np.ndarray
    map: SyntheticMap
    meta: dict = field(default_factory=dict)

    @property
    def spec(self) -> SyntheticSpec:
        names = {f.name for f in fields(SyntheticSpec)}
        return SyntheticSpec(**{k: v for k, v in self.meta["spec"].items() if k in names})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dataset):
            return NotImplemented
        mine = [self.x, self.z, *self.map.weights, *self.map.biases]
        theirs = [other.x, other.z, *other.map.weights, *other.map.biases]
        return (
            self.meta == other.meta
            and len(mine) == len(theirs)
            and all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True))
        )

    def save(self, path: str | os.PathLike, *, force: bool = False) -> Path:
        """Write one ``.npz`` (no pickles) through a temporary file and a rename."""
        arrays = {"x": self.x, "z": self.z, "meta": np.array(json.dumps(self.meta))}
        for i, (w, b) in enumerate(zip(self.map.weights, self.map.biases, strict=True)):
            arrays[f"weight_{i}"] = w
            arrays[f"bias_{i}"] = b
        with atomic_path(path, force=force) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        return Path(path)


def generate(spec: SyntheticSpec) -> Dataset:
    """Draw the map, the latents and the noise from ``spec.seed`` and build the data."""
    map_seed, latent_seed, noise_seed = np.random.SeedSequence(spec.seed).spawn(3)
    fmap = SyntheticMap.random(spec, np.random.default_rng(map_seed))
    z = LATENT_LAWS[spec.latent](np.random.default_rng(latent_seed), spec.samples, spec.n)
    x = fmap(z)
    if spec.noise > 0:
        x = x + spec.noise * np.random.default_rng(noise_seed).standard_normal(x.shape)
    x = x.astype(np.float32)
    z = z.astype(np.float32)
    meta = {
        "format": FORMAT,
        "spec": spec.to_dict(),
        "widths": spec.widths,
        "activation": f"leaky_relu({NEGATIVE_SLOPE})",
        "lipschitz_bound": fmap.lipschitz_bound,
        "sha256": sha256_arrays(x, z),
        "versions": versions(),
    }
    return Dataset(x=x, z=z, map=fmap, meta=meta)


def make_dataset(n: int, d: int, **options) -> Dataset:
    """Make a synthetic dataset in memory: ``make_dataset(8, 128, samples=5000)``.

    Options are the fields of :class:`SyntheticSpec`.
    """
    return generate(SyntheticSpec(n=n, d=d, **options))


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Read a dataset written by :meth:`Dataset.save`, checked against itself: the
    map's shapes chain from n to d, x and z have one row per sample, and x and z
    hash to the SHA-256 recorded when the file was made."""
    check_magic(Path(path))
    with reading(f"dataset {path}"), np.load(path, allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"]))
        if not isinstance(meta, dict) or not isinstance(meta.get("widths"), list):
            raise LatentdimError(f"dataset {path}: its metadata is not a latentdim dataset's")
        depth = len(meta["widths"]) - 1
        dataset = Dataset(
            x=archive["x"],
            z=archive["z"],
            map=SyntheticMap(
                weights=[archive[f"weight_{i}"] for i in range(depth)],
                biases=[archive[f"bias_{i}"] for i in range(depth)],
            ),
            meta=meta,
        )
    _check_dataset(dataset, f"dataset {path}")
    return dataset


def _check_dataset(dataset: Dataset, where: str) -> None:
    widths = dataset.meta["widths"]
    if len(widths) < 2 or not all(isinstance(w, int) and w >= 1 for w in widths):
        raise LatentdimError(f"{where}: layer widths {widths} are not a map's")
    arrays = [dataset.x, dataset.z, *dataset.map.weights, *dataset.map.biases]
    if any(a.dtype.kind != "f" for a in arrays):
        raise LatentdimError(f"{where}: holds a non-float array")
    for i, (w, b) in enumerate(zip(dataset.map.weights, dataset.map.biases, strict=True)):
        if w.shape != (widths[i + 1], widths[i]) or b.shape != (widths[i + 1],):
            raise LatentdimError(
                f"{where}: layer {i} has shape {w.shape}, expected {(widths[i + 1], widths[i])}"
            )
    rows = dataset.x.shape[0]
    if dataset.x.shape != (rows, widths[-1]) or dataset.z.shape != (rows, widths[0]):
        raise LatentdimError(f"{where}: x {dataset.x.shape} and z {dataset.z.shape} do not match the map")
    if dataset.meta.get("sha256") != sha256_arrays(dataset.x, dataset.z):
        raise LatentdimError(f"{where}: x and z do not match the checksum recorded with them (corrupt file?)")


def read_recipe(path: str | os.PathLike) -> dict:
    """Read a recipe TOML: the fields of :class:`SyntheticSpec` plus optional
    ``name`` and ``description``. Unknown keys are an error."""
    with reading(f"recipe {path}"), open(path, "rb") as handle:
        recipe = tomllib.load(handle)
    allowed = {f.name for f in fields(SyntheticSpec)} | {"name", "description"}
    unknown = sorted(set(recipe) - allowed)
    if unknown:
        raise LatentdimError(f"recipe {path}: unknown keys {', '.join(unknown)}")
    return recipe


def spec_from_recipe(path: str | os.PathLike, **overrides) -> SyntheticSpec:
    """The spec a recipe describes, with ``overrides`` (non-None) applied on top."""
    recipe = read_recipe(path)
    recipe.pop("name", None)
    recipe.pop("description", None)
    recipe.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return SyntheticSpec(**recipe)
    except TypeError as exc:
        raise LatentdimError(f"recipe {path}: {exc}") from None
