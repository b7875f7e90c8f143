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

Why the count drifts, measured (2026-11-27, 92604a0; n16-d128, m = 32, T = 12000,
seed 0; gradients on w every 200 iterations of the mask phase): the reconstruction
term defends a needed dim only at noise level. The decoder absorbs the mask's scale:
the elasticity alpha_i dMSE/dalpha_i / MSE is 0.00 +- 0.05 for every kept dim, while
switching the same dim off (its code replaced by its batch mean) raises the MSE by
25-160 %. Once 16 dims remain, W_hat stays at ~1.45 (0.8 at T = 3000), so the push of
(1 + W_hat)^2 on the needed dims grows (median 3e-2 -> 8e-2; 1.5e-1 on the weakest)
and their alphas slide together (median 0.81 -> 0.61 between iterations 5600 and
9600); the polariser then sends the three below 0.5 to 0, though each carried 25-39 %
of the MSE. A longer run is a longer slide.

Tried and not kept (2026-11-27; n16-d128, m = 32, seed 0 unless stated; count at T =
3000 / 12000; code in bench/mask_variants/, records in bench/results/mask_variants.jsonl):
* lambda log MSE in place of 300 MSE (scale-free, Dai & Wipf): lambda = 1, 8, 16, 32,
  64 -> 0, 1, 13, 16, 17 (12000: lambda 32 -> 16, 64 -> 22); lambda = 32 gives 10 and 11
  at n = 8 (m = 16, 32) and 9 at n = 32. log only turns the weight into lambda / MSE.
* a drop-one value pull lambda sum_i (1 - alpha_i) sg(Delta_i / MSE): lambda = 0.1 ... 30
  -> 0, 3, 9, 19, 30 (12000: lambda 10 -> 31). When the mask unfreezes every dim of the
  spread-out code has value (min / median Delta/MSE 0.013 / 0.09), so the pull beats the
  push for all dims or none; ramped as (1 - alpha)^2 all 32 alphas fell together (0, 7).
* a relative tolerance without the adversarial term (tau = 0.01, 0.03): 32, 31.
* a mask that gates information (alpha E + sqrt(1 - alpha^2) noise) instead of scale,
  with 300 MSE or with (d/2) log MSE against a channel price: 32, 24.
* the adversarial gradient projected off alpha (its uniform-shrink component, which the
  decoder absorbs): the slide stops within a run (17 reached at iteration 8400 and held,
  kept alphas 0.99, W_hat ~0.05), but the settled count rises with the weight L (L = 0,
  30, 100, 300, 1000 -> 13, 14, 16, 20, 24) and with the budget (L = 100, seeds 0-2:
  16 15 16 -> 17 18 18; n = 32: 24 -> 39), and over-keeps at m = 4n (n = 8, m = 32: 14,
  17 against 8 here). It carries far more of z (latent recovery at n = 32, 0.89 against
  0.36), but it trades the drift for a constant.
* the drop-one value as a gate, not a force (the adversarial term reaches only dims
  whose smoothed value is below a relative tolerance tau): a plateau at n = 16, T =
  3000 (tau = 0.1, 0.2, 0.3 -> 16, 15, 15) that does not carry: T = 12000 -> 30, 23
  (the longer frozen phase spreads value over every dim before the mask unfreezes);
  n = 8, m = 32 -> 20, 12; n = 32 -> 21.
* a decoder whose first layer has fixed-norm input columns, so it cannot absorb a
  dim's mask scale there (0854bfd): 14 at T = 3000, 12 at T = 12000; the drift stays.
So no variant gives a count equal to n without a constant tuned on the data
(bench/results/mask_variants.md).

PyTorch's RMSProp starts its square average at 0 (TensorFlow 1's at 1) and adds eps
outside the square root; with eps = 1e-10 only the first updates differ (about 100
for gradients << 1, which here fall in the frozen phase).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from latentdim.models.wae import WAEGAN
from latentdim.nn.autoencoder import Losses, Step

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
