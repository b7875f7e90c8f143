import numpy as np
import pytest

from latentdim import LATENT_LAWS, LatentdimError, SyntheticSpec, load_dataset, make_dataset
from latentdim.data.synthetic import spec_from_recipe


@pytest.mark.parametrize("n, d", [(4, 128), (8, 128), (16, 64), (3, 3)])
def test_map_is_injective_jacobian_has_rank_n(n, d):
    ds = make_dataset(n, d, samples=200, seed=1)
    for z in ds.z[:20].astype(np.float64):
        jac = ds.map.jacobian(z)
        assert jac.shape == (d, n)
        singular = np.linalg.svd(jac, compute_uv=False)
        assert singular[-1] > 1e-3 * singular[0]


def test_jacobian_matches_finite_differences():
    ds = make_dataset(5, 20, samples=10, seed=2)
    z = ds.z[0].astype(np.float64)
    eps = 1e-6
    numeric = np.stack(
        [(ds.map(z + eps * e) - ds.map(z - eps * e)) / (2 * eps) for e in np.eye(5)], axis=1
    )
    np.testing.assert_allclose(ds.map.jacobian(z), numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("lipschitz, depth", [(4.0, 3), (1.0, 1), (10.0, 5)])
def test_lipschitz_bound_holds_on_random_pairs(lipschitz, depth):
    ds = make_dataset(6, 40, samples=4000, seed=3, lipschitz=lipschitz, depth=depth)
    bound = ds.meta["lipschitz_bound"]
    assert bound == pytest.approx(lipschitz, rel=1e-9)
    rng = np.random.default_rng(0)
    z1 = rng.standard_normal((20000, 6)) * 3
    z2 = z1 + rng.standard_normal((20000, 6)) * rng.choice([1e-3, 1e-1, 3.0], size=(20000, 1))
    ratios = np.linalg.norm(ds.map(z1) - ds.map(z2), axis=1) / np.linalg.norm(z1 - z2, axis=1)
    assert ratios.max() <= bound * (1 + 1e-9)
    if depth == 1:  # a single linear layer attains its spectral norm
        assert ratios.max() > 0.9 * bound


def test_same_seed_same_bytes_other_seed_differs():
    a = make_dataset(8, 64, samples=500, seed=7)
    b = make_dataset(8, 64, samples=500, seed=7)
    c = make_dataset(8, 64, samples=500, seed=8)
    assert a.x.dtype == np.float32 and a.x.tobytes() == b.x.tobytes()
    assert a.meta["sha256"] == b.meta["sha256"] != c.meta["sha256"]
    assert not np.allclose(a.x, c.x)


def test_larger_sample_extends_smaller_one():
    small = make_dataset(4, 16, samples=100, seed=3)
    large = make_dataset(4, 16, samples=300, seed=3)
    np.testing.assert_array_equal(small.x, large.x[:100])


@pytest.mark.parametrize("law", list(LATENT_LAWS))
def test_latents_have_zero_mean_identity_covariance(law):
    ds = make_dataset(5, 10, samples=40000, seed=4, latent=law)
    z = ds.z.astype(np.float64)
    assert np.abs(z.mean(axis=0)).max() < 0.05
    np.testing.assert_allclose(np.cov(z, rowvar=False), np.eye(5), atol=0.06)


def test_noise_adds_given_sigma():
    clean = make_dataset(4, 32, samples=5000, seed=5)
    noisy = make_dataset(4, 32, samples=5000, seed=5, noise=0.1)
    np.testing.assert_array_equal(clean.z, noisy.z)
    assert np.std(noisy.x - clean.x) == pytest.approx(0.1, rel=0.02)


@pytest.mark.parametrize("n", [4, 8])
def test_intrinsic_dimension_estimate_recovers_n(n):
    skdim = pytest.importorskip("skdim")
    ds = make_dataset(n, 128, samples=5000, seed=0)
    assert abs(skdim.id.TwoNN().fit(ds.x).dimension_ - n) <= 0.5


def test_save_load_round_trip(tmp_path):
    ds = make_dataset(3, 12, samples=50, seed=9, latent="uniform", noise=0.01)
    path = ds.save(tmp_path / "d.npz")
    back = load_dataset(path)
    assert back == ds
    assert back.spec == ds.spec
    assert back.meta["lipschitz_bound"] == ds.meta["lipschitz_bound"]
    with pytest.raises(LatentdimError, match="exists"):
        ds.save(path)
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0, "d": 5}, "n must be positive"),
        ({"n": 6, "d": 5}, "d must be >= n"),
        ({"n": 4, "d": 8, "width": 3}, "width must be >= n"),
        ({"n": 4, "d": 8, "width": 9}, "width must be <= d"),
        ({"n": 4, "d": 8, "samples": 1}, "samples must be >= 2"),
        ({"n": 4, "d": 8, "noise": -0.1}, "noise must be >= 0"),
        ({"n": 4, "d": 8, "latent": "cauchy"}, "unknown latent law"),
        ({"n": 4, "d": 8, "lipschitz": 0}, "lipschitz must be > 0"),
    ],
)
def test_spec_rejects_bad_input(kwargs, message):
    with pytest.raises(LatentdimError, match=message):
        SyntheticSpec(**kwargs)


def test_recipes_ship_for_the_study_dimensions():
    for n in (4, 8, 16, 32):
        spec = spec_from_recipe(f"synthetic/n{n}-d128.toml")
        assert (spec.n, spec.d) == (n, 128)
    assert spec_from_recipe("synthetic/n8-d128.toml", samples=10).samples == 10
