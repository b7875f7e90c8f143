"""MaskAAE (Mondal et al., UAI 2020): an adversarial auto-encoder that learns a mask
switching off the latent dimensions the data does not need.

Follows the official code (github.com/arnabkmondal/MaskAAE) as summarised in
METHOD.md §3, with one deliberate change, the polariser schedule (below).

* mask alpha = 1 - exp(-w), w >= 0 (clamped after each update), w ~ U(0, 5) at start;
* decoder and critic see alpha * E(x); the critic's prior side is alpha * p;
* AE step: MSE + 100 mean_i Var_batch(E(x)_i) exp(-10 alpha_i^2);
* critic step (x5): WGAN-GP on alpha E(x) vs alpha p, penalty 10;
* encoder step: -mean D(alpha E(x));
* mask step (w only): 1000 MSE + (1 + W_hat)^2 + c sum_i |alpha_i (1 - alpha_i)|,
  W_hat = mean D(alpha p) - mean D(alpha E(x));
* RMSProp (decay 0.9, eps 1e-10): lr 5e-4 AE and mask, 1e-4 encoder and critic;
  at iteration 5R the AE and mask "learning rates are divided by 5". The official
  code does this by multiplying those two losses by 0.2, and so does this one. Under
  RMSProp, whose steps are normalised by the gradient's running RMS, that shrinks the
  steps only for the few dozen updates the running average takes to adapt.

Polariser schedule: c starts at 2/m and doubles every 4R iterations up to 2048, so it
needs k = ceil(log2(1024 m)) doublings. The official period, R = 75 for m <= 20 else
min(10000, 112.5 m), was sized for 500k-iteration MNIST runs; at m = 24 it reaches the
cap only after ~150k iterations. Here R = min(R_official, floor(T / (8 k))) for a budget
of T iterations: c reaches its cap by mid-run at every m, and the second half trains at
full polarising pressure, so every run ends with a binary mask. With T large enough
this is exactly the official schedule.

Mask learning rate: an RMSProp step moves w by about lr at most, so in T iterations w
travels at most ~lr T. The official 5e-4 suits 500k iterations; for T = 3000 it
could not move w across its initial range (0, 5), and the mask would end wherever it
started. Here lr_mask = max(5e-4, 10 / T): w can cross its initial range within half
the budget (equal to the official rate for T >= 20000).

PyTorch's RMSProp starts its square average at 0 (TensorFlow 1's at 1) and adds eps
outside the square root; with eps = 1e-10 only the first few updates differ.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from latentdim.autoencoder import Losses, Step
from latentdim.wae import WAEGAN

VARIANCE_WEIGHT = 100.0
LR_DECAY = 0.2
MASK_RECON_WEIGHT = 1000.0
POLARISER_CAP = 2048.0


def official_period(m: int) -> float:
    """R of the official code: 75 for m <= 20, else min(10000, 112.5 m)."""
    return 75.0 if m <= 20 else min(10000.0, 112.5 * m)


def polariser_period(m: int, total_steps: int) -> int:
    """R = min(R_official, floor(T / (8 k))), k = ceil(log2(1024 m)) doublings to the cap."""
    doublings = math.ceil(math.log2(POLARISER_CAP * m / 2.0))
    return max(1, min(int(official_period(m)), total_steps // (8 * doublings)))


def polariser(iteration: int, m: int, period: int) -> float:
    """c(t) = min(2048, (2/m) 2^floor(t / 4R))."""
    return min(POLARISER_CAP, 2.0 / m * 2.0 ** (iteration // (4 * period)))


class MaskAAE(WAEGAN):
    name = "maskaae"
    default_penalty = 1.0

    def _build(self) -> None:
        super()._build()
        m = self.config.latent_dim
        self.w = nn.Parameter(torch.rand(m, generator=self.generator) * 5.0)
        self.register_buffer("polariser", torch.tensor(2.0 / m))
        self.register_buffer("decay", torch.tensor(1.0))

    def latent_mask(self) -> torch.Tensor:
        """alpha = 1 - exp(-w)."""
        return 1.0 - torch.exp(-self.w)

    def ae_loss(self, xn: torch.Tensor) -> Losses:
        codes = self.encoder(xn)
        alpha = self.latent_mask()
        recon = self.recon_error(xn, codes)
        variance = (codes.var(dim=0) * torch.exp(-10.0 * alpha.pow(2))).mean()
        loss = self.decay * (recon + VARIANCE_WEIGHT * variance)
        return {"loss": loss, "recon": recon, "variance": variance}

    def mask_loss(self, xn: torch.Tensor) -> Losses:
        codes = self.encoder(xn)
        alpha = self.latent_mask()
        recon = self.recon_error(xn, codes)
        w_hat = self.critic(alpha * self.prior(xn.shape[0])).mean() - self.critic(alpha * codes).mean()
        polarise = (alpha * (1.0 - alpha)).abs().sum()
        loss = self.decay * (MASK_RECON_WEIGHT * recon + (1.0 + w_hat).pow(2) + self.polariser * polarise)
        return {"loss": loss, "recon": recon, "w_hat": w_hat, "polarise": polarise}

    def _clamp_mask(self) -> None:
        with torch.no_grad():
            self.w.clamp_(min=0.0)

    def make_steps(self, total_steps: int) -> list[Step]:
        steps = super().make_steps(total_steps)
        lr = max(self.ae_lr, 10.0 / total_steps)
        mask = Step("mask", self.mask_loss, self._rmsprop([self.w], lr), after=self._clamp_mask)
        return [*steps, mask]

    def schedule(self, iteration: int, total_steps: int, steps: list[Step]) -> dict[str, float]:
        m = self.config.latent_dim
        period = polariser_period(m, total_steps)
        c = polariser(iteration, m, period)
        self.polariser.fill_(c)
        self.decay.fill_(LR_DECAY if iteration >= 5 * period else 1.0)
        return {"polariser": c}
