"""The VAE family (Kingma & Welling 2014): a Gaussian encoder, KL to the prior, and a
choice of decoder likelihood.

The encoder gives q(z|x) = N(mu(x), diag exp(logvar(x))) (one MLP with 2m outputs);
z = mu + exp(logvar / 2) eps, eps ~ N(0, I), drawn from the member's own generator
(reparameterisation). loss = -log p(x|z) + beta KL(q(z|x) || N(0, I)), per row,
averaged over the batch; beta is ``penalty`` (default 1; beta-VAE, Higgins et al.
2017). The decoder likelihood (``likelihood``):

* ``fixed``: N(G(z), I) in the model's normalised units (the data scaled to unit mean
  per-coordinate variance), so -log p = 1/2 ||x - G(z)||^2 + const;
* ``learned``: N(G(z), gamma I) with one scalar gamma (Dai & Wipf 2019). At the
  optimum gamma equals the MSE, and the term becomes (D/2) log MSE + const: as gamma
  falls, a missing dim costs more and more, while a surplus dim still costs KL, so the
  active units tend to the manifold dimension. Deviation: gamma is not a parameter
  but its optimum, the batch's MSE per coordinate (floored at 1e-6), at every step
  (the "optimal sigma" VAE of Rybkin et al. 2021; the encoder and decoder get the
  same gradient as at a learned gamma that has converged). Measured: as a parameter
  under Adam (lr 1e-3) log gamma moves by at most ~1e-3 a step, and on n = 2, d = 16
  data gamma had only fallen from 1 to 0.19 after 1500 steps, far above the MSE, so
  a run's budget, not the data, set how hard reconstruction pulled;
* ``bernoulli``: Bernoulli(sigmoid(G(z))) per coordinate (binary cross-entropy); the
  data must lie in [0, 1] and are not normalised. The decoder's mean, and so a
  generated point, is sigmoid(G(z)).

KL warm-up (``ModelConfig.kl_warmup`` = f > 0; default 0, off): the KL weight is
beta t / (f T) at step t of T until it reaches beta (Bowman et al. 2016; Sonderby et
al. 2016). Why, measured (4829e88; learned gamma, 48 000 steps, capacity = D,
scikit-dimension's benchmark manifolds, 2500 points): without it the learned-gamma
VAE collapsed to its prior where the standardised data are nearly isotropic and D is
small, with gamma 0.99 on the 10-sphere in R^11 and 0.93 on the Swiss roll (all
posterior variances 0.82-1.0), because a direction is worth encoding at gamma ~ 1
only if its variance beats the average (the probabilistic-PCA threshold), and none
does; with f = 0.005 (240 steps) gamma fell to 0.043 and 0.0014. A longer warm-up
leaves units to prune: on the MLP data (n = 16, D = 128, m = 64, one seed) the
posterior-variance count read 22 with f = 0.1, 18 with f = 0.02 and 16 with f = 0.005.
The warm-up must last long enough for the auto-encoder phase to bring gamma well below
1: on the 2-sphere in R^3 (1500 steps) 150 steps of warm-up freed 64-wide nets (gamma
0.025) but not 32-wide ones (0.99; 300 steps did, 0.05).

Codes (``encode``, NAC, latent recovery) are the posterior means mu(x); generation is
G(z), z ~ N(0, I) (the decoder's mean, no observation noise). The active dims are the
active units (Burda et al. 2016): Cov_x(mu_u(x)) > 0.01 on held-out rows. A second
count, ``posterior_dims``, reads the units' posterior variances (mean over held-out
rows of sigma_u^2(x)): the units below their largest gap
(:func:`latentdim.metrics.variance_gap_count`), no threshold. Measured on the learned-
gamma VAE at m = 2n (a763fae; ``studies/vae-budget``): the Burda count depends on
its threshold where unused units keep some spread in their means (n = 32, 12000
iterations, seed 1: 57 active units, 26 by the gap), and in a 48000-iteration run at
n = 16 the variances split 16 at <= 0.0017 against the rest at >= 0.61 (gap 360x).

Adam, lr 1e-3, default betas.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from latentdim import metrics
from latentdim.config import LIKELIHOODS
from latentdim.errors import LatentdimError
from latentdim.nn.autoencoder import AutoEncoder, Losses, Step, adam
from latentdim.nn.layers import mlp, mlp_jacobians
from latentdim.nn.losses import bernoulli_nll, gaussian_kl, gaussian_nll

GAMMA_FLOOR = 1e-6
CONV_WIDTH = 32  # a conv decoder's widest unfolded activation per row, in multiples of d


class VAE(AutoEncoder):
    name = "vae"
    default_penalty = 1.0
    likelihoods = LIKELIHOODS
    default_likelihood = "fixed"

    @property
    def likelihood(self) -> str:
        return self.config.likelihood or self.default_likelihood

    encoder_outputs = 2  # the posterior's mean and log variance
    has_kl = True

    def _build(self) -> None:
        self.register_buffer("log_gamma", torch.zeros(self.stack))  # learned: the last batch's optimum
        self.kl_weight = 1.0  # of beta; below 1 during a KL warm-up (not saved: 1 once trained)

    def posterior(self, xn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log variance) of q(z|x), each (K, N, m)."""
        mean, logvar = self.encoder(xn).chunk(2, dim=-1)
        return mean, logvar

    def codes(self, xn: torch.Tensor) -> torch.Tensor:
        return self.posterior(xn)[0]

    def reparameterise(self, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mean + exp(logvar / 2) eps, eps ~ N(0, I) from each member's generator."""
        return mean + torch.exp(0.5 * logvar) * self.draw(torch.randn, *mean.shape[1:])

    @staticmethod
    def set_optimal_gamma(log_gamma: torch.Tensor, target: torch.Tensor, mean: torch.Tensor) -> None:
        """log_gamma <- log of the batch MSE per coordinate (floored), per member: the
        learned variance at its optimum."""
        with torch.no_grad():
            log_gamma.copy_((target - mean).square().mean(dim=(1, 2)).clamp_min(GAMMA_FLOOR).log())

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decoder(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def fit_normaliser(self, x: torch.Tensor) -> None:
        if self.likelihood != "bernoulli":
            return super().fit_normaliser(x)
        low, high = float(x.min()), float(x.max())
        if low < 0.0 or high > 1.0:
            raise LatentdimError(
                f"a Bernoulli decoder needs data in [0, 1], got values in [{low:.4g}, {high:.4g}]"
            )
        with torch.no_grad():  # probabilities stay probabilities
            self.shift.zero_()
            self.scale.fill_(1.0)

    def loss(self, xn: torch.Tensor) -> Losses:
        mean, logvar = self.posterior(xn)
        out = self.decoder(self.reparameterise(mean, logvar))
        kl = gaussian_kl(mean, logvar)
        beta = self.penalty * self.kl_weight
        if self.likelihood == "bernoulli":
            nll = bernoulli_nll(xn, out)
            return {"loss": nll + beta * kl, "nll": nll, "kl": kl}
        if self.likelihood == "learned":
            self.set_optimal_gamma(self.log_gamma, xn, out)
        nll = gaussian_nll(xn, out, self.log_gamma)
        losses = {"loss": nll + beta * kl, "nll": nll, "kl": kl}
        return {**losses, "gamma": self.log_gamma.detach().exp()}

    def make_steps(self, total_steps: int) -> list[Step]:
        return [Step("vae", self.loss, adam(self.parameters(), lr=1e-3))]

    def schedule(self, iteration: int, total_steps: int, steps: list[Step]) -> dict[str, float]:
        warmup = self.config.kl_warmup * total_steps
        self.kl_weight = min(1.0, iteration / warmup) if warmup > 0 else 1.0
        return {"kl_weight": self.kl_weight} if warmup > 0 else {}

    def active_dims(self, codes: np.ndarray) -> np.ndarray:
        return metrics.active_units(codes)

    @torch.no_grad()
    def posterior_variances(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Mean over the rows of x of exp(logvar_u(x)), per unit u (m,)."""
        return self.posterior(self._rows(x))[1].exp()[0].mean(dim=0).cpu().numpy()

    def local_precisions(self, x: np.ndarray | torch.Tensor, chunk_floats: int = 2**24) -> np.ndarray:
        """Per row of x, (N, min(m, d)) descending: the eigenvalues of the data's
        precision on the latent, J^T W J, for J the decoder's Jacobian at the posterior
        mean mu(x) (normalised units) and W the likelihood's Fisher information per
        coordinate: 1 / gamma (Gaussian; gamma = 1 for ``fixed``), p (1 - p) of the
        logits (Bernoulli). Linearising the decoder at mu(x) makes the posterior's
        precision I + J^T W J: an eigenvalue above 1 is a direction the data inform more
        than the prior, one near 0 a direction the decoder ignores there. The Jacobians
        are taken forward-mode (MLP decoders: :func:`latentdim.nn.layers.mlp_jacobians`, one
        GEMM per layer for all rows' tangents: 0.40 and 0.35 of the time of ``vmap``-ed
        ``jacfwd`` on 10 000 rows through 256- and 128-wide layers, agreeing to 6e-7 of
        the largest entry, ``bench/estimate_speed.py``; conv decoders: ``jacfwd``),
        in chunks of rows whose m tangents through the decoder's
        widest layer (``max(d, hidden)``; ``CONV_WIDTH`` times d for conv nets, whose
        transposed convolutions unfold up to 32 d entries) hold at most ``chunk_floats``
        entries, each ``jacfwd`` chunk a copy (forward-mode tangents of a view are zeros the size of
        the view's whole storage). Measured (``bench/results/estimate_memory.txt``;
        ``latentdim estimate --method vae`` on 200 000 x 784 rows spanning 64 dims):
        with chunks keyed to the Jacobian alone (d m entries per row: 4096 rows at
        d = m = 64 with 256-wide layers) and views, the peak was 8.71 GiB in 362 s;
        with both changes 3.44 GiB in 145 s, the same readings bit for bit; with 128-wide
        layers and ``mlp_jacobians`` (b458a83) 3.44 GiB in 65 s."""
        self._one()
        xn = self._rows(x)[0]
        with torch.no_grad():
            mean = self.posterior(xn[None])[0][0]
        d, m = xn.shape[1], mean.shape[1]
        if self.config.net == "mlp":
            widest = max(d, *self.config.hidden)
            jacobians = partial(mlp_jacobians, self.decoder)  # (rows, m, d): J^T
        else:
            widest = CONV_WIDTH * d

            def logits(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                out = self.decoder(z[None, None])[0, 0]
                return out, out  # the Jacobian's function, and its value (Bernoulli weights)

            forward = torch.func.vmap(torch.func.jacfwd(logits, has_aux=True))

            def jacobians(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                # a copy: a view's tangents would be zeros the size of the whole storage
                jac, values = forward(rows.clone())
                return jac.mT, values

        out = []
        with torch.no_grad():
            for rows in torch.split(mean, max(1, chunk_floats // (widest * m))):
                jac, values = jacobians(rows)  # (rows, m, d), (rows, d)
                if self.likelihood == "bernoulli":
                    p = torch.sigmoid(values)
                    jac = jac * (p * (1 - p)).sqrt()[:, None, :]
                else:
                    jac = jac * torch.exp(-0.5 * self.log_gamma[0])
                out.append(torch.linalg.svdvals(jac).square())
        return torch.cat(out).cpu().numpy()


class TwoStageVAE(VAE):
    """2-Stage VAE (Dai & Wipf, ICLR 2019): a VAE on the data, then a second VAE on the
    first one's codes, whose aggregate law q(z) is not N(0, I); generation goes
    through both: u ~ N(0, I_m) -> z = G2(u) -> x = G1(z).

    Stage 1 is the VAE above (default likelihood ``learned``, as in the paper); stage 2
    is a learned-variance Gaussian VAE of the same latent size m and hidden widths,
    trained on z ~ q1(z|x) of fresh minibatches (the stage-1 encoder is frozen by then,
    and z carries no gradient into it). One training loop, one run directory: by
    default the first half of the budget trains stage 1, the second half stage 2;
    ``stage2_steps = N`` trains stage 1 for the whole budget, then stage 2 for N more
    iterations. The paper's code gives each stage a budget of its own (400 epochs, then
    800 for stage 2) and a wider stage 2 (3 x 1024; here stage 1's widths). Measured
    (``studies/two-stage-recipe``, digits, m = 16, 3 seeds, FID on digits-CNN features):
    halves 100.6 ± 18.2 (MLP) and 107.9 ± 15.4 (conv); the paper's split, stage 2 for
    6000 iterations after 3000, 76.5 ± 14.5 and 118.3 ± 7.1; the learned-variance VAE
    alone 80.4 ± 12.5 and 55.2 ± 10.7. The paper's split changes no verdict at 3x the
    iterations, so the default stays the halves. Codes, NAC and active units are
    stage 1's.

    Deviation: stage 2's KL weight warms up linearly from 0 to 1 over the first half of
    its steps. Measured on digits (m = 16, 3000 steps, seed 0, FID on digits-CNN
    features, all 1797 rows): without it stage 2 collapsed to its prior (gamma2 = 1.04,
    the variance of z; KL2 0.48; generated codes with sd 0.05-0.4 against 1.0) and
    sampling through both stages gave FID 546 against 86 for stage 1 sampled alone;
    with it, 100 against 87: no collapse, but at this budget stage 2 shrinks the codes'
    spread (sd 0.81-0.89) and does not beat stage 1 alone.
    """

    name = "two-stage-vae"
    default_likelihood = "learned"

    def _build(self) -> None:
        super()._build()
        k, m, hidden = self.stack, self.config.latent_dim, self.config.hidden
        self.encoder2 = mlp([m, *hidden, 2 * m], k)
        self.decoder2 = mlp([m, *reversed(hidden), m], k)
        self.register_buffer("log_gamma2", torch.zeros(k))
        self.register_buffer("stage", torch.tensor(1))
        self.register_buffer("kl2_weight", torch.tensor(1.0))

    def prior_map(self, u: torch.Tensor) -> torch.Tensor:
        return self.decoder2(u)

    def loss(self, xn: torch.Tensor) -> Losses:
        zeros = torch.zeros(self.stack, device=xn.device, dtype=xn.dtype)
        if int(self.stage) == 1:
            first = super().loss(xn)
            return {**first, "nll2": zeros, "kl2": zeros, "gamma2": zeros}
        with torch.no_grad():
            z = self.reparameterise(*self.posterior(xn))
        mean2, logvar2 = self.encoder2(z).chunk(2, dim=-1)
        out = self.decoder2(self.reparameterise(mean2, logvar2))
        self.set_optimal_gamma(self.log_gamma2, z, out)
        nll2, kl2 = gaussian_nll(z, out, self.log_gamma2), gaussian_kl(mean2, logvar2)
        firsts = {"nll": zeros, "kl": zeros} | ({} if self.likelihood == "bernoulli" else {"gamma": zeros})
        loss = nll2 + self.kl2_weight * kl2
        return {"loss": loss, **firsts, "nll2": nll2, "kl2": kl2, "gamma2": self.log_gamma2.exp()}

    def schedule(self, iteration: int, total_steps: int, steps: list[Step]) -> dict[str, float]:
        stage2 = self.config.stage2_steps
        half = total_steps - stage2 if stage2 else total_steps // 2  # stage 1's steps
        first = super().schedule(iteration, half, steps)  # stage 1's KL warm-up, over its own steps
        stage = 1 if iteration < half else 2
        warm = min(1.0, (iteration - half) / max(1, (total_steps - half) // 2)) if stage == 2 else 1.0
        self.stage.fill_(stage)
        self.kl2_weight.fill_(warm)
        return {**first, "stage": stage, "kl2_weight": warm}
