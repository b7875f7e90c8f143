"""The VAE family: its loss math against closed forms and torch.distributions, its three
decoder likelihoods, active units, and the one-line errors around them."""

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from latentdim import make_dataset
from latentdim.cli import cli
from latentdim.config import ModelConfig, TrainConfig
from latentdim.errors import LatentdimError
from latentdim.metrics import (
    active_units,
    local_gap_contrasts,
    local_gap_counts,
    variance_gap_contrasts,
    variance_gap_count,
    variance_gap_counts,
)
from latentdim.models import build_model
from latentdim.nn.losses import bernoulli_nll, gaussian_kl, gaussian_nll
from latentdim.runs import fit, fit_stack

SMALL = {"hidden": (32, 32)}


def test_gaussian_kl_closed_form():
    mean = torch.tensor([[0.5, -1.0], [0.0, 2.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, math.log(4.0)], [math.log(0.25), 0.0]], dtype=torch.float64)
    per_row = [
        0.5 * (0.25 + 1 - 1 - 0) + 0.5 * (1 + 4 - 1 - math.log(4)),
        0.5 * (0.25 - 1 + math.log(4)) + 2.0,
    ]
    assert gaussian_kl(mean, logvar).item() == pytest.approx(np.mean(per_row), rel=1e-12)
    assert gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5)).item() == 0.0
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    reference = torch.distributions.kl_divergence(q, p).sum(-1).mean()
    assert gaussian_kl(mean, logvar).item() == pytest.approx(reference.item(), rel=1e-12)
    stacked = gaussian_kl(torch.stack([mean, 2 * mean]), torch.stack([logvar, logvar]))
    assert stacked.shape == (2,) and stacked[0].item() == pytest.approx(reference.item(), rel=1e-12)


def test_gaussian_nll_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    x, mean = torch.randn(2, 7, 5, generator=g, dtype=torch.float64).unbind(0)
    for log_gamma in (0.0, -2.3, 1.1):
        normal = torch.distributions.Normal(mean, math.exp(log_gamma / 2))
        reference = -normal.log_prob(x).sum(-1).mean()
        assert gaussian_nll(x, mean, torch.tensor(log_gamma, dtype=torch.float64)).item() == pytest.approx(
            reference.item(), rel=1e-12
        )
    both = gaussian_nll(
        torch.stack([x, x]), torch.stack([mean, mean]), torch.tensor([0.0, -2.3], dtype=torch.float64)
    )
    assert both.shape == (2,)
    assert both[1].item() == pytest.approx(
        gaussian_nll(x, mean, torch.tensor(-2.3, dtype=torch.float64)).item(), rel=1e-12
    )


def test_bernoulli_nll_is_binary_cross_entropy():
    g = torch.Generator().manual_seed(1)
    logits = 3 * torch.randn(6, 4, generator=g, dtype=torch.float64)
    x = torch.rand(6, 4, generator=g, dtype=torch.float64)
    reference = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 6
    assert bernoulli_nll(x, logits).item() == pytest.approx(reference.item(), rel=1e-12)
    bits = (x > 0.5).double()
    bern = torch.distributions.Bernoulli(logits=logits)
    assert bernoulli_nll(bits, logits).item() == pytest.approx(-bern.log_prob(bits).sum(-1).mean().item())


def test_active_units_count_the_posterior_means_that_vary():
    rng = np.random.default_rng(0)
    codes = np.column_stack([rng.normal(0, 1, 500), rng.normal(3, 0.05, 500), rng.normal(0, 0.2, 500)])
    assert active_units(codes).tolist() == [0, 2]  # variances 1, 0.0025, 0.04 against 0.01


def test_the_variance_gap_count_reads_the_units_below_the_largest_gap():
    assert variance_gap_count([0.6, 1e-4, 0.7, 2e-4, 3e-4, 0.65]) == 3  # unsorted, gap 2000x
    assert variance_gap_count([1e-3, 2e-3, 4e-3]) == 3  # every unit used: the gap to the prior's 1
    assert variance_gap_count([1e-3, 0.3, 0.5, 1.7]) == 1  # capped at 1; 300x against 1.7x and 2x
    assert variance_gap_count([0.0, 0.5]) == 1  # a variance of 0 is the smallest, not an error


def test_the_local_gap_count_reads_the_directions_the_data_pin_down():
    rows = np.array([[1e4, 1e3, 1e-3], [1e4, 1e3, 1e2], [1e4, 1e-4, 1e-5], [0.0, 0.0, 0.0]])
    # posterior variances 1 / (1 + lambda): ~1e-4, 1e-3 | ~1; all small; ~1e-4 | ~1, 1; all 1
    assert local_gap_counts(rows).tolist() == [2, 3, 1, 1]
    variances = np.random.default_rng(0).random((50, 6))
    assert variance_gap_counts(variances).tolist() == [variance_gap_count(v) for v in variances]


def test_the_gap_contrast_says_how_clearly_the_gap_stands_out():
    # variances 1e-4, 1e-3 | 1 (+ the prior's 1): the gap 1000x against 10x and 1x
    np.testing.assert_allclose(variance_gap_contrasts(np.array([[1e-4, 1e-3, 1.0]])), [100.0])
    # precisions falling smoothly with no gap (M6's median row, 256-wide): about 1
    smooth = np.array([[91, 56, 37, 24, 15, 8, 4, 2.2, 1.2, 0.5, 0.16, 0.01]])
    assert 1.0 <= local_gap_contrasts(smooth)[0] < 1.1
    # four directions resolved, two coarse patches (1000 and 42): a weak gap
    patched = np.array([[2e4, 1.5e4, 1e4, 8e3, 1e3, 42, 0.5, 0.1, 0.01]])
    assert local_gap_counts(patched)[0] == 6 and local_gap_contrasts(patched)[0] < 1.5
    clean = np.array([[2e4, 1.5e4, 1e4, 8e3, 0.5, 0.1, 0.01]])
    assert local_gap_counts(clean)[0] == 4 and local_gap_contrasts(clean)[0] > 1000
    assert variance_gap_contrasts(np.array([[0.1]])).tolist() == [np.inf]  # one unit: no runner-up
    assert (variance_gap_contrasts(np.random.default_rng(0).random((50, 6))) >= 1).all()


@pytest.mark.parametrize("likelihood", ["learned", "fixed", "bernoulli"])
@pytest.mark.parametrize("net", ["mlp", "conv"])
def test_local_precisions_are_the_eigenvalues_of_the_datas_precision(likelihood, net):
    # against J^T W J from torch.autograd's Jacobian of the decoder at the posterior mean
    shape = (1, 8, 8) if net == "conv" else None
    config = ModelConfig("vae", 5, 64, (16, 12), likelihood=likelihood, net=net, image_shape=shape)
    model = build_model(config).eval()
    x = np.random.default_rng(0).random((7, 64)).astype(np.float32)
    model.fit_normaliser(torch.as_tensor(x)[None])
    with torch.no_grad():
        model.log_gamma.fill_(math.log(0.01 if likelihood == "learned" else 1.0))
    got = model.local_precisions(x, chunk_floats=64 * 5 * 3)  # three chunks of rows
    assert got.shape == (7, 5)
    means = model.posterior(model._rows(x))[0][0].detach()
    for row, z in zip(got, means, strict=True):
        jac = torch.autograd.functional.jacobian(lambda v: model.decoder(v[None, None])[0, 0], z)
        if likelihood == "bernoulli":
            p = torch.sigmoid(model.decoder(z[None, None])[0, 0]).detach()
            fisher = jac.T @ torch.diag(p * (1 - p)) @ jac
        else:
            fisher = jac.T @ jac / model.log_gamma.exp()
        want = torch.linalg.eigvalsh(fisher).flip(0).numpy()
        np.testing.assert_allclose(row, want, rtol=1e-4, atol=1e-6 * want.max())


def test_kl_warmup_ramps_the_kl_weight_and_belongs_to_the_vae_family():
    model = build_model(ModelConfig("vae", 2, 4, kl_warmup=0.1))
    weights = [model.schedule(t, 1000, [])["kl_weight"] for t in (0, 50, 100, 500)]
    assert weights == [0.0, 0.5, 1.0, 1.0]
    assert build_model(ModelConfig("vae", 2, 4)).schedule(0, 1000, []) == {}  # off by default
    two = build_model(ModelConfig("two-stage-vae", 2, 4, kl_warmup=0.1))
    assert two.schedule(50, 1000, [])["kl_weight"] == 1.0  # over stage 1's 500 steps: 50 = 100 %
    assert two.schedule(25, 1000, [])["kl_weight"] == 0.5
    with pytest.raises(LatentdimError, match="wae-mmd has no KL term to warm up"):
        build_model(ModelConfig("wae-mmd", 2, 4, kl_warmup=0.1))
    with pytest.raises(LatentdimError, match=r"kl_warmup must be a fraction of the steps in \[0, 1\)"):
        ModelConfig("vae", 2, 4, kl_warmup=1.0)


def test_kl_warmup_lets_the_learned_variance_vae_leave_its_prior_on_a_sphere():
    # the 2-sphere in R^3 has an isotropic covariance: at gamma ~ 1 no direction beats
    # the average variance, and the learned-gamma VAE stays at its prior (measured at
    # 4829e88 at scale, the 10-sphere in R^11: gamma 0.99); a short warm-up frees it
    x = np.random.default_rng(0).normal(size=(2000, 3))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    budget = TrainConfig(steps=1500, batch_size=64, eval_samples=200)
    gammas = {}
    for warmup in (0.0, 0.1):
        config = ModelConfig("vae", 3, likelihood="learned", kl_warmup=warmup, hidden=(64, 64))
        result = fit(x, config, budget)
        gammas[warmup] = result.history.column("vae_gamma")[-1]
    assert gammas[0.0] > 0.8 and gammas[0.1] < 0.1, gammas


@pytest.mark.parametrize("likelihood", ["learned", "bernoulli"])
def test_a_stacked_member_is_its_lone_run(likelihood):
    rows = [make_dataset(2, 8, samples=600, seed=s).x for s in (0, 1)]
    if likelihood == "bernoulli":
        rows = [1 / (1 + np.exp(-x)) for x in rows]
    config = ModelConfig("vae", 3, likelihood=likelihood, **SMALL)
    budgets = [TrainConfig(steps=30, batch_size=32, eval_samples=100, seed=s) for s in (0, 1)]
    stacked = fit_stack(rows, config, budgets)
    for x, budget, result in zip(rows, budgets, stacked, strict=True):
        alone = fit(x, config, budget)
        assert result.metrics == alone.metrics
        assert result.history.rows == alone.history.rows


def test_learned_gamma_falls_toward_the_reconstruction_error():
    x = make_dataset(2, 16, samples=3000, seed=0).x
    result = fit(
        x, ModelConfig("vae", 4, likelihood="learned", **SMALL), TrainConfig(steps=1500, batch_size=64)
    )
    gamma = result.history.column("vae_gamma")
    assert gamma[-1] < 0.1 * gamma[0]
    mse = result.metrics["recon_mse"] / result.model.scale.item() ** 2  # in the model's units
    assert 0.3 < gamma[-1] / mse < 3.0  # gamma = MSE at the optimum (Dai & Wipf)
    assert result.metrics["active_dims"] <= 4
    # n = 2 data, m = 4: at least one unit left at the prior's variance, the used ones far below
    variances = np.sort(result.model.posterior_variances(x))
    assert 2 <= result.metrics["posterior_dims"] <= 3
    assert variances[1] < 0.01 and variances[-1] > 10 * variances[2]


def test_bernoulli_needs_data_in_the_unit_interval_and_generates_probabilities():
    x = make_dataset(2, 8, samples=600, seed=0).x
    config = ModelConfig("vae", 3, likelihood="bernoulli", **SMALL)
    with pytest.raises(LatentdimError, match=r"needs data in \[0, 1\]"):
        fit(x, config, TrainConfig(steps=5, batch_size=32, eval_samples=100))
    probabilities = 1 / (1 + np.exp(-x))
    result = fit(probabilities, config, TrainConfig(steps=20, batch_size=32, eval_samples=100))
    points = result.model.sample(50, torch.Generator().manual_seed(0))
    assert points.min() >= 0 and points.max() <= 1


def test_likelihood_belongs_to_the_vae_family():
    with pytest.raises(LatentdimError, match="wae-mmd has no likelihood 'learned': it has none"):
        build_model(ModelConfig("wae-mmd", 2, 4, likelihood="learned"))
    with pytest.raises(LatentdimError, match="unknown likelihood 'poisson'"):
        ModelConfig("vae", 2, 4, likelihood="poisson")


def test_cli_trains_a_learned_variance_vae(tmp_path):
    make_dataset(2, 8, samples=600, seed=0).save(tmp_path / "d.npz")
    args = ["train", str(tmp_path / "d.npz"), "--model", "vae", "-m", "3", "--steps", "30"]
    args += ["--batch-size", "32", "--hidden", "16,16", "--eval-samples", "100", "-o", str(tmp_path / "run")]
    result = CliRunner().invoke(cli, [*args, "--likelihood", "learned"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["likelihood"] == "learned"
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["active_dims"] <= 3
    result = CliRunner().invoke(cli, [*args[:3], "wae-mmd", *args[4:], "--likelihood", "learned", "--force"])
    assert result.exit_code == 2 and "wae-mmd has no likelihood" in result.output
    result = CliRunner().invoke(cli, [*args, "--likelihood", "learned", "--kl-warmup", "0.2", "--force"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["kl_warmup"] == 0.2
    history = (tmp_path / "run" / "history.csv").read_text()
    assert "kl_weight" in history.splitlines()[0]
    result = CliRunner().invoke(cli, [*args[:3], "wae-mmd", *args[4:], "--kl-warmup", "0.2", "--force"])
    assert result.exit_code == 2 and "wae-mmd has no KL term to warm up" in result.output


def test_two_stage_vae_trains_stage_two_on_frozen_stage_one_codes_and_samples_through_both():
    x = make_dataset(2, 8, samples=600, seed=0).x
    model = build_model(ModelConfig("two-stage-vae", 3, 8, **SMALL), torch.Generator().manual_seed(0))
    xt = torch.from_numpy(x)[None]
    model.fit_normaliser(xt)
    xn = model.normalise(xt)[:, :64]
    (step,) = model.make_steps(100)
    assert model.schedule(49, 100, [step]) == {"stage": 1, "kl2_weight": 1.0}
    assert model.schedule(75, 100, [step]) == {"stage": 2, "kl2_weight": 1.0}
    assert model.schedule(50, 100, [step]) == {"stage": 2, "kl2_weight": 0.0}  # KL warm-up
    first = {
        k: v.clone() for k, v in model.state_dict().items() if not k.startswith(("encoder2", "decoder2"))
    }
    model.generators[0].manual_seed(123)  # the same draws before and after
    before = step.loss(xn)["loss"].item()
    for _ in range(100):
        step.optimizer.zero_grad(set_to_none=True)
        losses = step.loss(xn)
        losses["loss"].sum().backward()
        step.optimizer.step()
    assert losses["nll"].item() == 0 and losses["nll2"].item() != 0
    model.generators[0].manual_seed(123)
    assert step.loss(xn)["loss"].item() < before
    for name, tensor in first.items():
        if name not in ("log_gamma2",):
            assert torch.equal(model.state_dict()[name], tensor), name  # stage 1 is frozen
    g = torch.Generator().manual_seed(3)
    through_both = model.sample(5, g)
    with torch.no_grad():
        model.decoder2[-1].bias.add_(1.0)  # stage 2 shapes what is generated
    assert not np.allclose(model.sample(5, torch.Generator().manual_seed(3)), through_both)


def test_two_stage_vae_run_logs_both_stages():
    x = make_dataset(2, 8, samples=600, seed=0).x
    result = fit(
        x,
        ModelConfig("two-stage-vae", 3, **SMALL),
        TrainConfig(steps=40, batch_size=32, log_every=10, eval_samples=60),
    )
    stages = result.history.column("stage")
    assert stages.tolist() == [1, 1, 2, 2]
    assert (result.history.column("vae_nll2")[:2] == 0).all() and (
        result.history.column("vae_nll2")[2:] != 0
    ).all()


def test_two_stage_vae_may_give_stage_two_a_budget_of_its_own():
    x = make_dataset(2, 8, samples=600, seed=0).x
    budget = TrainConfig(steps=40, batch_size=32, log_every=10, eval_samples=60)
    config = ModelConfig("two-stage-vae", 3, stage2_steps=20, **SMALL)
    result = fit(x, config, budget)
    assert result.history.column("step").tolist() == [10, 20, 30, 40, 50, 60]  # 40 + 20 iterations
    assert result.history.column("stage").tolist() == [1, 1, 1, 1, 2, 2]  # stage 1 has all of --steps
    assert result.history.column("kl2_weight").tolist()[-2:] == [0.9, 1.0]  # warmed over 10
    halves = fit(x, ModelConfig("two-stage-vae", 3, **SMALL), budget)
    assert halves.history.column("stage").tolist() == [1, 1, 2, 2]
    with pytest.raises(LatentdimError, match="vae has no second stage"):
        ModelConfig("vae", 3, stage2_steps=20)
    with pytest.raises(LatentdimError, match="stage2_steps must be an integer >= 0"):
        ModelConfig("two-stage-vae", 3, stage2_steps=-1)
