"""Every reader of a user's or a run's file: a valid result or one LatentdimError that
names the file, never another exception (issue 13). A property test feeds each
reader random bytes, truncations, bit flips and insertions of a valid file; named
cases cover foreign files, and the CLI turns each into one line and exit 2."""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_images import idx_bytes

from latentdim import runs, studies
from latentdim.cli import _read_training_data, cli
from latentdim.config import ModelConfig, TrainConfig
from latentdim.data import readers as data
from latentdim.data import synthetic
from latentdim.errors import LatentdimError
from latentdim.files import json_lines
from latentdim.studies.records import RecordStore

RECIPE = 'name = "r"\nn = 2\nd = 4\nsamples = 200\nseed = 0\n'
STUDY = 'name = "s"\ndatasets = ["r.toml"]\nmodels = ["wae-mmd"]\nlatent_dims = [1, 2]\n[train]\nsteps = 5\n'


def _record(i: int) -> dict:
    metrics = {"scaled_fid": 0.1, "fid": 0.1, "nac": None, "active_dims": 2, "recon_mse": 0.01, "mask": None}
    return {
        "id": f"cell{i}",
        "status": "ok",
        "dataset": "r",
        "n": 2,
        "model": "wae-mmd",
        "latent_dim": 2,
        "seed": i,
        "replicate": i,
        "metrics": metrics,
        "cell": {"model_config": {"model": "wae-mmd"}, "train": {"steps": 5}},
    }


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> Path:
    """One valid file of every kind a reader takes."""
    root = tmp_path_factory.mktemp("valid")
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    np.save(root / "m.npy", x)
    np.savez(root / "m.npz", x=x)
    (root / "m.csv").write_text("a,b,c\n" + "\n".join(",".join(f"{v:.6f}" for v in row) for row in x))
    dataset = synthetic.make_dataset(2, 4, samples=200, seed=0)
    dataset.save(root / "ds.npz")
    images = np.random.default_rng(1).integers(0, 256, size=(12, 4, 3), dtype=np.uint8)
    (root / "images-idx3-ubyte").write_bytes(idx_bytes(images))
    (root / "images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    np.savez(root / "keras.npz", x_train=images, y_train=np.zeros(12))
    (root / "r.toml").write_text(RECIPE)
    (root / "s.toml").write_text(STUDY)
    (root / "records.jsonl").write_text("".join(json.dumps(_record(i)) + "\n" for i in range(2)))
    (root / "sweeps.jsonl").write_text('{"study": {"name": "s"}, "summary": {"ran": 1}}\n')
    config = ModelConfig("maskaae", 2, hidden=(8,), critic_hidden=(4,))
    result = runs.fit(
        dataset.x, config, TrainConfig(steps=4, batch_size=8, eval_samples=20, recovery_steps=2)
    )
    runs.save_run(result, root / "run")
    return root


READERS = {
    "m.npy": data.read_matrix,
    "m.npz": data.read_matrix,
    "m.csv": data.read_matrix,
    "images-idx3-ubyte": data.read_matrix,
    "images-idx3-ubyte.gz": data.read_matrix,
    "keras.npz": data.read_matrix,
    "ds.npz": synthetic.load_dataset,
    "r.toml": synthetic.spec_from_recipe,
    "s.toml": studies.load_study,
    "records.jsonl": lambda path: RecordStore(path).load(),
    "sweeps.jsonl": json_lines,
    "run/config.json": lambda path: runs.load_run(path.parent),
    "run/model.pt": lambda path: runs.load_run(path.parent),
    "train-ds.npz": lambda path: _read_training_data(str(path)),
}


def _damaged(original: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, a truncation, bit flips or an insertion of ``original``."""

    def flips(positions: list[tuple[int, int]]) -> bytes:
        out = bytearray(original)
        for at, bit in positions:
            out[at % len(out)] ^= 1 << bit
        return bytes(out)

    def insert(at: int, junk: bytes) -> bytes:
        at %= len(original) + 1
        return original[:at] + junk + original[at:]

    return st.one_of(
        st.binary(max_size=300),
        st.integers(0, len(original)).map(lambda k: original[:k]),
        st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 7)), min_size=1, max_size=8).map(flips),
        st.builds(insert, st.integers(0, 1 << 30), st.binary(min_size=1, max_size=40)),
    )


@pytest.mark.parametrize("name", list(READERS))
def test_readers_give_a_result_or_one_error(valid, tmp_path, name):
    work = tmp_path / "work"
    shutil.copytree(valid, work)
    if name == "train-ds.npz":
        shutil.copy(work / "ds.npz", work / name)
    target = work / name
    original = target.read_bytes()
    restore = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(_damaged(original))
    def check(content: bytes) -> None:
        for path, saved in restore.items():  # a reader may repair its file (records.jsonl)
            path.write_bytes(saved)
        target.write_bytes(content)
        try:
            READERS[name](target)
        except LatentdimError as exc:
            assert "\n" not in str(exc).strip()

    check()


def test_valid_files_still_read(valid):
    assert data.read_matrix(valid / "m.csv").shape == (20, 3)
    assert len(RecordStore(valid / "records.jsonl").load(repair=False)) == 2
    assert runs.load_run(valid / "run").config.latent_dim == 2
    assert synthetic.load_dataset(valid / "ds.npz").x.shape == (200, 4)


def _zip_without_arrays(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")


def _pickled_array(path: Path) -> None:
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)


FOREIGN = [
    ("empty.npy", lambda p: p.write_bytes(b""), "the file is empty"),
    ("empty.csv", lambda p: p.write_text(""), "no data rows"),
    ("header-only.csv", lambda p: p.write_text("a,b\n"), "no data rows"),
    ("ragged.csv", lambda p: p.write_text("1,2,3\n4,5,6\n7,8\n"), "line 3 has 2 values"),
    ("words.csv", lambda p: p.write_text("1,2\n3,x\n"), "non-numeric"),
    ("latin1.csv", lambda p: p.write_bytes(b"1,2\n3,\xe9\n"), "not UTF-8"),
    ("wrong-magic.npy", lambda p: p.write_bytes(b"PK\x03\x04" + bytes(60)), "not an .npy array"),
    ("no-arrays.npz", _zip_without_arrays, "holds no arrays"),
    ("pickled.npy", _pickled_array, "cannot read"),
    ("text.npz", lambda p: p.write_text("x = 1\n"), "not an .npz"),
    ("dir.npy", lambda p: p.mkdir(), "cannot read"),
]


@pytest.mark.parametrize(("name", "make", "says"), FOREIGN, ids=[f[0] for f in FOREIGN])
def test_foreign_matrix_files_name_the_problem(tmp_path, name, make, says):
    path = tmp_path / name
    make(path)
    with pytest.raises(LatentdimError, match=says) as info:
        data.read_matrix(path)
    assert name in str(info.value)
    result = CliRunner().invoke(cli, ["estimate", str(path), "--no-baselines"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("latentdim: error:") and name in lines[0]


def test_dataset_checksum_catches_a_changed_value(tmp_path):
    dataset = synthetic.make_dataset(2, 4, samples=50, seed=0)
    dataset.x[3, 1] += 1e-3  # the data changed after its checksum was recorded
    dataset.save(tmp_path / "ds.npz")
    with pytest.raises(LatentdimError, match="checksum"):
        synthetic.load_dataset(tmp_path / "ds.npz")


def test_a_foreign_npz_is_not_a_dataset(tmp_path):
    np.savez(tmp_path / "ds.npz", x=np.zeros((3, 2)), meta=np.array("[1, 2]"))
    with pytest.raises(LatentdimError, match="not a latentdim dataset"):
        synthetic.load_dataset(tmp_path / "ds.npz")


def test_recipe_values_of_the_wrong_type(tmp_path):
    (tmp_path / "r.toml").write_text('n = "eight"\nd = 128\n')
    with pytest.raises(LatentdimError, match="n must be an integer"):
        synthetic.spec_from_recipe(tmp_path / "r.toml")


def test_a_corrupt_record_line_is_named_and_nothing_else_breaks(valid, tmp_path):
    lines = (valid / "records.jsonl").read_text().splitlines()
    broken = json.loads(lines[1])
    broken["metrics"]["fid"] = "0.1"
    (tmp_path / "records.jsonl").write_text(lines[0] + "\n" + json.dumps(broken) + "\n")
    with pytest.raises(LatentdimError, match="line 2 is not a record: metric 'fid' is not a number"):
        RecordStore(tmp_path / "records.jsonl").load()
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "line 2" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.jsonl"]  # no partial report


def test_a_corrupt_run_directory_is_one_line_and_no_output(valid, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(valid / "run", run)
    (run / "model.pt").write_bytes((run / "model.pt").read_bytes()[:100])
    out = tmp_path / "points.npy"
    result = CliRunner().invoke(cli, ["sample", str(run), "-o", str(out)])
    assert result.exit_code == 2 and "model.pt" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()
