"""MaskAAE (Mondal et al., UAI 2020): an adversarial auto-encoder that learns a mask
switching off the latent dimensions the data does not need.

Follows the official code (github.com/arnabkmondal/MaskAAE) as summarised in
METHOD.md §3, with the deviations listed below (all measured; see "Why").

* mask alpha = 1 - exp(-w), w >= 0 (clamped after each update);
* decoder and critic see alpha * E(x); the critic's prior side is alpha * p;
* AE step: MSE + 100 mean_i Var_batch(E(x)_i) exp(-10 alpha_i^2);
* critic step (x5): WGAN-GP on alpha E(x) vs alpha p, penalty 10;
* encoder step: -mean D(alpha E(x));
* mask step (w only): 300 MSE + (1 + W_hat)^2 + c sum_i |alpha_i (1 - alpha_i)|,
  W_hat = mean D(alpha p) - mean D(alpha E(x));
* RMSProp (decay 0.9, eps 1e-10): lr 5e-4 AE and mask, 1e-4 encoder and critic;
  at iteration 5R the AE and mask "learning rates are divided by 5". The official
  code does this by multiplying those two losses by 0.2, and so does this one. Under
  RMSProp, whose steps are normalised by the gradient's running RMS, that shrinks the
  steps only for the few dozen updates the running average takes to adapt. Here the
  R of this decay point is the period for the whole budget, min(R_official,
  floor(T / (8 k))), not the polariser's (deviation 2), so it falls early in the run.

Deviations from the official recipe, for a budget of T iterations:

1. Mask init: every w_i = 2 (alpha_i = 0.86), not w ~ U(0, 5). The variance penalty's
   weight 100 exp(-10 alpha^2) is then 0.06, so no coordinate is squeezed at start.
2. Three phases. Iterations [0, 0.2 T): the mask is frozen (its optimiser runs with
   lr 0, so its RMS statistics still warm up) while the AE, critic and encoder learn.
   [0.2 T, 0.75 T): the mask learns from reconstruction and (1 + W_hat)^2 only (c = 0).
   [0.75 T, T): the polariser c starts at 2/m and doubles every 4R iterations up to
   2048, R = min(R_official, floor(T' / (8 k))), T' = 0.25 T, k = ceil(log2(1024 m))
   doublings, so c reaches its cap half-way through that phase and the run ends with
   a binary mask. (Official: c from iteration 0, R = 75 for m <= 20 else
   min(10000, 112.5 m), sized for 500k-iteration MNIST runs.)
3. Mask-loss reconstruction weight 300, not 1000.
4. Mask learning rate max(5e-4, 10 / T): an RMSProp step moves w by about lr at most,
   so the official 5e-4 could not move w across its range within T = 3000.

Why (measured on the synthetic data of METHOD.md §2, 1 thread, batch 64). With the
official init and polariser from iteration 0 the final mask was the thresholded
initial one: "on at the end iff initial alpha >= 0.5" held for 17 of 18 dims on
n=2, d=16, m=6 (3 seeds; 5, 5, 5 active) and 29 of 32 on n=8, m=16 (2 seeds; 11, 13
active). Per-term gradients on w over
the first 300 iterations: reconstruction (x1000) 1e-2..2 and pointing "on" in 60-90 %
of the steps for every dim, surplus ones included; (1 + W_hat)^2 1e-3..3e-2, pointing
"off" for most dims; polariser 1e-3..5e-2, pointing away from alpha = 0.5, and it
dominates once c has doubled a few times. With the polariser off the adversarial term
does switch dims off, and W_hat falls as they go (1.4 -> 0.35 on the easy case), but
it needs ~1000 iterations; the official schedule polarises long before. Freezing the
mask until the AE reconstructs lets reconstruction defend the needed dims (without
it, weight 100 collapsed the easy case to 1 dim); weight 1000 leaves the adversarial
drift too weak to finish within 0.55 T (n=8, m=16: 11 and 10 active), weight 100
over-prunes (n=8: m=32 -> 6, m=8 -> 7 with scaled FID 0.30); 300 gives, with this
code, at T = 3000 (T = 1500 for the easy case; ~13 ms per iteration at m = 16):
  n=2 d=16 m=6 (hidden 64-64): 2, 2, 2 active (seeds 0-2), ~13 s per run;
  n=8 d=128 m=16: 8, 8 active, NAC 0.043, 0.032 (WAE-MMD 0.043, 0.050), scaled FID
  0.014, 0.019 (WAE-MMD 0.025, 0.027), ~41 s per run; the official recipe gave
  11, 13 active, NAC 0.049, 0.080, scaled FID 0.017, 0.024;
  n=8 m=32: 9 active (NAC 0.048); n=8 m=8: 8 (scaled FID 0.035); n=4 m=16: 5.
Without deviation 1 (U(0, 5) init) n=8 m=16 still gave 8, but the survivors were
mostly the dims with the largest initial w (7 of the 8 had initial w >= 1.9); with
U(0, 5) init and the same schedule at weight 1000 the easy case gave 3, 2, 5.

Tried and not kept (2026-11-27; one seed per cell, T = 3000, m = 2n unless stated; the
active count, with the official (1 + W_hat)^2 in brackets): the adversarial term
W_hat^2, whose push vanishes when the critic finds no gap instead of always aiming at
W_hat = -1. It fixes the undercount at n = 16: 16 (14) on the n16-d128 map, 17 with
training seed 1, 16 (15) on a second map with uniform latents, and its codes carry
more of z (latent recovery 0.94 against 0.84). But it keeps too many at m = 4n: n = 8,
m = 32: 11 (9); n = 4, m = 16: 6 (5); n = 8, m = 16 stays 8 on both maps; n = 32:
21 (20). The drift with the budget stays: n = 16 at T = 12000 gives 14. So it trades
one error for another, and the count is still not a fixed point; max(W_hat, 0)^2 gave
the same counts (W_hat stayed positive). Also tried: freezing the mask once W_hat
stops falling (mean over the last 200 iterations no lower than over the 200 before,
checked during the adversarial phase). At T = 3000 it never fired (n = 16: 14; n = 8,
m = 32: 9, as without it); at T = 12000 it fired on noise 400 iterations after the mask
unfroze, before any dim had moved, and the polariser then kept all 32. A plateau rule
needs a statistic less noisy than the critic's W_hat over 200 steps.

PyTorch's RMSProp starts its square average at 0 (TensorFlow 1's at 1) and adds eps
outside the square root; with eps = 1e-10 only the first updates differ (about 100
for gradients << 1, which here fall in the frozen phase).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from latentdim.autoencoder import Losses, Step
from latentdim.wae import WAEGAN

VARIANCE_WEIGHT = 100.0
LR_DECAY = 0.2
MASK_RECON_WEIGHT = 300.0
MASK_INIT_W = 2.0
POLARISER_CAP = 2048.0
MASK_FREEZE_FRACTION = 0.2
POLARISER_START_FRACTION = 0.75


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


def polariser_schedule(iteration: int, m: int, total_steps: int) -> float:
    """c = 0 before 0.75 T; then the doubling schedule over the last 0.25 T."""
    start = int(POLARISER_START_FRACTION * total_steps)
    if iteration < start:
        return 0.0
    return polariser(iteration - start, m, polariser_period(m, total_steps - start))


class MaskAAE(WAEGAN):
    name = "maskaae"
    default_penalty = 1.0

    def _build(self) -> None:
        super()._build()
        m = self.config.latent_dim
        self.w = nn.Parameter(torch.full((self.stack, m), MASK_INIT_W))
        self.register_buffer("polariser", torch.tensor(0.0))
        self.register_buffer("decay", torch.tensor(1.0))

    def latent_mask(self) -> torch.Tensor:
        """alpha = 1 - exp(-w), (K, m)."""
        return 1.0 - torch.exp(-self.w)

    def ae_loss(self, xn: torch.Tensor) -> Losses:
        codes = self.encoder(xn)
        alpha = self.latent_mask()
        recon = self.recon_error(xn, codes)
        variance = (codes.var(dim=1) * torch.exp(-10.0 * alpha.pow(2))).mean(dim=1)
        loss = self.decay * (recon + VARIANCE_WEIGHT * variance)
        return {"loss": loss, "recon": recon, "variance": variance}

    def mask_loss(self, xn: torch.Tensor) -> Losses:
        codes = self.encoder(xn)
        alpha = self.latent_mask()
        recon = self.recon_error(xn, codes)
        b = xn.shape[1]
        out = self.critic(self.masked(torch.cat([self.prior(b), codes], dim=1)))
        w_hat = out[:, :b].mean(dim=(1, 2)) - out[:, b:].mean(dim=(1, 2))
        polarise = (alpha * (1.0 - alpha)).abs().sum(dim=1)
        loss = self.decay * (MASK_RECON_WEIGHT * recon + (1.0 + w_hat).pow(2) + self.polariser * polarise)
        return {"loss": loss, "recon": recon, "w_hat": w_hat, "polarise": polarise}

    def _clamp_mask(self) -> None:
        with torch.no_grad():
            self.w.clamp_(min=0.0)

    def make_steps(self, total_steps: int) -> list[Step]:
        steps = super().make_steps(total_steps)
        self.mask_lr = max(self.ae_lr, 10.0 / total_steps)
        mask = Step("mask", self.mask_loss, self._rmsprop([self.w], self.mask_lr), after=self._clamp_mask)
        return [*steps, mask]

    def schedule(self, iteration: int, total_steps: int, steps: list[Step]) -> dict[str, float]:
        m = self.config.latent_dim
        c = polariser_schedule(iteration, m, total_steps)
        self.polariser.fill_(c)
        self.decay.fill_(LR_DECAY if iteration >= 5 * polariser_period(m, total_steps) else 1.0)
        frozen = iteration < int(MASK_FREEZE_FRACTION * total_steps)
        lr = 0.0 if frozen else self.mask_lr
        for step in steps:
            if step.name == "mask":
                for group in step.optimizer.param_groups:
                    group["lr"] = lr
        return {"polariser": c, "mask_lr": lr}
