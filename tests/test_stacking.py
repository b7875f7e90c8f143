"""The stacked engine: K models of one shape trained as one, each member exactly the
run it would be alone; a diverging member fails alone; stacks planned from the study;
the device option; old run directories still load."""

import numpy as np
import pytest
import torch

from latentdim import make_dataset
from latentdim.config import ModelConfig, TrainConfig
from latentdim.errors import DivergenceError, LatentdimError
from latentdim.models import MODELS, build_model
from latentdim.runs import fit, fit_stack, load_run, save_run
from latentdim.studies import load_study, plan_stacks, run_stack, stack_key
from latentdim.training import resolve_device

SMALL = {"hidden": (16, 16), "critic_hidden": (8, 8)}
FAST = TrainConfig(steps=30, batch_size=16, log_every=10, eval_samples=100, recovery_steps=20)


@pytest.fixture(scope="module")
def datasets():
    """Eight data sets of one shape: two maps, four latent laws."""
    laws = ("gaussian", "uniform", "ball", "student-t")
    return [make_dataset(2, 8, samples=400, seed=s % 2, latent=laws[s % 4]) for s in range(8)]


def _configs(seeds):
    return [TrainConfig(**{**FAST.to_dict(), "seed": s}) for s in seeds]


def _same_run(a, b):
    assert a.metrics == b.metrics
    assert a.history.rows == b.history.rows
    state_a, state_b = a.model.state_dict(), b.model.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name


@pytest.mark.parametrize("name", list(MODELS))
def test_a_member_is_the_same_run_at_k_1_2_and_8(name, datasets):
    # bit for bit on the CPU: data sets and seeds differ across members
    config = ModelConfig(name, 3, **SMALL)
    xs, truths = [d.x for d in datasets], [_truth(d) for d in datasets]
    seeds = list(range(10, 18))
    eight = fit_stack(xs, config, _configs(seeds), truths)
    two = fit_stack(xs[3:5], config, _configs(seeds[3:5]), truths[3:5])
    one = fit(xs[4], config, _configs(seeds[4:5])[0], truths[4])
    _same_run(one, eight[4])
    _same_run(two[1], eight[4])
    _same_run(two[0], eight[3])
    assert eight[4].timings["stack"] == 8 and one.timings["stack"] == 1
    assert eight[4].config["engine"] == {"device": "cpu", "stack": 8}
    assert len({r.metrics["scaled_fid"] for r in eight}) == 8  # the members differ


def test_fused_adam_where_no_member_falls_in_its_tail():
    # per-member sizes that are multiples of 16 floats: the fused kernel, still K-invariant
    config = ModelConfig("wae-mmd", 16, hidden=(32, 32))
    xs = [make_dataset(2, 32, samples=400, seed=s).x for s in range(8)]
    eight = fit_stack(xs, config, _configs(range(8)))
    assert eight[0].model.make_steps(10)[0].optimizer.defaults["fused"]
    _same_run(fit(xs[5], config, _configs([5])[0]), eight[5])
    _same_run(fit_stack(xs[5:7], config, _configs([5, 6]))[0], eight[5])
    small = build_model(ModelConfig("wae-mmd", 3, 8, **SMALL))
    assert small.make_steps(10)[0].optimizer.defaults["foreach"]


def _truth(dataset):
    from latentdim.runs import GroundTruth

    return GroundTruth.of(dataset)


def test_a_diverging_member_fails_alone(datasets):
    xs = [d.x.copy() for d in datasets[:3]]
    xs[1][5, 0] = np.nan  # member 1's normaliser, then its losses, become NaN
    config = ModelConfig("wae-gan", 3, **SMALL)
    results = fit_stack(xs, config, _configs([0, 1, 2]))
    assert isinstance(results[1], DivergenceError) and results[1].iteration == FAST.log_every
    _same_run(results[0], fit(xs[0], config, _configs([0])[0]))
    _same_run(results[2], fit(xs[2], config, _configs([2])[0]))


def test_a_stack_needs_one_shape_and_one_budget(datasets):
    config = ModelConfig("wae-mmd", 2, **SMALL)
    with pytest.raises(LatentdimError, match="one shape"):
        fit_stack([datasets[0].x, datasets[1].x[:300]], config, _configs([0, 1]))
    budgets = [FAST, TrainConfig(**{**FAST.to_dict(), "steps": 31})]
    with pytest.raises(LatentdimError, match="only in their seed"):
        fit_stack([datasets[0].x, datasets[1].x], config, budgets)


def test_run_stack_records_each_cell_with_its_engine(tmp_path):
    from test_sweep import write_study

    cells = load_study(write_study(tmp_path, models='["wae-mmd"]', seeds=3)).cells()
    stack = [c for c in cells if c.latent_dim == 2]
    records = run_stack(stack)
    assert [r["id"] for r in records] == [c.id for c in stack]
    assert all(r["status"] == "ok" and r["engine"]["stack"] == 3 for r in records)
    assert records[1]["metrics"] == run_stack(stack[1:2])[0]["metrics"]


def test_plan_stacks_groups_cells_of_one_shape(tmp_path):
    from test_sweep import write_study

    cells = load_study(write_study(tmp_path, seeds=3)).cells()  # 2 models x 4 m x 3 seeds
    auto = plan_stacks(cells)
    assert len(auto) == 8 and all(len(s) == 3 for s in auto)
    assert all(len({stack_key(c) for c in s}) == 1 for s in auto)
    assert [c for s in auto for c in s] == cells  # study order kept
    assert [len(s) for s in plan_stacks(cells, 2)] == [2, 1] * 8
    assert all(len(s) == 1 for s in plan_stacks(cells, 1))
    # auto splits the largest stacks until every worker has one
    one_group = [c for c in cells if c.model == "wae-mmd" and c.latent_dim == 1]
    assert [len(s) for s in plan_stacks(one_group, "auto", workers=2)] == [2, 1]
    with pytest.raises(LatentdimError, match="--stack"):
        plan_stacks(cells, 0)


def test_sweep_gives_the_same_records_stacked_or_one_at_a_time(tmp_path):
    from test_sweep import write_study

    from latentdim.studies.records import RecordStore
    from latentdim.studies.sweep import sweep

    study = load_study(write_study(tmp_path, models='["maskaae"]', seeds=2))
    # on the CPU: a GPU kernel may sum in another order for another K
    sweep(study, tmp_path / "one", jobs=1, stack=1, device="cpu")
    sweep(study, tmp_path / "stacked", jobs=1, stack="auto", device="cpu")
    one = RecordStore(tmp_path / "one" / "records.jsonl").load()
    stacked = RecordStore(tmp_path / "stacked" / "records.jsonl").load()
    assert {r["engine"]["stack"] for r in one.values()} == {1}
    assert {r["engine"]["stack"] for r in stacked.values()} == {2}
    assert {k: r["metrics"] for k, r in one.items()} == {k: r["metrics"] for k, r in stacked.items()}


def test_device_option():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(LatentdimError, match="unknown device"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(LatentdimError, match="sees no CUDA GPU"):
            resolve_device("cuda")


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA GPU here: the stacked engine on CUDA is untested"
)
def test_the_stacked_engine_on_cuda(datasets):
    config = ModelConfig("maskaae", 3, **SMALL)
    xs = [d.x for d in datasets[:4]]
    four = fit_stack(xs, config, _configs(range(4)), device="cuda")
    one = fit(xs[2], config, _configs([2])[0], device="cuda")
    assert all(r.config["engine"] == {"device": "cuda", "stack": 4} for r in four)
    assert all(np.isfinite(r.metrics["scaled_fid"]) for r in four)
    # a GPU kernel may sum in another order for another K: close, not necessarily equal
    np.testing.assert_allclose(one.metrics["recon_mse"], four[2].metrics["recon_mse"], rtol=0.2)


def test_a_run_directory_from_before_stacking_still_loads(datasets, tmp_path):
    result = fit(datasets[0].x, ModelConfig("maskaae", 3, **SMALL), FAST)
    save_run(result, tmp_path / "run")
    # rewrite model.pt as the pre-stacking code wrote it: nn.Linear (out, in), no member axis
    state = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    old = {k: (v[0].T if k.endswith("weight") else v[0]) if v.ndim else v for k, v in state.items()}
    assert old["encoder.0.weight"].shape == (16, 8) and old["scale"].ndim == 0
    torch.save(old, tmp_path / "run" / "model.pt")
    loaded = load_run(tmp_path / "run")
    x = datasets[0].x[:10]
    np.testing.assert_array_equal(loaded.encode(x), result.model.encode(x))
    assert loaded.stack == 1


def test_one_model_api_refuses_a_stack():
    model = build_model(ModelConfig("wae-mmd", 2, 8, **SMALL), [torch.Generator() for _ in range(2)])
    with pytest.raises(LatentdimError, match="member"):
        model.encode(np.zeros((3, 8), np.float32))
    assert model.member(1).encode(np.zeros((3, 8), np.float32)).shape == (3, 2)


def test_cli_rejects_a_bad_stack_or_an_absent_gpu_in_one_line(tmp_path):
    from click.testing import CliRunner

    from latentdim.cli import cli

    out = tmp_path / "sweep"
    result = CliRunner().invoke(cli, ["sweep", "--stack", "0", "-o", str(out)])
    assert result.exit_code == 2 and "--stack must be" in result.output and not out.exists()
    result = CliRunner().invoke(cli, ["sweep", "--stack", "two", "-o", str(out)])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    if not torch.cuda.is_available():
        data = tmp_path / "x.npy"
        np.save(data, np.random.default_rng(0).standard_normal((100, 4)).astype(np.float32))
        run_dir = str(tmp_path / "r")
        args = ["train", str(data), "--model", "wae-mmd", "-m", "2", "--device", "cuda", "-o", run_dir]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2 and "sees no CUDA GPU" in result.output
        assert not (tmp_path / "r").exists()


def test_until_cuts_the_budget_short_and_keeps_its_schedule():
    from latentdim.runs import generators, train_new

    x = make_dataset(2, 8, samples=200, seed=0).x.astype(np.float32)
    config = ModelConfig("vae", 3, 8, (16,), likelihood="learned", kl_warmup=0.5)
    seen = []

    def until(i, model):
        seen.append((i, model.kl_weight))
        return i == 10

    whole, _ = train_new(x, config, TrainConfig(steps=40, batch_size=16), generators(0))
    cut, _ = train_new(x, config, TrainConfig(steps=40, batch_size=16), generators(0), until=until)
    assert [i for i, _ in seen] == list(range(1, 11))  # ten iterations, then it stopped
    assert seen[-1][1] == pytest.approx(9 / 20)  # the warm-up of the 40-iteration budget, not of 10
    a, b = cut.state_dict(), whole.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)
