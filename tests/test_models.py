"""Contract every registered model must satisfy, plus model-specific properties."""

import numpy as np
import pytest
import torch

from latentdim.config import ModelConfig, TrainConfig
from latentdim.errors import DivergenceError
from latentdim.models import MODELS, build_model
from latentdim.models.maskaae import official_period, polariser, polariser_period
from latentdim.runs import fit, load_run, save_run

SMALL = {"hidden": (32, 32), "critic_hidden": (32, 32)}
FAST = TrainConfig(steps=40, batch_size=32, log_every=10, eval_samples=200)


def _model(name, d=32, m=6, seed=0):
    return build_model(ModelConfig(name, m, d, **SMALL), torch.Generator().manual_seed(seed))


def _batch(small_n8, model, size=64):
    x = torch.from_numpy(small_n8.x[:size])[None]
    model.fit_normaliser(torch.from_numpy(small_n8.x)[None])
    return model.normalise(x)


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_and_finite_losses(name, small_n8):
    model = _model(name)
    xn = _batch(small_n8, model)
    assert model.encode(small_n8.x[:10]).shape == (10, 6)
    assert model.reconstruct(small_n8.x[:10]).shape == (10, 32)
    assert model.sample(7).shape == (7, 32)
    for step in model.make_steps(100):
        losses = step.loss(xn)
        assert "loss" in losses and losses["loss"].shape == (1,)
        assert all(torch.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("name", list(MODELS))
def test_one_step_lowers_each_loss_on_a_fixed_batch(name, small_n8):
    # float64: a 1e-4 step on MaskAAE's mask moves its loss (~300) by ~1e-5, below
    # float32 resolution at that size
    model = _model(name).double()
    xn = _batch(small_n8, model).double()
    for step in model.make_steps(1000):
        for group in step.optimizer.param_groups:
            group["lr"] = min(group["lr"], 1e-4)

        def loss(step=step):
            model.generators[0].manual_seed(123)  # same prior draws before and after
            return step.loss(xn)["loss"].sum()

        before = loss()
        step.optimizer.zero_grad()
        before.backward()
        step.optimizer.step()
        if step.after:
            step.after()
        with torch.enable_grad():
            after = loss()
        assert after.item() < before.item(), step.name


@pytest.mark.parametrize("name", list(MODELS))
def test_save_load_round_trip(name, small_n8, tmp_path):
    result = fit(small_n8.x, ModelConfig(name, 5, **SMALL), FAST)
    save_run(result, tmp_path / "run")
    loaded = load_run(tmp_path / "run")
    x = small_n8.x[:20]
    np.testing.assert_array_equal(loaded.encode(x), result.model.encode(x))
    np.testing.assert_array_equal(
        loaded.sample(9, torch.Generator().manual_seed(4)),
        result.model.sample(9, torch.Generator().manual_seed(4)),
    )
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.json",
        "history.csv",
        "metrics.json",
        "model.pt",
        "timings.json",
    ]


@pytest.mark.parametrize("name", list(MODELS))
def test_same_seed_same_result(name, small_n8):
    a = fit(small_n8.x, ModelConfig(name, 5, **SMALL), FAST)
    b = fit(small_n8.x, ModelConfig(name, 5, **SMALL), FAST)
    c = fit(small_n8.x, ModelConfig(name, 5, **SMALL), TrainConfig(**{**FAST.to_dict(), "seed": 1}))
    assert a.metrics == b.metrics
    assert a.history.rows == b.history.rows
    assert a.config["id"] == b.config["id"] != c.config["id"]
    assert a.metrics["scaled_fid"] != c.metrics["scaled_fid"]


def test_training_lowers_reconstruction(small_n8):
    result = fit(small_n8.x, ModelConfig("wae-mmd", 8, **SMALL), TrainConfig(steps=300, log_every=50))
    recon = result.history.column("ae_recon")
    assert recon[-1] < 0.5 * recon[0]


def test_divergence_guard_raises_a_specific_error(small_n8):
    config = TrainConfig(steps=20, log_every=5, diverge_at=1e-9)
    with pytest.raises(DivergenceError, match="diverged at iteration 5") as info:
        fit(small_n8.x, ModelConfig("wae-mmd", 4, **SMALL), config)
    assert info.value.iteration == 5 and info.value.name.startswith("ae_")


def test_polariser_schedule_follows_the_budget():
    assert official_period(16) == 75 and official_period(24) == 2700
    # a long budget keeps the official schedule
    assert polariser_period(16, 500_000) == 75
    for m in (2, 8, 16, 24, 32, 64):
        for budget in (1000, 3000, 20000):
            period = polariser_period(m, budget)
            assert polariser(budget // 2, m, period) == 2048.0  # capped by mid-run
    assert polariser(0, 16, 75) == pytest.approx(2 / 16)
    assert polariser(300, 16, 75) == pytest.approx(4 / 16)


def test_polariser_is_off_then_capped_within_the_budget():
    from latentdim.models.maskaae import polariser_schedule

    for m in (2, 8, 16, 24, 32, 64):
        for budget in (1000, 3000, 20000):
            start = int(0.75 * budget)
            assert polariser_schedule(start - 1, m, budget) == 0.0
            assert polariser_schedule(start, m, budget) == pytest.approx(2 / m)
            assert polariser_schedule(int(0.875 * budget), m, budget) == 2048.0


def test_maskaae_mask_starts_in_range_and_stays_nonnegative(small_n8):
    result = fit(small_n8.x, ModelConfig("maskaae", 6, **SMALL), FAST)
    w = result.model.w.detach()
    assert (w >= 0).all()
    alpha = np.asarray(result.metrics["mask"])
    assert ((alpha >= 0) & (alpha < 1)).all()
    assert result.metrics["active_dims"] == int((alpha >= 0.1).sum())


def test_maskaae_mask_ends_polarised():
    from latentdim import make_dataset

    ds = make_dataset(2, 16, samples=2000, seed=0)
    config = ModelConfig("maskaae", 6, hidden=(32, 32), critic_hidden=(32, 32))
    result = fit(ds.x, config, TrainConfig(steps=600, log_every=100))
    alpha = np.asarray(result.metrics["mask"])
    assert np.all((alpha < 0.1) | (alpha > 0.9)), alpha


@pytest.mark.parametrize("seed", [0, 1])
def test_maskaae_switches_off_surplus_dims_on_easy_data(seed):
    # n = 2 data, capacity m = 6: at most 3 dims may stay on (METHOD.md §3, issue 3)
    from latentdim import make_dataset

    x = make_dataset(2, 16, samples=3000, seed=0).x
    config = ModelConfig("maskaae", 6, hidden=(64, 64), critic_hidden=(64, 64))
    result = fit(x, config, TrainConfig(steps=1500, seed=seed, log_every=100))
    assert 1 <= result.metrics["active_dims"] <= 3, result.metrics["mask"]


def test_flexae_prior_moves_toward_the_codes(small_n8):
    from latentdim.metrics import frechet_distance

    result = fit(
        small_n8.x,
        ModelConfig("flexae", 4, **SMALL),
        TrainConfig(steps=1500, batch_size=64, eval_samples=200),
    )
    model = result.model
    codes = model.encode(small_n8.x[:1000])
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        u = torch.randn(1, 1000, 4, generator=g)
        learned = model.prior_map(u)[0].numpy()
    assert frechet_distance(learned, codes) < 0.7 * frechet_distance(u[0].numpy(), codes)
