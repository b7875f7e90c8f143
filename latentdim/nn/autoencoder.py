"""What every model shares: its config, the auto-encoder body and its training steps.

A model exposes its optimisation as a list of :class:`Step` objects (loss function,
optimiser, repeats per iteration); :func:`latentdim.training.train` drives any model
from that list alone. Models work on normalised data internally
(x_n = (x - shift) / scale, one scalar scale so geometry is kept); their public
methods take and return data in its own units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from latentdim import metrics
from latentdim.config import ModelConfig
from latentdim.errors import LatentdimError
from latentdim.nn.layers import decoder_net, encoder_net, reset_parameters

Losses = dict[str, torch.Tensor]


@dataclass
class Step:
    """One optimisation step of a model: ``loss(batch)`` returns named losses, one value
    per stack member (shape (K,)), whose ``"loss"`` entry is minimised by ``optimizer``
    (the members' losses are summed, so each member's gradient is its own); run
    ``repeats`` times per iteration, each on a fresh minibatch; ``after`` runs after
    every update (e.g. a clamp)."""

    name: str
    loss: Callable[[torch.Tensor], Losses]
    optimizer: torch.optim.Optimizer
    repeats: int = 1
    after: Callable[[], None] | None = None


VECTOR_FLOATS = 16  # floats in the widest CPU vector register (AVX-512)


def adam(params: Sequence[torch.Tensor], **options) -> torch.optim.Adam:
    """Adam over a stack's parameters, in the fastest kernel that keeps a member's
    updates independent of K.

    PyTorch's fused CPU kernel runs a vectorised body and a scalar tail that round
    differently, and which elements fall in the tail depends on a tensor's size, so on
    K. When every parameter's per-member size is a multiple of 16 floats, no element
    falls in a tail at any K, and the fused kernel is used (one thread; 10-15 % faster
    than ``foreach`` on the reference workload); otherwise ``foreach``. On CUDA fused.
    """
    params = list(params)
    cuda = any(p.is_cuda for p in params)
    aligned = all(p.ndim and (p.numel() // p.shape[0]) % VECTOR_FLOATS == 0 for p in params)
    kernel = {"fused": True} if cuda or aligned else {"foreach": True}
    return torch.optim.Adam(params, **options, **kernel)


class AutoEncoder(nn.Module):
    """Deterministic encoder E: R^d -> R^m and decoder G: R^m -> R^d, prior N(0, I_m).

    A model is a stack of K >= 1 independent members of the same config, one per
    generator given (a single generator, or none, makes K = 1). Every parameter and
    buffer has a leading member axis, except 0-dim buffers, which hold schedule state
    shared by the stack (members of a stack share their budget, so their schedules
    agree). Training tensors are (K, B, features) and losses are (K,) vectors; the
    model's math is written once, for the stack. The public data-unit methods
    (:meth:`encode`, :meth:`reconstruct`, :meth:`sample`) are those of one model:
    take member k of a stack with :meth:`member`.
    """

    name: ClassVar[str]
    default_penalty: ClassVar[float | None] = None
    likelihoods: ClassVar[tuple[str, ...]] = ()  # decoder likelihoods the model offers
    encoder_outputs: ClassVar[int] = 1  # encoder outputs per latent dim (a Gaussian encoder's: 2)
    has_kl: ClassVar[bool] = False  # a KL term that ModelConfig.kl_warmup can warm up

    def __init__(
        self, config: ModelConfig, generators: torch.Generator | Sequence[torch.Generator] | None = None
    ):
        super().__init__()
        if config.data_dim is None:
            raise LatentdimError("the model's data dimension is not set")
        if generators is None:
            generators = [torch.Generator().manual_seed(0)]
        elif isinstance(generators, torch.Generator):
            generators = [generators]
        self.generators = list(generators)
        if not self.generators:
            raise LatentdimError("a stack needs at least one member")
        if config.likelihood is not None and config.likelihood not in self.likelihoods:
            offered = f"choose from {', '.join(self.likelihoods)}" if self.likelihoods else "it has none"
            raise LatentdimError(f"{self.name} has no likelihood {config.likelihood!r}: {offered}")
        if config.kl_warmup and not self.has_kl:
            raise LatentdimError(f"{self.name} has no KL term to warm up: kl_warmup is for the VAE family")
        self.config = config
        k, d, m = self.stack, config.data_dim, config.latent_dim
        self.encoder = encoder_net(config, self.encoder_outputs * m, k)
        self.decoder = decoder_net(config, k)
        self.register_buffer("shift", torch.zeros(k, d))
        self.register_buffer("scale", torch.ones(k))
        self._build()
        reset_parameters(self, self.generators)

    @property
    def stack(self) -> int:
        """K, the number of members."""
        return len(self.generators)

    @property
    def device(self) -> torch.device:
        return self.shift.device

    @property
    def penalty(self) -> float | None:
        return self.default_penalty if self.config.penalty is None else self.config.penalty

    def _build(self) -> None:
        """Create model-specific modules and parameters (critic, mask), stacked."""

    def to_device(self, device: torch.device | str) -> AutoEncoder:
        """Move the stack to ``device``. Off the CPU, the members draw their prior
        samples from generators on that device, each seeded from its CPU generator."""
        device = torch.device(device)
        self.to(device)
        if device.type != "cpu":
            seeds = [int(torch.randint(2**62, (1,), generator=g)) for g in self.generators]
            self.generators = [torch.Generator(device).manual_seed(s) for s in seeds]
        return self

    def member(self, k: int) -> AutoEncoder:
        """Member ``k`` as a model of its own (K = 1): a copy of its weights and state,
        drawing from the member's generator."""
        one = type(self)(self.config, torch.Generator())
        state = {name: t if t.ndim == 0 else t[k : k + 1] for name, t in self.state_dict().items()}
        one.load_state_dict(state)
        one.to(self.device)
        one.generators = [self.generators[k]]
        return one.train(self.training)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # run directories written before stacking hold one model's tensors without the
        # member axis: give them one
        own = {**dict(self.named_parameters(recurse=False)), **dict(self.named_buffers(recurse=False))}
        for name, tensor in own.items():
            key = prefix + name
            saved = state_dict.get(key)
            if saved is not None and saved.ndim == tensor.ndim - 1 and tensor.shape[0] == 1:
                state_dict[key] = saved.unsqueeze(0)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- random draws, one generator per member -----------------------------------
    def draw(self, sampler: Callable[..., torch.Tensor], *shape: int) -> torch.Tensor:
        """(K, *shape): member k's slice drawn by ``sampler`` (``torch.randn`` or
        ``torch.rand``) from its own generator, as a lone model would draw it."""
        dtype = self.shift.dtype
        draws = [sampler(*shape, generator=g, device=g.device, dtype=dtype) for g in self.generators]
        return draws[0].unsqueeze(0) if len(draws) == 1 else torch.stack(draws)

    # -- data units <-> normalised units ------------------------------------------
    def fit_normaliser(self, x: torch.Tensor) -> None:
        """Per member, of its rows x (K, N, d): shift = mean of x; scale = sqrt(mean
        per-coordinate variance), one scalar."""
        with torch.no_grad():
            self.shift.copy_(x.mean(dim=1))
            self.scale.copy_((x - self.shift[:, None]).pow(2).mean(dim=(1, 2)).sqrt().clamp_min(1e-12))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """(x - shift) / scale of each member's rows x (K, N, d)."""
        return (x - self.shift[:, None]) / self.scale[:, None, None]

    def denormalise(self, xn: torch.Tensor) -> torch.Tensor:
        return xn * self.scale[:, None, None] + self.shift[:, None]

    # -- the generative model, in normalised units --------------------------------
    def latent_mask(self) -> torch.Tensor | None:
        """The mask alpha over latent dims (K, m), or None for models without one."""
        return None

    def masked(self, z: torch.Tensor) -> torch.Tensor:
        mask = self.latent_mask()
        return z if mask is None else z * mask[:, None]

    def prior(self, num: int) -> torch.Tensor:
        """(K, num, m) draws from N(0, I_m)."""
        return self.draw(torch.randn, num, self.config.latent_dim)

    def prior_map(self, u: torch.Tensor) -> torch.Tensor:
        """The latent point a prior draw ``u`` generates from: ``u`` itself; a model
        with a learned prior (a second stage, a generator) maps it."""
        return u

    def codes(self, xn: torch.Tensor) -> torch.Tensor:
        """The code of each row, (K, N, m): E(x); for a stochastic encoder, the mean of q(z|x)."""
        return self.encoder(xn)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean in normalised data units, (K, N, d): G(z)."""
        return self.decoder(z)

    def recon_error(self, xn: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Per member, the mean squared error per coordinate of G(mask * E(x)) against x."""
        return (self.decode(self.masked(codes)) - xn).pow(2).mean(dim=(1, 2))

    # -- public API of one model, data units --------------------------------------
    def _one(self) -> None:
        if self.stack != 1:
            raise LatentdimError(f"this is a stack of {self.stack} models: take one with member(k)")

    def _rows(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        self._one()
        return self.normalise(torch.as_tensor(x, dtype=torch.float32).to(self.device)[None])

    @torch.no_grad()
    def encode(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Codes E(x) (before any mask; the posterior mean for a VAE) of data ``x``."""
        return self.codes(self._rows(x))[0].cpu().numpy()

    @torch.no_grad()
    def reconstruct(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        xn = self._rows(x)
        return self.denormalise(self.decode(self.masked(self.codes(xn))))[0].cpu().numpy()

    @torch.no_grad()
    def sample(self, num: int, generator: torch.Generator | None = None) -> np.ndarray:
        """Generate ``num`` points: G(mask * prior_map(p)), p ~ N(0, I_m), in data units.
        The draws come from ``generator`` (on its own device), else from the model's."""
        self._one()
        generator = generator or self.generators[0]
        p = torch.randn(num, self.config.latent_dim, generator=generator, device=generator.device)
        z = self.prior_map(p.to(self.device)[None])
        return self.denormalise(self.decode(self.masked(z)))[0].cpu().numpy()

    def mask_values(self) -> np.ndarray | None:
        """The mask of one model as an array (m,), or None."""
        mask = self.latent_mask()
        return None if mask is None else mask[0].detach().cpu().numpy()

    def posterior_variances(self, x: np.ndarray | torch.Tensor) -> np.ndarray | None:
        """Each latent unit's posterior variance, averaged over the rows ``x``, for a
        model with a stochastic encoder; None for a deterministic one."""
        return None

    def active_dims(self, codes: np.ndarray) -> np.ndarray:
        """Indices of the latent dims the model uses, given the codes of held-out rows:
        the mask's active dims (alpha >= 0.1), or every dim for a model without one."""
        mask = self.mask_values()
        return np.arange(self.config.latent_dim) if mask is None else metrics.active_dims(mask)

    # -- training -----------------------------------------------------------------
    def make_steps(self, total_steps: int) -> list[Step]:
        """The optimisation steps of one iteration, in order."""
        raise NotImplementedError

    def schedule(self, iteration: int, total_steps: int, steps: list[Step]) -> dict[str, float]:
        """Update schedules before ``iteration``; return values worth logging."""
        return {}
