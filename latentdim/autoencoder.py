"""What every model shares: its config, the auto-encoder body and its training steps.

A model exposes its optimisation as a list of :class:`Step` objects (loss function,
optimiser, repeats per iteration); :func:`latentdim.training.train` drives any model
from that list alone. Models work on normalised data internally
(x_n = (x - shift) / scale, one scalar scale so geometry is kept); their public
methods take and return data in its own units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from latentdim.errors import LatentdimError
from latentdim.nets import mlp, reset_parameters

Losses = dict[str, torch.Tensor]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and loss weights of one model.

    ``data_dim`` is filled in from the data by :func:`latentdim.runs.fit`.
    ``hidden`` are the encoder's hidden widths (the decoder mirrors them);
    ``critic_hidden`` the latent critic's, for adversarial models. The default
    256-256 auto-encoder (the reference workload's) and 128-128 latent critic make a
    synthetic run (d = 128) take seconds to a minute on one core; the critic sees only
    m <= ~64 inputs and runs 5 times per iteration, so it is kept narrower. The MNIST
    nets of the MaskAAE paper (4 x 1024) are far more than such data needs.
    ``penalty`` is the WAE-MMD weight lambda (default 10) or the WAE-GAN adversarial
    weight (default 1); MaskAAE's weights are fixed by its recipe.
    """

    model: str
    latent_dim: int
    data_dim: int | None = None
    hidden: tuple[int, ...] = (256, 256)
    critic_hidden: tuple[int, ...] = (128, 128)
    penalty: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        object.__setattr__(self, "critic_hidden", tuple(self.critic_hidden))
        if self.latent_dim < 1:
            raise LatentdimError(f"latent dimension must be >= 1, got {self.latent_dim}")
        if self.data_dim is not None and self.data_dim < 1:
            raise LatentdimError(f"data dimension must be >= 1, got {self.data_dim}")
        if any(h < 1 for h in self.hidden + self.critic_hidden):
            raise LatentdimError("hidden widths must be >= 1")
        if self.penalty is not None and not self.penalty >= 0:
            raise LatentdimError(f"penalty must be >= 0, got {self.penalty}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Step:
    """One optimisation step of a model: ``loss(batch)`` returns named losses whose
    ``"loss"`` entry is minimised by ``optimizer``; run ``repeats`` times per iteration,
    each on a fresh minibatch; ``after`` runs after every update (e.g. a clamp)."""

    name: str
    loss: Callable[[torch.Tensor], Losses]
    optimizer: torch.optim.Optimizer
    repeats: int = 1
    after: Callable[[], None] | None = None


class AutoEncoder(nn.Module):
    """Deterministic encoder E: R^d -> R^m and decoder G: R^m -> R^d, prior N(0, I_m)."""

    name: ClassVar[str]
    default_penalty: ClassVar[float | None] = None

    def __init__(self, config: ModelConfig, generator: torch.Generator | None = None):
        super().__init__()
        if config.data_dim is None:
            raise LatentdimError("the model's data dimension is not set")
        self.config = config
        d, m = config.data_dim, config.latent_dim
        self.encoder = mlp([d, *config.hidden, m])
        self.decoder = mlp([m, *reversed(config.hidden), d])
        self.register_buffer("shift", torch.zeros(d))
        self.register_buffer("scale", torch.ones(()))
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self._build()
        reset_parameters(self, self.generator)

    @property
    def penalty(self) -> float | None:
        return self.default_penalty if self.config.penalty is None else self.config.penalty

    def _build(self) -> None:
        """Create model-specific modules and parameters (critic, mask)."""

    # -- data units <-> normalised units ------------------------------------------
    def fit_normaliser(self, x: torch.Tensor) -> None:
        """shift = mean of x; scale = sqrt(mean per-coordinate variance), one scalar."""
        with torch.no_grad():
            self.shift.copy_(x.mean(dim=0))
            self.scale.copy_((x - self.shift).pow(2).mean().sqrt().clamp_min(1e-12))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale

    # -- the generative model, in normalised units --------------------------------
    def latent_mask(self) -> torch.Tensor | None:
        """The mask alpha over latent dims, or None for models without one."""
        return None

    def masked(self, z: torch.Tensor) -> torch.Tensor:
        mask = self.latent_mask()
        return z if mask is None else z * mask

    def prior(self, num: int) -> torch.Tensor:
        return torch.randn(num, self.config.latent_dim, generator=self.generator)

    def recon_error(self, xn: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Mean squared error per coordinate of G(mask * E(x)) against x."""
        return (self.decoder(self.masked(codes)) - xn).pow(2).mean()

    # -- public API, data units ---------------------------------------------------
    @torch.no_grad()
    def encode(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Codes E(x) (before any mask) of data ``x``."""
        return self.encoder(self.normalise(torch.as_tensor(x, dtype=torch.float32))).numpy()

    @torch.no_grad()
    def reconstruct(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        xn = self.normalise(torch.as_tensor(x, dtype=torch.float32))
        return (self.decoder(self.masked(self.encoder(xn))) * self.scale + self.shift).numpy()

    @torch.no_grad()
    def sample(self, num: int, generator: torch.Generator | None = None) -> np.ndarray:
        """Generate ``num`` points: G(mask * p), p ~ N(0, I_m), in data units."""
        p = torch.randn(num, self.config.latent_dim, generator=generator or self.generator)
        return (self.decoder(self.masked(p)) * self.scale + self.shift).numpy()

    # -- training -----------------------------------------------------------------
    def make_steps(self, total_steps: int) -> list[Step]:
        """The optimisation steps of one iteration, in order."""
        raise NotImplementedError

    def schedule(self, iteration: int, total_steps: int, steps: list[Step]) -> dict[str, float]:
        """Update schedules before ``iteration``; return values worth logging."""
        return {}
