"""Metrics that see the manifold, against closed forms, constructed cases and the
reference implementation ``prdc``: precision/recall/density/coverage, the energy
distance, the ground-truth manifold error and latent recovery."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from latentdim import make_dataset
from latentdim.metrics import energy_distance, knn_radii, manifold_distance, off_manifold, prdc


def test_prdc_matches_the_reference_implementation():
    prdc_package = pytest.importorskip("prdc")
    rng = np.random.default_rng(0)
    real = rng.standard_normal((300, 5))
    fake = 1.3 * rng.standard_normal((250, 5)) + 0.4
    expected = prdc_package.compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
    ours = prdc(real, fake, k=5)
    assert set(ours) == set(expected)
    for key, value in expected.items():
        assert ours[key] == pytest.approx(float(value), abs=1e-12), key


def test_prdc_of_identical_and_of_disjoint_samples():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((400, 3))
    same = prdc(real, real.copy())
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert same["density"] >= 1.0  # every point sits in its own ball and its neighbours'
    far = prdc(real, real + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_sees_off_manifold_samples_and_missed_parts():
    rng = np.random.default_rng(2)
    basis = np.linalg.qr(rng.standard_normal((6, 2)))[0]  # a plane in R^6
    real = rng.standard_normal((1000, 2)) @ basis.T
    on = rng.standard_normal((1000, 2)) @ basis.T
    normal = np.linalg.qr(np.hstack([basis, rng.standard_normal((6, 1))]))[0][:, 2]
    half_off = np.vstack([on[:500], on[500:] + 3.0 * normal])
    scores = prdc(real, half_off)
    assert 0.4 < scores["precision"] < 0.56  # off-plane points are in no real ball
    assert scores["recall"] > 0.9
    one_side = on[on @ basis[:, 0] > 0]  # covers half of the plane
    missed = prdc(real, one_side)
    assert missed["precision"] > 0.95 and missed["coverage"] < 0.6


def test_knn_radii_are_kth_neighbour_distances():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(knn_radii(x, 1), [1.0, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(knn_radii(x, 2), [3.0, 2.0, 3.0, 6.0])
    with pytest.raises(ValueError, match="k must be"):
        knn_radii(x, 4)


def test_energy_distance_matches_the_direct_sums_and_is_scale_free():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((30, 4)), rng.standard_normal((20, 4)) + 0.5
    d_ab = np.linalg.norm(a[:, None] - b[None], axis=-1).mean()
    d_aa = np.linalg.norm(a[:, None] - a[None], axis=-1).sum() / (30 * 29)
    d_bb = np.linalg.norm(b[:, None] - b[None], axis=-1).sum() / (20 * 19)
    distance, coefficient = energy_distance(a, b)
    assert distance == pytest.approx(2 * d_ab - d_aa - d_bb, rel=1e-12)
    assert coefficient == pytest.approx(distance / (2 * d_ab), rel=1e-12)
    moved = energy_distance(3.0 * a - 1.0, 3.0 * b - 1.0)
    assert moved[0] == pytest.approx(3.0 * distance) and moved[1] == pytest.approx(coefficient)


def test_energy_distance_of_shifted_normals_is_the_closed_form():
    # X ~ N(0, 1), Y ~ N(mu, 1): E|X - Y| = E|N(mu, 2)|, E|X - X'| = 2 / sqrt(pi)
    rng = np.random.default_rng(4)
    mu, s = 1.0, math.sqrt(2.0)
    folded = s * math.sqrt(2 / math.pi) * math.exp(-(mu**2) / (2 * s**2)) + mu * (1 - 2 * norm.cdf(-mu / s))
    expected = 2 * folded - 2 * (2 / math.sqrt(math.pi))
    # the estimate's sd is 0.036 at 2000 points a side (20 trials): 10 trials, 3 sd of their mean
    trials = [energy_distance(rng.standard_normal((2000, 1)), rng.standard_normal((2000, 1)) + mu)[0]
              for _ in range(10)]
    assert np.mean(trials) == pytest.approx(expected, abs=3 * 0.036 / math.sqrt(10))
    same, h = energy_distance(rng.standard_normal((3000, 3)), rng.standard_normal((3000, 3)))
    assert abs(same) < 0.01 and abs(h) < 0.003


@pytest.fixture(scope="module")
def n4():
    return make_dataset(4, 16, samples=3000, seed=5)


def _scale(x):
    return float(np.sqrt(((x - x.mean(0)) ** 2).mean()) * math.sqrt(x.shape[1]))


def test_manifold_error_is_zero_on_the_manifold(n4):
    anchors_x, anchors_z = n4.x[:2000], n4.z[:2000]
    z = np.random.default_rng(6).standard_normal((200, 4))
    on = n4.map(z)
    distance = manifold_distance(on, n4.map, anchors_x, anchors_z, scale=_scale(n4.x), starts=5)
    assert distance.max() < 1e-9
    # one start: a local solver; most points converge to themselves and their latent
    found, distance = n4.map.project(on, anchors_z[:200])  # from far-off starting points
    close = distance < 1e-9
    assert close.mean() > 0.8
    np.testing.assert_allclose(found[close], z[close], atol=1e-6)


def test_manifold_error_is_the_normal_offset(n4):
    rng = np.random.default_rng(7)
    z = rng.standard_normal((100, 4))
    scale = _scale(n4.x)
    offsets = scale * rng.uniform(0.001, 0.01, size=100)
    moved = []
    for zi, t in zip(z, offsets, strict=True):
        tangent = np.linalg.qr(n4.map.jacobian(zi))[0]
        v = rng.standard_normal(16)
        v -= tangent @ (tangent.T @ v)  # orthogonal to the tangent space at f(z)
        moved.append(n4.map(zi[None])[0] + t * v / np.linalg.norm(v))
    _, distance = n4.map.project(np.array(moved), z + 0.05 * rng.standard_normal(z.shape))
    # a local solver: the offset itself for nearly every point, never below it
    assert np.mean(np.abs(distance / offsets - 1) < 1e-6) >= 0.95
    assert np.all(distance >= offsets * (1 - 1e-9))
    relative = manifold_distance(np.array(moved), n4.map, n4.x, n4.z, scale=scale, starts=5)
    # the offset bounds the distance (near a kink of f a neighbouring piece can be
    # closer); the metric's solver stops at a 1e-4 relative gain in squared distance,
    # and is local: here one point of 100 stops at a local minimum 0.9 % farther
    ratio = relative * scale / offsets
    assert np.mean(np.abs(ratio - 1) < 1e-4) >= 0.95 and np.all(ratio < 1.02)


def test_off_manifold_is_the_share_beyond_the_reconstructions_quantile():
    reconstructed = np.linspace(0.0, 1.0, 101)  # 90 % quantile: 0.9
    assert off_manifold(reconstructed, reconstructed) == pytest.approx(0.1, abs=0.01)
    assert off_manifold(np.full(50, 0.5), reconstructed) == 0.0
    assert off_manifold(np.r_[np.full(30, 2.0), np.full(70, 0.1)], reconstructed) == pytest.approx(0.3)


def test_batched_jacobians_match_the_single_one(n4):
    z = np.random.default_rng(8).standard_normal((5, 4))
    batched = n4.map.jacobians(z)
    assert batched.shape == (5, 16, 4)
    for zi, jac in zip(z, batched, strict=True):
        np.testing.assert_allclose(jac, n4.map.jacobian(zi), rtol=1e-12)


def test_latent_recovery_reads_the_share_of_factors_carried():
    from latentdim.metrics import latent_recovery

    rng = np.random.default_rng(9)
    z = rng.standard_normal((4000, 4))
    codes = np.tanh(z @ np.linalg.qr(rng.standard_normal((4, 4)))[0] / 2)  # invertible, curved
    full = latent_recovery(codes[:3000], z[:3000], codes[3000:], z[3000:])
    dropped = latent_recovery(z[:3000, 1:], z[:3000], z[3000:, 1:], z[3000:])
    assert full > 0.97
    assert dropped == pytest.approx(0.75, abs=0.03)  # factor 0 is lost: R^2 0 of 4 factors
    assert latent_recovery(codes[:3000, :0], z[:3000], codes[3000:, :0], z[3000:]) == 0.0


def test_prdc_energy_is_prdc_and_the_energy_coefficient_in_one_pass():
    from latentdim.metrics import prdc_energy

    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(400, 12)), rng.normal(size=(437, 12)) * 1.2 + 0.1
    both = prdc_energy(real, fake)
    assert {k: both[k] for k in ("precision", "recall", "density", "coverage")} == prdc(real, fake)
    assert both["energy"] == pytest.approx(energy_distance(fake, real)[1], rel=1e-12)
