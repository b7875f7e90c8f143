"""Scratch MaskAAE variants and a gradient diagnostic (not part of the project).

Run against latentdim at a9d9030 (the MaskAAE of that commit is today's), so edits in /work/main
cannot change these runs half-way.
"""

from __future__ import annotations

import torch

from latentdim.models import MODELS
from latentdim.models import maskaae as mk
from latentdim.models.maskaae import MaskAAE

DIAG_EVERY = 200
DIAG_ROWS = 1024
LAST: list = []  # the stacked models trained, so their diagnostic logs can be read


class Diag:
    """Mixin: every DIAG_EVERY iterations from 0.2 T on, per dim and member, the
    gradient on w of (a) 300 MSE and (b) (1 + W_hat)^2 (each times the decay factor
    the real loss carries), alpha, and the drop-one values Delta_i / MSE(full) with the
    dim zeroed and with the dim replaced by its batch mean. Uses a fixed set of training
    rows and its own generator for the prior draws, no optimiser state: the run's
    trajectory is unchanged."""

    diag_on = True

    def fit_normaliser(self, x):
        super().fit_normaliser(x)
        self._diag_raw = x[:, :DIAG_ROWS].clone()
        self._diag_gen = torch.Generator().manual_seed(1234)
        self.diag_log = []
        LAST.append(self)

    def schedule(self, iteration, total_steps, steps):
        out = super().schedule(iteration, total_steps, steps)
        if (
            self.diag_on
            and iteration >= int(mk.MASK_FREEZE_FRACTION * total_steps)
            and (iteration % DIAG_EVERY == 0 or iteration == total_steps - 1)
        ):
            self.diag_log.append({"it": iteration, **self.diagnose()})
        return out

    def diagnose(self) -> dict:
        xn = self.normalise(self._diag_raw)
        k, b, _ = xn.shape
        m = self.config.latent_dim
        flag = self.w.requires_grad
        self.w.requires_grad_(True)
        with torch.no_grad():
            codes = self.encoder(xn)
            prior = torch.randn(k, b, m, generator=self._diag_gen)
        alpha = self.latent_mask()
        recon = (self.decoder(codes * alpha[:, None]) - xn).pow(2).mean(dim=(1, 2))
        g_rec = torch.autograd.grad((mk.MASK_RECON_WEIGHT * self.decay * recon).sum(), self.w)[0]
        alpha = self.latent_mask()
        out = self.critic(torch.cat([prior, codes], dim=1) * alpha[:, None])
        w_hat = out[:, :b].mean(dim=(1, 2)) - out[:, b:].mean(dim=(1, 2))
        g_adv = torch.autograd.grad((self.decay * (1.0 + w_hat).pow(2)).sum(), self.w)[0]
        self.w.requires_grad_(flag)
        with torch.no_grad():
            rel_zero, rel_mean = drop_one(self, xn, codes)
            var = codes.var(dim=1)
        return {
            "alpha": self.latent_mask().detach().tolist(),
            "g_rec": g_rec.tolist(),
            "g_adv": g_adv.tolist(),
            "w_hat": w_hat.detach().tolist(),
            "mse": recon.detach().tolist(),
            "rel_zero": rel_zero.tolist(),
            "rel_mean": rel_mean.tolist(),
            "code_var": var.tolist(),
        }


@torch.no_grad()
def drop_one(model, xn, codes, chunk: int = 8):
    """Per member and dim i: (MSE with masked code i zeroed - MSE full) / MSE full, and
    the same with code i replaced by its batch mean. Returns two (K, m) tensors."""
    k, b, _ = xn.shape
    z = model.masked(codes)  # (K, B, m)
    m = z.shape[2]
    full = (model.decoder(z) - xn).pow(2).mean(dim=(1, 2))  # (K,)
    means = z.mean(dim=1)  # (K, m)
    res = []
    for fill in ("zero", "mean"):
        vals = []
        for start in range(0, m, chunk):
            idx = torch.arange(start, min(m, start + chunk))
            c = idx.numel()
            zr = z.unsqueeze(1).repeat(1, c, 1, 1)  # (K, c, B, m)
            for j, i in enumerate(idx.tolist()):
                zr[:, j, :, i] = 0.0 if fill == "zero" else means[:, i : i + 1]
            dec = model.decoder(zr.reshape(k, c * b, m)).reshape(k, c, b, -1)
            vals.append((dec - xn[:, None]).pow(2).mean(dim=(2, 3)))
        mse_i = torch.cat(vals, dim=1)
        res.append((mse_i - full[:, None]) / full[:, None])
    return res[0], res[1]


@torch.no_grad()
def drop_one_mean(model, xn, codes):
    """(K, m): relative MSE increase with masked code i replaced by its batch mean, all
    m ablations decoded in one batched pass."""
    k, b, _ = xn.shape
    z = model.masked(codes)
    m = z.shape[2]
    full = (model.decoder(z) - xn).pow(2).mean(dim=(1, 2))
    zr = z.unsqueeze(1).repeat(1, m, 1, 1)  # (K, m, B, m)
    eye = torch.eye(m, dtype=z.dtype)
    # replace dim i of copy i by its batch mean: zr*(1-e_i) + mean_i e_i
    zr = zr * (1 - eye)[None, :, None, :] + (z.mean(dim=1)[:, None, None, :] * eye[None, :, None, :])
    dec = model.decoder(zr.reshape(k, m * b, m)).reshape(k, m, b, -1)
    mse_i = (dec - xn[:, None]).pow(2).mean(dim=(2, 3))
    return (mse_i - full[:, None]) / full[:, None].clamp_min(1e-12)


class Base(Diag, MaskAAE):
    name = "x-base"


class LogRecon(Diag, MaskAAE):
    """A: lambda log(MSE) in place of 300 MSE in the mask loss."""

    name = "x-log"
    lam = 8.0

    def mask_loss(self, xn):
        codes = self.encoder(xn)
        alpha = self.latent_mask()
        recon = self.recon_error(xn, codes)
        b = xn.shape[1]
        out = self.critic(self.masked(torch.cat([self.prior(b), codes], dim=1)))
        w_hat = out[:, :b].mean(dim=(1, 2)) - out[:, b:].mean(dim=(1, 2))
        polarise = (alpha * (1.0 - alpha)).abs().sum(dim=1)
        loss = self.decay * (self.lam * torch.log(recon) + (1.0 + w_hat).pow(2) + self.polariser * polarise)
        return {"loss": loss, "recon": recon, "w_hat": w_hat, "polarise": polarise}


class Value(Diag, MaskAAE):
    """B: lambda sum_i (1 - alpha_i) v_i in place of 300 MSE, v_i = stopgrad of the
    drop-one relative value (mean-ablation), measured on the mask step's own batch every
    VALUE_EVERY mask steps and smoothed by an EMA (rate VALUE_EMA)."""

    name = "x-value"
    lam = 1.0
    adversarial = True
    tau = 0.0
    value_every = 4
    value_ema = 0.25

    def _build(self):
        super()._build()
        self.register_buffer("value", torch.zeros(self.stack, self.config.latent_dim))
        self._calls = 0

    def mask_loss(self, xn):
        codes = self.encoder(xn)
        alpha = self.latent_mask()
        if self._calls % self.value_every == 0:
            rel = drop_one_mean(self, xn, codes.detach())
            if self._calls == 0:
                self.value.copy_(rel)
            else:
                self.value.add_(self.value_ema * (rel - self.value))
        self._calls += 1
        v = self.value
        polarise = (alpha * (1.0 - alpha)).abs().sum(dim=1)
        out_losses = {"polarise": polarise}
        if self.adversarial:
            b = xn.shape[1]
            out = self.critic(self.masked(torch.cat([self.prior(b), codes], dim=1)))
            w_hat = out[:, :b].mean(dim=(1, 2)) - out[:, b:].mean(dim=(1, 2))
            pull = self.lam * ((1.0 - alpha) * v).sum(dim=1)
            loss = pull + (1.0 + w_hat).pow(2)
            out_losses["w_hat"] = w_hat
        else:
            pull = (alpha * (self.tau - v)).sum(dim=1)
            loss = pull
        loss = self.decay * (loss + self.polariser * polarise)
        return {"loss": loss, "pull": pull, **out_losses}


def make(base: type, name: str, **attrs) -> str:
    cls = type(name.replace("-", "_").replace(".", "p"), (base,), {"name": name, **attrs})
    MODELS[name] = cls
    return name


def register_all() -> None:
    MODELS["x-base"] = Base
    for lam in (1.0, 8.0, 16.0, 32.0, 64.0):
        make(LogRecon, f"x-log{lam:g}", lam=lam)
    for lam in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0):
        make(Value, f"x-value{lam:g}", lam=lam)
    for tau in (0.003, 0.01, 0.03, 0.1):
        make(Value, f"x-tol{tau:g}", tau=tau, adversarial=False)


class NoiseGate(Diag, MaskAAE):
    """D: the mask gates information, not scale. In the AE and mask steps the decoder
    sees u_i = alpha_i E_i + sqrt(1 - alpha_i^2) s_i eps_i, eps ~ N(0, 1), s_i the
    (stop-gradient) batch std of code i: the mask sets dim i's signal-to-noise ratio
    alpha^2 / (1 - alpha^2), which neither the decoder (rescaling its first layer
    rescales the noise too) nor the encoder (s_i follows the code) can undo. So
    d MSE / d alpha_i is the value of dim i's information. Critic and encoder steps,
    evaluation and generation unchanged (alpha * E, alpha * p)."""

    name = "x-noise"
    lam = 300.0
    log_recon = False

    def gated(self, codes):
        alpha = self.latent_mask()[:, None]  # (K, 1, m)
        s = codes.detach().std(dim=1, keepdim=True)
        eps = self.draw(torch.randn, codes.shape[1], codes.shape[2])
        return alpha * codes + torch.sqrt((1.0 - alpha.pow(2)).clamp_min(0.0)) * s * eps

    def noisy_recon(self, xn, codes):
        return (self.decoder(self.gated(codes)) - xn).pow(2).mean(dim=(1, 2))

    def ae_loss(self, xn):
        codes = self.encoder(xn)
        alpha = self.latent_mask()
        recon = self.noisy_recon(xn, codes)
        variance = (codes.var(dim=1) * torch.exp(-10.0 * alpha.pow(2))).mean(dim=1)
        loss = self.decay * (recon + mk.VARIANCE_WEIGHT * variance)
        return {"loss": loss, "recon": recon, "variance": variance}

    def mask_loss(self, xn):
        codes = self.encoder(xn)
        alpha = self.latent_mask()
        recon = self.noisy_recon(xn, codes)
        b = xn.shape[1]
        out = self.critic(self.masked(torch.cat([self.prior(b), codes], dim=1)))
        w_hat = out[:, :b].mean(dim=(1, 2)) - out[:, b:].mean(dim=(1, 2))
        polarise = (alpha * (1.0 - alpha)).abs().sum(dim=1)
        rec_term = self.lam * (torch.log(recon) if self.log_recon else recon)
        loss = self.decay * (rec_term + (1.0 + w_hat).pow(2) + self.polariser * polarise)
        return {"loss": loss, "recon": recon, "w_hat": w_hat, "polarise": polarise}


def register_noise() -> None:
    for lam in (30.0, 100.0, 300.0, 1000.0, 3000.0):
        make(NoiseGate, f"x-noise{lam:g}", lam=lam)
    for lam in (1.0, 4.0, 16.0, 64.0):
        make(NoiseGate, f"x-noiselog{lam:g}", lam=lam, log_recon=True)


class InfoGate(NoiseGate):
    """E: noise gate (D) + a Dai-Wipf-style price per dim. Mask loss:
    (d/2) log MSE_noisy + sum_i I_i + polariser [+ (1 + W_hat)^2 if adversarial],
    I_i = -0.5 log(1 - alpha_i^2) = the capacity (nats) of dim i's Gaussian channel
    alpha E_i + sqrt(1 - alpha^2) s_i eps (SNR alpha^2 / (1 - alpha^2)). (d/2) log MSE is the
    Gaussian negative log-likelihood with its variance at the optimum (gamma = MSE), so
    the balance is likelihood nats against channel nats: no tuned weight."""

    name = "x-info"
    adversarial = False

    def mask_loss(self, xn):
        codes = self.encoder(xn)
        alpha = self.latent_mask()
        recon = self.noisy_recon(xn, codes)
        d = xn.shape[2]
        info = (-0.5 * torch.log((1.0 - alpha.pow(2)).clamp_min(1e-12))).sum(dim=1)
        polarise = (alpha * (1.0 - alpha)).abs().sum(dim=1)
        loss = 0.5 * d * torch.log(recon) + info
        out_losses = {"recon": recon, "info": info, "polarise": polarise}
        if self.adversarial:
            b = xn.shape[1]
            out = self.critic(self.masked(torch.cat([self.prior(b), codes], dim=1)))
            w_hat = out[:, :b].mean(dim=(1, 2)) - out[:, b:].mean(dim=(1, 2))
            loss = loss + (1.0 + w_hat).pow(2)
            out_losses["w_hat"] = w_hat
        return {"loss": self.decay * (loss + self.polariser * polarise), **out_losses}


def register_info() -> None:
    MODELS["x-info"] = InfoGate
    make(InfoGate, "x-infoadv", adversarial=True)


class ValueRamp(Value):
    """B2: the value pull grows as the dim is pushed down: gradient on alpha_i of
    -lam v_i (1 - alpha_i)^2 (loss lam sum_i v_i (1 - alpha_i)^3 / 3), so at the
    initial alpha = 0.86 the adversarial push prunes, and a dim whose value stays high
    while it slides is caught before the polariser's 0.5, one whose value drains is not."""

    name = "x-ramp"
    lam = 10.0

    def mask_loss(self, xn):
        codes = self.encoder(xn)
        alpha = self.latent_mask()
        if self._calls % self.value_every == 0:
            rel = drop_one_mean(self, xn, codes.detach())
            if self._calls == 0:
                self.value.copy_(rel)
            else:
                self.value.add_(self.value_ema * (rel - self.value))
        self._calls += 1
        b = xn.shape[1]
        out = self.critic(self.masked(torch.cat([self.prior(b), codes], dim=1)))
        w_hat = out[:, :b].mean(dim=(1, 2)) - out[:, b:].mean(dim=(1, 2))
        pull = self.lam * (self.value * (1.0 - alpha).pow(3) / 3.0).sum(dim=1)
        polarise = (alpha * (1.0 - alpha)).abs().sum(dim=1)
        loss = self.decay * (pull + (1.0 + w_hat).pow(2) + self.polariser * polarise)
        return {"loss": loss, "pull": pull, "w_hat": w_hat, "polarise": polarise}


def register_ramp() -> None:
    for lam in (3.0, 10.0, 30.0, 100.0):
        make(ValueRamp, f"x-ramp{lam:g}", lam=lam)


class Projected(Diag, MaskAAE):
    """F: the adversarial push without its overall-scale component. g = d(1+W_hat)^2/d alpha
    is projected off the direction alpha (the uniform rescaling alpha -> (1+e) alpha, which
    shrinks any Wasserstein gap, W being homogeneous of degree 1, and which the decoder's
    first layer absorbs so that reconstruction cannot resist it); the mask step descends
    sum_i alpha_i stopgrad(g_perp_i) in place of (1+W_hat)^2. Reconstruction term as
    baseline (weight lam, default 300)."""

    name = "x-proj"
    lam = 300.0

    def mask_loss(self, xn):
        codes = self.encoder(xn)
        alpha = self.latent_mask()
        recon = self.recon_error(xn, codes)
        b = xn.shape[1]
        out = self.critic(torch.cat([self.prior(b), codes], dim=1) * alpha[:, None])
        w_hat = out[:, :b].mean(dim=(1, 2)) - out[:, b:].mean(dim=(1, 2))
        if alpha.requires_grad:
            g = torch.autograd.grad((1.0 + w_hat).pow(2).sum(), alpha, retain_graph=True)[0]
        else:
            g = torch.zeros_like(alpha)
        a = alpha.detach()
        g_perp = g - (g * a).sum(dim=1, keepdim=True) / (a * a).sum(dim=1, keepdim=True).clamp_min(1e-12) * a
        adv = (alpha * g_perp.detach()).sum(dim=1)
        polarise = (alpha * (1.0 - alpha)).abs().sum(dim=1)
        loss = self.decay * (self.lam * recon + adv + self.polariser * polarise)
        return {
            "loss": loss,
            "recon": recon,
            "w_hat": w_hat,
            "adv_par": (g * a).sum(dim=1),
            "polarise": polarise,
        }


def register_proj() -> None:
    for lam in (0.0, 30.0, 100.0, 300.0, 1000.0):
        make(Projected, f"x-proj{lam:g}", lam=lam)


class Gate(Value):
    """G: the drop-one value as a gate, not a force. The mask loss is the official one
    (300 MSE + (1 + W_hat)^2 + polariser), but the adversarial term reaches only the
    dims whose smoothed relative value v_i is below a tolerance tau: a dim whose removal
    would raise the reconstruction error by more than tau (relative) is protected. The
    push stops by itself once every remaining dim is protected."""

    name = "x-gate"
    tau = 0.1

    def mask_loss(self, xn):
        codes = self.encoder(xn)
        alpha = self.latent_mask()
        if self._calls % self.value_every == 0:
            rel = drop_one_mean(self, xn, codes.detach())
            if self._calls == 0:
                self.value.copy_(rel)
            else:
                self.value.add_(self.value_ema * (rel - self.value))
        self._calls += 1
        gate = (self.value < self.tau).to(alpha.dtype)
        gated = alpha * gate + alpha.detach() * (1.0 - gate)  # same values, gradient only where open
        recon = self.recon_error(xn, codes)
        b = xn.shape[1]
        out = self.critic(torch.cat([self.prior(b), codes], dim=1) * gated[:, None])
        w_hat = out[:, :b].mean(dim=(1, 2)) - out[:, b:].mean(dim=(1, 2))
        polarise = (alpha * (1.0 - alpha)).abs().sum(dim=1)
        loss = self.decay * (300.0 * recon + (1.0 + w_hat).pow(2) + self.polariser * polarise)
        return {"loss": loss, "recon": recon, "w_hat": w_hat, "open": gate.sum(dim=1), "polarise": polarise}


def register_gate() -> None:
    for tau in (0.05, 0.1, 0.2, 0.3):
        make(Gate, f"x-gate{tau:g}", tau=tau)
