"""FlexAE (Mondal et al., UAI 2021): a WAE whose prior is learned.

The prior is p = g(u), u ~ N(0, I_m), g an MLP m -> critic widths -> m. A latent
WGAN-GP critic D separates g(u) from the codes E(x); g learns to fool it, moving its
samples toward the codes, and the encoder is pulled gently toward g's samples by the
same critic at a 10x lower learning rate, so the prior does most of the moving and
the codes stay free to serve reconstruction. Generation is G(g(u)).

One iteration, each step on a fresh minibatch: an AE step (reconstruction), 5 critic
steps (mean D(g(u)) - mean D(E(x)) maximised, gradient penalty 10), a generator step
(-> minimise mean D(g(u))), an encoder step (-> minimise -mean D(E(x))). RMSProp as
the WAE-GAN here: lr 5e-4 for the AE, 1e-4 for the critic and g, 1e-5 for the encoder.
The paper's image-space critic on decoded latent interpolations (FlexAE-SR) is not
implemented. g's widths are the critic's (``critic_hidden``): both are small latent
nets.
"""

from __future__ import annotations

import torch

from latentdim.models.wae import GP_WEIGHT, WAEGAN
from latentdim.nn.autoencoder import Losses, Step
from latentdim.nn.layers import mlp
from latentdim.nn.losses import wgan_gp_terms


class FlexAE(WAEGAN):
    name = "flexae"
    generator_lr = 1e-4
    encoder_lr = 1e-5

    def _build(self) -> None:
        super()._build()
        m = self.config.latent_dim
        self.generator = mlp([m, *self.config.critic_hidden, m], self.stack)

    def prior_map(self, u: torch.Tensor) -> torch.Tensor:
        return self.generator(u)

    def learned_prior(self, num: int) -> torch.Tensor:
        """(K, num, m) draws g(u), u ~ N(0, I_m)."""
        return self.generator(self.prior(num))

    def critic_loss(self, xn: torch.Tensor) -> Losses:
        with torch.no_grad():
            codes = self.encoder(xn)
            prior = self.learned_prior(xn.shape[1])
        t = self.draw(torch.rand, xn.shape[1], 1)
        wasserstein, gp = wgan_gp_terms(self.critic, prior, codes, t)
        return {"loss": -wasserstein + GP_WEIGHT * gp, "w_dist": wasserstein, "gp": gp}

    def generator_loss(self, xn: torch.Tensor) -> Losses:
        fool = self.critic(self.learned_prior(xn.shape[1])).mean(dim=(1, 2))
        return {"loss": fool, "fool": fool}

    def make_steps(self, total_steps: int) -> list[Step]:
        ae, critic, encoder = super().make_steps(total_steps)  # the encoder's at encoder_lr
        generator = Step(
            "generator", self.generator_loss, self._rmsprop(self.generator.parameters(), self.generator_lr)
        )
        return [ae, critic, generator, encoder]
