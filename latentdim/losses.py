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
    The pairwise distances of the stacked batch are computed once for all scales, and
    the gradient is written out (one matmul) instead of taped through every scale.
    """
    b, m = codes.shape
    if prior.shape != codes.shape or b < 2:
        raise ValueError(f"mmd_imq needs equal shape samples, B >= 2; got {codes.shape}, {prior.shape}")
    return _MMDIMQ.apply(codes, prior, tuple(2.0 * m * s for s in scales))


class _MMDIMQ(torch.autograd.Function):
    """MMD^2 = sum_ij W_ij k(D_ij) over the stacked rows a = [codes; prior], with
    D_ij = ||a_i - a_j||^2 and W the U-statistic weights (0 on the diagonal,
    1/(B(B-1)) within a sample, -1/B^2 across). Backward, with G = W * dk/dD
    (symmetric): dL/da_i = 4 (sum_j G_ij a_i - (G a)_i)."""

    @staticmethod
    def forward(ctx, codes, prior, constants):
        b = codes.shape[0]
        a = torch.cat([codes, prior])
        sq = (a * a).sum(dim=1)
        dist = torch.addmm(sq[:, None] + sq[None, :], a, a.T, alpha=-2.0).clamp_min_(0.0)
        kernel = torch.zeros_like(dist)
        slope = torch.zeros_like(dist)
        for c in constants:
            inverse = (dist + c).reciprocal_()
            kernel.add_(inverse, alpha=c)  # c / (c + D)
            slope.sub_(inverse.square_(), alpha=c)  # d/dD c / (c + D) = -c / (c + D)^2
        weights = torch.full_like(dist, 1.0 / (b * (b - 1)))
        weights[:b, b:] = weights[b:, :b] = -1.0 / (b * b)
        weights.fill_diagonal_(0.0)
        ctx.save_for_backward(a, slope.mul_(weights))
        ctx.b = b
        return (kernel * weights).sum()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        a, g = ctx.saved_tensors
        grad_a = (4.0 * grad) * (g.sum(dim=1, keepdim=True) * a - g @ a)
        return grad_a[: ctx.b], grad_a[ctx.b :], None


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
