"""Loss math as pure torch functions: MMD with the IMQ kernel, WGAN-GP pieces."""

from __future__ import annotations

import torch

IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def squared_distances(a: torch.Tensor) -> torch.Tensor:
    """All pairwise ||a_i - a_j||^2 of the rows of ``a`` with one matmul, clamped >= 0."""
    sq = (a * a).sum(dim=1)
    return (sq[:, None] + sq[None, :] - 2.0 * (a @ a.T)).clamp_min(0.0)


def mmd_imq(codes: torch.Tensor, prior: torch.Tensor, scales=IMQ_SCALES) -> torch.Tensor:
    """Unbiased MMD^2 U-statistic between two equal-size samples, IMQ kernel.

    k(a, b) = sum_s C_s / (C_s + ||a - b||^2), C_s = 2 m s (Tolstikhin et al. 2018);
    MMD^2 = [sum_{i!=j} k(z_i,z_j) + k(p_i,p_j)] / (B (B-1)) - 2 sum_{i,j} k(z_i,p_j) / B^2.
    The pairwise distances of the stacked batch are computed once for all scales.
    """
    b, m = codes.shape
    dist = squared_distances(torch.cat([codes, prior]))
    c = 2.0 * m * torch.tensor(scales, dtype=dist.dtype, device=dist.device)
    kernel = (c[:, None, None] / (c[:, None, None] + dist)).sum(dim=0)
    diag = kernel.diagonal().sum()  # k(a, a) terms, excluded from the U-statistic
    within = kernel[:b, :b].sum() + kernel[b:, b:].sum() - diag
    across = kernel[:b, b:].sum()
    return within / (b * (b - 1)) - 2.0 * across / (b * b)


def wgan_gp_terms(
    critic: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, generator=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Wasserstein estimate W = mean D(real) - mean D(fake) and the gradient penalty
    GP = E[(||grad D(x_hat)|| - 1)^2], x_hat = t real + (1 - t) fake, t ~ U(0, 1).

    One critic pass over the stacked real, fake and interpolated rows serves both.
    ``real`` and ``fake`` are treated as constants (the critic's own step).
    """
    b = real.shape[0]
    real, fake = real.detach(), fake.detach()
    t = torch.rand(b, 1, generator=generator, dtype=real.dtype)
    mixed = (t * real + (1 - t) * fake).requires_grad_(True)
    out = critic(torch.cat([real, fake, mixed]))
    (grad,) = torch.autograd.grad(out[2 * b :].sum(), mixed, create_graph=True)
    wasserstein = out[:b].mean() - out[b : 2 * b].mean()
    return wasserstein, ((grad.norm(dim=1) - 1.0) ** 2).mean()
