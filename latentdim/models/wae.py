"""Wasserstein auto-encoders (Tolstikhin et al. 2018): WAE-MMD and WAE-GAN."""

from __future__ import annotations

import torch

from latentdim.nn.autoencoder import AutoEncoder, Losses, Step, adam
from latentdim.nn.layers import mlp
from latentdim.nn.losses import mmd_imq, wgan_gp_terms

GP_WEIGHT = 10.0
CRITIC_STEPS = 5


class WAEMMD(AutoEncoder):
    """loss = MSE(x, G(E(x))) + lambda * MMD^2_IMQ(E(x), p), p ~ N(0, I_m), lambda = 10.

    Adam, lr 1e-3, betas (0.5, 0.999), as in the WAE paper, in the kernel that keeps a
    stacked member's updates independent of K (:func:`latentdim.nn.autoencoder.adam`).
    """

    name = "wae-mmd"
    default_penalty = 10.0

    def loss(self, xn: torch.Tensor) -> Losses:
        codes = self.encoder(xn)
        recon = self.recon_error(xn, codes)
        mmd = mmd_imq(codes, self.prior(xn.shape[1]))
        return {"loss": recon + self.penalty * mmd, "recon": recon, "mmd": mmd}

    def make_steps(self, total_steps: int) -> list[Step]:
        optimizer = adam(self.parameters(), lr=1e-3, betas=(0.5, 0.999))
        return [Step("ae", self.loss, optimizer)]


class WAEGAN(AutoEncoder):
    """WAE with a latent WGAN-GP critic D (the MaskAAE code's baseline, mask off).

    One iteration: an AE step (reconstruction), 5 critic steps
    (mean D(E(x)) - mean D(p) + 10 GP), an encoder step (-lambda mean D(E(x))),
    each on a fresh minibatch. RMSProp (decay 0.9, eps 1e-10): lr 5e-4 for the AE,
    1e-4 for the critic and the encoder.
    """

    name = "wae-gan"
    default_penalty = 1.0
    ae_lr = 5e-4
    adversarial_lr = 1e-4  # the critic's
    encoder_lr = 1e-4

    def _build(self) -> None:
        self.critic = mlp([self.config.latent_dim, *self.config.critic_hidden, 1], self.stack)

    def _rmsprop(self, params, lr: float) -> torch.optim.Optimizer:
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-10, foreach=True)

    def ae_loss(self, xn: torch.Tensor) -> Losses:
        recon = self.recon_error(xn, self.encoder(xn))
        return {"loss": recon, "recon": recon}

    def critic_loss(self, xn: torch.Tensor) -> Losses:
        with torch.no_grad():
            codes = self.masked(self.encoder(xn))
            prior = self.masked(self.prior(xn.shape[1]))
        t = self.draw(torch.rand, xn.shape[1], 1)
        wasserstein, gp = wgan_gp_terms(self.critic, prior, codes, t)
        return {"loss": -wasserstein + GP_WEIGHT * gp, "w_dist": wasserstein, "gp": gp}

    def encoder_loss(self, xn: torch.Tensor) -> Losses:
        fool = -self.critic(self.masked(self.encoder(xn))).mean(dim=(1, 2))
        return {"loss": self.penalty * fool, "fool": fool}

    def make_steps(self, total_steps: int) -> list[Step]:
        ae_params = [*self.encoder.parameters(), *self.decoder.parameters()]
        return [
            Step("ae", self.ae_loss, self._rmsprop(ae_params, self.ae_lr)),
            Step(
                "critic",
                self.critic_loss,
                self._rmsprop(self.critic.parameters(), self.adversarial_lr),
                repeats=CRITIC_STEPS,
            ),
            Step("encoder", self.encoder_loss, self._rmsprop(self.encoder.parameters(), self.encoder_lr)),
        ]
