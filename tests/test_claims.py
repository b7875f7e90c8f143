"""Claims in a study spec, and their verdicts from the seeds."""

import json

import pytest

from latentdim.errors import LatentdimError
from latentdim.studies.claims import (
    FAILS,
    HOLDS,
    TIED,
    claims_markdown,
    judge,
    pair_verdict,
    parse_claims,
    value_verdict,
)


def records(values: dict[str, list[float]], metric: str = "fid", m: int = 64) -> list[dict]:
    return [
        {"dataset": "mnist", "model": model, "latent_dim": m, "replicate": r, "metrics": {metric: v}}
        for model, seeds in values.items()
        for r, v in enumerate(seeds)
    ]


def test_a_pair_holds_fails_or_ties_by_a_two_sample_t_test():
    assert pair_verdict([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]) == HOLDS
    assert pair_verdict([2.0, 2.1, 1.9], [1.0, 1.1, 0.9]) == FAILS
    # pooled sd 0.5, 3 seeds a side: the margin is t(4) 0.5 sqrt(2/3) = 1.13
    assert pair_verdict([1.0, 1.5, 0.5], [2.0, 2.5, 1.5]) == TIED
    assert pair_verdict([1.0, 1.5, 0.5], [2.2, 2.7, 1.7]) == HOLDS
    assert pair_verdict([1.0], [2.0]) == TIED  # no spread to judge by
    assert pair_verdict([3.0, 3.0], [3.0, 3.0]) == TIED


def test_a_value_holds_when_the_seeds_pin_it_down_to_its_tolerance():
    # mean 12.33, sd 0.577: t(2) 0.577 / sqrt(3) = 1.43, the interval [10.90, 13.77]
    assert value_verdict([12, 12, 13], 13, within=1) == TIED  # inside, but reaches 10.9
    assert value_verdict([12, 12, 13], 13, within=2.2) == HOLDS
    assert value_verdict([12, 12, 13], 14, within=5) == FAILS  # outside the interval
    assert value_verdict([64, 64, 64], 64, within=0) == HOLDS and value_verdict([64, 64, 64], 63, 1) == FAILS
    # two seeds 15 and 16: t(1) = 12.7, the interval [9.1, 21.9] holds 13 and tells nothing
    assert value_verdict([15, 16], 13, within=1) == TIED
    assert value_verdict([12], 12, within=1) is None
    claim = {"says": "13 dims", "metric": "active_dims", "model": "m", "equals": 13, "within": 1}
    verdict = judge(claim, records({"m": [12, 12, 13]}, metric="active_dims"))
    assert verdict.verdict == TIED
    assert "12.3 ± 0.6, 3 seeds, 95 % interval [10.9, 13.8] (read within ± 1)" in verdict.ours


def test_an_ordering_against_several_models_takes_the_worst_pair():
    values = {"maskaae": [1.0, 1.1, 0.9], "wae": [2.0, 2.1, 1.9], "vae": [1.0, 1.2, 0.8]}
    values["bad"] = [0.1, 0.2, 0.0]
    claim = {"says": "best", "metric": "fid", "lower": "maskaae", "than": ["wae", "vae"]}
    verdict = judge(claim, records(values))
    assert verdict.verdict == TIED and "lower than wae 2.000 ± 0.100" in verdict.ours
    assert "cannot be told apart from vae" in verdict.ours
    assert judge({**claim, "than": "*"}, records(values)).verdict == FAILS  # "bad" is lower
    assert judge({**claim, "than": ["wae"]}, records(values)).verdict == HOLDS
    higher = {"says": "worst", "metric": "fid", "higher": "wae", "than": ["maskaae", "vae"]}
    assert judge(higher, records(values)).verdict == HOLDS
    missing = judge({**claim, "than": ["flexae"]}, records(values))
    assert missing.verdict is None and "no fid of flexae" in missing.ours
    several = records(values) + records(values, m=32)
    assert judge(claim, several).verdict is None and judge({**claim, "m": 64}, several).verdict == TIED
    table = claims_markdown([verdict, missing])
    assert "**cannot be told apart**" in table and "**cannot be judged from these records**" in table


@pytest.mark.parametrize(
    "claim, message",
    [
        ({"metric": "fid", "lower": "a", "than": ["b"]}, "needs 'says' and 'metric'"),
        ({"says": "x", "metric": "fid", "lower": "a"}, "'than' must be a list"),
        ({"says": "x", "metric": "fid", "lower": "a", "higher": "b", "than": ["b"]}, "needs one of"),
        ({"says": "x", "metric": "nac", "model": "a"}, "'model' goes with a number 'equals'"),
        ({"says": "x", "metric": "nac", "model": "a", "equals": 1, "colour": "red"}, "unknown keys colour"),
        ({"says": "x", "metric": "nac", "model": "a", "equals": 1}, "a value claim needs 'within'"),
        ({"says": "x", "metric": "nac", "model": "a", "equals": 1, "within": -1}, "needs 'within'"),
        ({"says": "x", "metric": "fid", "lower": "a", "than": ["b"], "within": 1}, "go with 'model'"),
    ],
)
def test_a_malformed_claim_is_one_line_naming_it(claim, message):
    with pytest.raises(LatentdimError, match=message):
        parse_claims([claim], "study s.toml")


SPEC = """
name = "c"
datasets = [{sklearn = "digits"}]
models = ["wae-mmd", "vae"]
latent_dims = [4]
seeds = 2
[train]
steps = 20
batch_size = 32
eval_samples = 100
[model]
hidden = [16]
[[claims]]
says = "WAE-MMD beats the VAE"
source = "nobody"
metric = "fid"
lower = "wae-mmd"
than = ["vae"]
[[claims]]
says = "the VAE keeps 4 dims"
metric = "active_dims"
model = "vae"
equals = 4
within = 1
"""


def test_a_study_s_claims_get_their_verdicts_in_the_report(tmp_path):
    from latentdim.report import report
    from latentdim.studies import load_study
    from latentdim.studies.sweep import sweep

    spec = tmp_path / "c.toml"
    spec.write_text(SPEC)
    study = load_study(spec)
    assert [c["says"] for c in study.claims] == ["WAE-MMD beats the VAE", "the VAE keeps 4 dims"]
    sweep(study, tmp_path / "out", jobs=1)
    report(tmp_path / "out")
    table = (tmp_path / "out" / "claims.md").read_text()
    recs = [json.loads(line) for line in (tmp_path / "out" / "records.jsonl").read_text().splitlines()]
    expected = judge(study.claims[0], recs)
    assert f"| WAE-MMD beats the VAE | nobody |  | {expected.ours} | **{expected.verdict}** |" in table
    assert "## Claims and verdicts" in (tmp_path / "out" / "REPORT.md").read_text()
    spec.write_text(SPEC.replace('than = ["vae"]', 'than = ["flexae"]'))
    with pytest.raises(LatentdimError, match="names flexae, not a model of the study"):
        load_study(spec)


def test_an_fid_ordering_over_two_feature_networks_says_so():
    values = {"a": [1.0, 1.1, 0.9], "b": [2.0, 2.1, 1.9]}
    mixed = records(values)
    for record in mixed:
        record["metrics"]["features_sha256"] = "net-1" if record["model"] == "a" else "net-2"
    claim = {"says": "a beats b", "metric": "fid", "lower": "a", "than": ["b"]}
    assert "scored on 2 different feature networks" in judge(claim, mixed).ours
    assert "feature networks" not in judge(claim, records(values)).ours
    nac = {**claim, "metric": "nac"}  # not on features: nothing to say
    assert "feature networks" not in judge(nac, records(values, metric="nac")).ours


def test_a_claim_older_code_wrote_is_left_out_and_the_rest_kept(tmp_path):
    from latentdim.report.folder import study_claims

    good = {"says": "a below b", "metric": "fid", "lower": "a", "than": ["b"]}
    old = {"says": "a keeps 4", "metric": "active_dims", "model": "a", "equals": 4}  # no 'within'
    summary = {"ran": 0, "cells": 0, "wall_seconds": 0.0, "samples_per_second": 0.0}
    entry = {"study": {"name": "s", "claims": [old, good]}, "started": "t", "summary": summary}
    (tmp_path / "sweeps.jsonl").write_text(json.dumps(entry) + "\n")
    assert [c["says"] for c in study_claims(tmp_path)] == ["a below b"]
