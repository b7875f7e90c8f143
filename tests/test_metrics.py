import numpy as np
import pytest
import torch

from latentdim.metrics import (
    active_dims,
    frechet_distance,
    frechet_distance_gaussians,
    nac,
    recon_mse,
    scaled_fid,
)
from latentdim.nn.losses import mmd_imq, squared_distances, wgan_gp_terms


def _spd(rng, k):
    a = rng.standard_normal((k, k))
    return a @ a.T + 0.1 * np.eye(k)


def test_frechet_closed_form_non_commuting():
    # diagonal vs rotated-diagonal covariances do not commute
    s1 = np.diag([4.0, 1.0])
    theta = 0.7
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    s2 = rot @ np.diag([9.0, 0.25]) @ rot.T
    assert not np.allclose(s1 @ s2, s2 @ s1)
    mu1, mu2 = np.array([1.0, 2.0]), np.array([-1.0, 0.5])
    # closed form for 2x2: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)), M = S1 S2
    m = s1 @ s2
    trace_sqrt = np.sqrt(np.trace(m) + 2 * np.sqrt(np.linalg.det(m)))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert frechet_distance_gaussians(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-12)


def test_frechet_matches_eigenvalues_of_product_in_higher_dimension():
    rng = np.random.default_rng(0)
    s1, s2 = _spd(rng, 6), _spd(rng, 6)
    trace_sqrt = np.sqrt(np.linalg.eigvals(s1 @ s2).real).sum()  # S1 S2 has positive spectrum
    expected = np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    got = frechet_distance_gaussians(np.zeros(6), s1, np.zeros(6), s2)
    assert got == pytest.approx(expected, rel=1e-10)
    assert got == pytest.approx(frechet_distance_gaussians(np.zeros(6), s2, np.zeros(6), s1))


def test_frechet_same_law_near_zero_bias_shrinks_with_n():
    rng = np.random.default_rng(1)
    cov = _spd(rng, 5)
    chol = np.linalg.cholesky(cov)

    def bias(n):
        return np.mean([
            frechet_distance(rng.standard_normal((n, 5)) @ chol.T, rng.standard_normal((n, 5)) @ chol.T)
            for _ in range(10)
        ])

    small, large = bias(500), bias(8000)
    assert 0 <= large < small / 8  # O(1/N): 16x the points, ~16x less bias
    assert large < 0.01 * np.trace(cov)


def test_scaled_fid_invariant_to_rescaling():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((2000, 4)) @ _spd(rng, 4)
    fake = rng.standard_normal((2000, 4)) * 1.5 + 0.3
    base = scaled_fid(fake, real)
    assert base > 0
    assert scaled_fid(17.0 * fake, 17.0 * real) == pytest.approx(base, rel=1e-10)
    assert frechet_distance(17.0 * fake, 17.0 * real) == pytest.approx(289 * frechet_distance(fake, real))


def test_nac_independent_vs_duplicated():
    rng = np.random.default_rng(3)
    independent = rng.standard_normal((20000, 8))
    assert nac(independent) < 0.02
    duplicated = np.repeat(rng.standard_normal((20000, 1)), 4, axis=1)
    assert nac(duplicated) == pytest.approx(1.0)
    mixed = np.column_stack([independent[:, :3], -2 * independent[:, 0]])
    # one pair of four columns is perfectly correlated: 2 of 12 ordered pairs
    assert nac(mixed) == pytest.approx(2 / 12, abs=0.02)
    assert nac(mixed, active=np.array([1, 2])) < 0.03
    assert np.isnan(nac(independent, active=np.array([0])))


def test_nac_constant_column_counts_as_uncorrelated():
    rng = np.random.default_rng(4)
    codes = np.column_stack([rng.standard_normal(1000), np.ones(1000), rng.standard_normal(1000)])
    assert np.isfinite(nac(codes)) and nac(codes) < 0.1


def test_active_dims_threshold():
    np.testing.assert_array_equal(active_dims(np.array([0.0, 0.1, 0.09, 0.99])), [1, 3])


def test_recon_mse():
    assert recon_mse(np.zeros((2, 2)), np.array([[1.0, 0], [0, 3.0]])) == pytest.approx(2.5)


def test_squared_distances_match_numpy():
    a = torch.randn(30, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    direct = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
    torch.testing.assert_close(squared_distances(a), direct)


def _mmd_numpy(x, y, scales=(0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)):
    b, m = x.shape

    def k(a, c):
        d2 = ((a[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        return sum(2 * m * s / (2 * m * s + d2) for s in scales)

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off = ~np.eye(b, dtype=bool)
    return kxx[off].sum() / (b * (b - 1)) + kyy[off].sum() / (b * (b - 1)) - 2 * kxy.mean()


def test_mmd_matches_direct_numpy():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((40, 3)) + 0.5, rng.standard_normal((40, 3))
    got = mmd_imq(torch.from_numpy(x), torch.from_numpy(y)).item()
    assert got == pytest.approx(_mmd_numpy(x, y), rel=1e-10)
    same = mmd_imq(torch.from_numpy(y), torch.from_numpy(rng.standard_normal((40, 3)))).item()
    assert abs(same) < got


def test_mmd_gradient_matches_finite_differences():
    gen = torch.Generator().manual_seed(1)
    codes = torch.randn(12, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    prior = torch.randn(12, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(mmd_imq, (codes, prior))


def test_mmd_gradient_equals_the_taped_one():
    # the hand-written backward against autograd through the plain formula
    gen = torch.Generator().manual_seed(2)
    codes = torch.randn(50, 6, generator=gen, requires_grad=True)
    prior = torch.randn(50, 6, generator=gen)
    b, m = codes.shape
    dist = squared_distances(torch.cat([codes, prior]))
    kernel = sum(2 * m * s / (2 * m * s + dist) for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0))
    off = ~torch.eye(b, dtype=torch.bool)
    taped = (
        kernel[:b, :b][off].sum() / (b * (b - 1))
        + kernel[b:, b:][off].sum() / (b * (b - 1))
        - 2 * kernel[:b, b:].mean()
    )
    (expected,) = torch.autograd.grad(taped, codes)
    (got,) = torch.autograd.grad(mmd_imq(codes, prior), codes)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-9)


def test_mmd_rejects_unequal_samples():
    with pytest.raises(ValueError, match="equal shape samples"):
        mmd_imq(torch.randn(5, 2), torch.randn(6, 2))


def test_wgan_gp_terms_of_linear_critic():
    # D(x) = w.x has gradient w everywhere: penalty is (||w|| - 1)^2
    critic = torch.nn.Linear(3, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 0.0, 4.0]]))
    real, fake = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 3, dtype=torch.float64)
    t = torch.rand(16, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    wasserstein, gp = wgan_gp_terms(critic, real, fake, t)
    assert gp.item() == pytest.approx(16.0)
    expected = (critic(real).mean() - critic(fake).mean()).item()
    assert wasserstein.item() == pytest.approx(expected)
