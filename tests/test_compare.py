"""Your run beside a reference, on hand-made records: agreeing and disagreeing runs,
cells of a different config, one-seed runs, and the folder-level entry points."""

import json

import pytest

from latentdim.errors import LatentdimError
from latentdim.studies.compare import compare, compare_folders

TRAIN = {"steps": 3000, "batch_size": 64}


def record(model, m, replicate, *, fid, nac, active=None, train=TRAIN, n=4):
    masked = model == "maskaae"
    return {
        "id": f"{model}-{m}-{replicate}-{train['steps']}",
        "status": "ok",
        "dataset": "toy",
        "n": n,
        "model": model,
        "latent_dim": m,
        "replicate": replicate,
        "metrics": {
            "scaled_fid": fid,
            "fid": fid,
            "nac": nac,
            "active_dims": active if masked else m,
            "mask": [1.0] * m if masked else None,
            "recon_mse": 0.0,
        },
        "cell": {"dataset": "toy", "model": model, "latent_dim": m, "train": train, "seed": replicate,
                 "replicate": replicate},
    }


def run(seeds, *, best=4, active=4, nac_shift=0.0, spread=0.002, train=TRAIN):
    """A sweep over m in {2, 4, 8} of wae (U-shaped scaled FID, minimum at ``best``)
    and maskaae (``active`` dims at every m), ``seeds`` replicates with small noise."""
    records = []
    for r in range(seeds):
        wiggle = spread * (r - (seeds - 1) / 2)
        for m in (2, 4, 8):
            fid = 0.1 + abs(m - best) * 0.05 + wiggle
            records.append(record("wae", m, r, fid=fid, nac=0.05 + nac_shift + wiggle, train=train))
            nac = 0.03 + nac_shift + wiggle
            records.append(record("maskaae", m, r, fid=0.1, nac=nac, active=min(m, active), train=train))
    return records


def verdicts(comparison):
    return {(row.section.split()[0], row.label): row.agree for row in comparison.rows}


def test_equivalent_runs_agree_on_every_row():
    result = compare(run(1), run(3))
    assert (result.seeds_yours, result.seeds_reference) == (1, 3)
    sections = {row.section.split()[0] for row in result.rows}
    assert sections == {"optimal", "active", "NAC"}
    # 1 optimal m (wae), 3 active-dims rows (maskaae at each m), NAC at m = 8 > n = 4 for both models
    assert len(result.rows) == 1 + 3 + 2
    assert all(row.agree for row in result.rows), result.text()
    assert "6 of 6 rows agree" in result.text()


def test_a_different_optimum_count_and_nac_disagree():
    result = compare(run(1, best=8, active=7, nac_shift=0.05), run(3))
    v = verdicts(result)
    assert v["optimal", "toy (n = 4) wae"] is False  # 8 [8, 8] against 4 [4, 4]
    assert v["active", "toy maskaae m=8"] is False  # 7 against 4, 4, 4
    assert v["active", "toy maskaae m=4"] is True  # capped at m = 4 on both sides
    assert v["NAC", "toy wae m=8"] is False and v["NAC", "toy maskaae m=8"] is False
    assert "NO" in result.text()


def test_the_band_is_the_pooled_seed_spread():
    # reference NAC sd is 0.002 (spread) everywhere; a shift of 1.5 sd is inside the band
    # 2 * 0.002 * sqrt(1 + 1/3) = 0.0046, a shift of 3 sd is not
    assert verdicts(compare(run(1, nac_shift=0.003), run(3)))["NAC", "toy wae m=8"] is True
    assert verdicts(compare(run(1, nac_shift=0.006), run(3)))["NAC", "toy wae m=8"] is False


def test_one_seed_on_both_sides_has_no_spread():
    same = compare(run(1), run(1))
    assert all(row.agree is True for row in same.rows)  # identical values
    shifted = compare(run(1, nac_shift=0.01), run(1))
    assert verdicts(shifted)["NAC", "toy wae m=8"] is None
    assert "cannot be judged" in shifted.text()


def test_cells_of_another_config_are_not_compared():
    longer = {"steps": 12000, "batch_size": 64}
    mine = [*run(1), record("wae", 16, 0, fid=0.1, nac=0.05)]
    result = compare(mine, run(3, train=longer))
    assert result.rows == [] and "toy wae m=2,4,8,16" in result.not_compared
    partial = compare(mine, run(3))
    assert partial.not_compared == ["toy wae m=16"] and len(partial.rows) == 6


def test_compare_folders_reads_without_writing(tmp_path):
    for name, records in (("mine", run(1)), ("ref", run(3))):
        (tmp_path / name).mkdir()
        text = "".join(json.dumps(r) + "\n" for r in records)
        (tmp_path / name / "records.jsonl").write_text(text + ('{"id": "trunc' if name == "ref" else ""))
    before = (tmp_path / "ref" / "records.jsonl").read_bytes()
    assert compare_folders(tmp_path / "mine", tmp_path / "ref").agreed == 6
    assert (tmp_path / "ref" / "records.jsonl").read_bytes() == before  # the truncated line stays
    with pytest.raises(LatentdimError, match=r"has no records\.jsonl"):
        compare_folders(tmp_path / "mine", tmp_path / "nowhere")
