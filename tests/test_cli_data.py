import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from latentdim import load_dataset
from latentdim.cli import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_make_data_then_info(tmp_path):
    out = tmp_path / "d.npz"
    result = run("make-data", "--n", 4, "--d", 16, "--samples", 100, "--seed", 3, "-o", out)
    assert result.exit_code == 0, result.output
    ds = load_dataset(out)
    assert ds.x.shape == (100, 16) and ds.spec.seed == 3
    info = run("info", out, "--json")
    assert json.loads(info.output) == ds.meta


def test_recipe_with_override(tmp_path):
    out = tmp_path / "r.npz"
    result = run("make-data", "--recipe", "synthetic/n4-d128.toml", "--samples", 50, "-o", out)
    assert result.exit_code == 0, result.output
    assert load_dataset(out).x.shape == (50, 128)


def test_same_command_same_bytes(tmp_path):
    for name in ("a", "b"):
        result = run("make-data", "--n", 3, "--d", 9, "--samples", 64, "-o", tmp_path / name)
        assert result.exit_code == 0
    a, b = (np.load(tmp_path / n, allow_pickle=False)["x"] for n in ("a", "b"))
    assert a.tobytes() == b.tobytes()


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "d.npz"
    assert run("make-data", "--n", 2, "--d", 4, "--samples", 10, "-o", out).exit_code == 0
    before = out.read_bytes()
    result = run("make-data", "--n", 2, "--d", 4, "--samples", 10, "--seed", 1, "-o", out)
    assert result.exit_code == 2 and "exists" in result.output
    assert out.read_bytes() == before
    args = ["--n", 2, "--d", 4, "--samples", 10, "--seed", 1, "-o", out]
    result = run("make-data", *args, "--force")
    assert result.exit_code == 0 and out.read_bytes() != before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n", 0, "--d", 4], "n must be positive"),
        (["--n", 5, "--d", 4], "d must be >= n"),
        (["--n", 4, "--d", 8, "--width", 2], "width must be >= n"),
        (["--n", 4, "--d", 8, "--samples", 1], "samples must be >= 2"),
        (["--n", 4, "--d", 8, "--noise", -1], "noise must be >= 0"),
        (["--n", 4, "--d", 8, "--latent", "cauchy"], "cauchy"),
        (["--recipe", "synthetic/missing.toml"], "cannot read recipe"),
        (["--d", 8], "--n is required"),
    ],
)
def test_bad_input_one_line_exit_2_no_file(tmp_path, args, message):
    out = tmp_path / "x.npz"
    result = run("make-data", *args, "-o", out)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("latentdim: error:") and message in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_bad_recipe_toml(tmp_path):
    recipe = tmp_path / "bad.toml"
    recipe.write_text("n = [")
    result = run("make-data", "--recipe", recipe, "-o", tmp_path / "o.npz")
    assert result.exit_code == 2 and "not valid TOML" in result.output
    recipe.write_text("n = 4\nd = 8\nfoo = 1\n")
    result = run("make-data", "--recipe", recipe, "-o", tmp_path / "o.npz")
    assert result.exit_code == 2 and "unknown keys foo" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_unwritable_directory_leaves_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("make-data", "--n", 2, "--d", 4, "--samples", 10, "-o", blocker / "d.npz")
    assert result.exit_code == 2 and "cannot write" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_unreadable_dataset_is_one_line(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    result = run("info", bad)
    assert result.exit_code == 2 and "bad.npz: not an .npz" in result.output


def test_console_script_exit_code(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "latentdim", "make-data", "--n", "0", "--d", "4"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "n must be positive" in proc.stderr
    assert proc.stdout == ""


def test_help_and_info_import_no_torch(tmp_path):
    """``--help``, ``info`` and ``make-data`` start without torch, scikit-learn or the models."""
    data = tmp_path / "d.npz"
    commands = [
        ["--help"],
        ["train", "--help"],
        ["make-data", "--n", "2", "--d", "4", "--samples", "20", "-o", str(data)],
        ["info", str(data)],
    ]
    heavy = ("torch", "sklearn", "latentdim.models", "latentdim.estimate")
    script = (
        "import sys\n"
        "from latentdim.cli import cli\n"
        f"for args in {commands!r}:\n"
        "    try:\n"
        "        cli.main(args, standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print('heavy:', [m for m in {heavy!r} if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip().endswith("heavy: []"), done.stdout + done.stderr
    assert data.is_file()


def test_option_names_match_the_registries():
    """The torch-free name lists the command line offers are the registries' keys."""
    from latentdim import config
    from latentdim.estimate import ESTIMATORS
    from latentdim.metrics.features import FEATURES
    from latentdim.models import MODELS
    from latentdim.studies.sweep import EXECUTORS

    assert tuple(MODELS) == config.MODEL_NAMES
    assert tuple(FEATURES) == config.FEATURE_NAMES
    assert tuple(EXECUTORS) == config.EXECUTOR_NAMES
    assert tuple(ESTIMATORS) == config.ESTIMATOR_NAMES
