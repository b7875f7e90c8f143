"""The committed study outcomes are made by today's code: every ok record in
``studies/*/records.jsonl`` carries each field that a record made now carries, so a
change that adds a field to the records cannot leave the references silently stale.

The fields compared are those every ok record has: the record's own, its cell's and
its metrics' (a model's ``posterior_dims`` and a masked model's ``mask_history`` come
and go with the model; the ground-truth metrics with synthetic data).

``MADE_BY_OLDER_CODE`` names the studies not yet re-run since their records last gained
a field (docs/outcomes.md and studies/README.md say so beside their numbers): the test
fails when another study is stale, and when one of these is no longer, so the list can
only shrink."""

import json
from pathlib import Path

from test_sweep import write_study

from latentdim.runs import TRUTH_KEYS
from latentdim.studies import load_study
from latentdim.studies.records import RecordStore
from latentdim.studies.sweep import sweep

STUDIES = Path(__file__).resolve().parent.parent / "studies"
BY_MODEL = {"mask_history", "posterior_dims"}
MADE_BY_OLDER_CODE: set[str] = set()


def fields(record: dict) -> set[str]:
    found = {key for key in record if key not in BY_MODEL}
    found |= {f"cell.{key}" for key in record.get("cell", {})}
    found |= {f"metrics.{key}" for key in record.get("metrics", {}) if key not in BY_MODEL}
    return found


def test_every_reference_record_carries_the_fields_of_a_record_made_now(tmp_path):
    study = load_study(write_study(tmp_path, models='["wae-mmd"]', dims="[2]", seeds=1, steps=20))
    sweep(study, tmp_path / "out", jobs=1)
    (fresh,) = RecordStore(tmp_path / "out" / "records.jsonl").load().values()
    assert fresh["status"] == "ok"
    now = fields(fresh)
    truth = {f"metrics.{key}" for key in TRUTH_KEYS}
    assert truth <= now
    stale = {}
    for path in sorted(STUDIES.glob("*/records.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record["status"] != "ok":
                continue
            expected = now if record["n"] is not None else now - truth
            missing = expected - fields(record)
            if missing:
                stale.setdefault(path.parent.name, set()).update(missing)
    new = {name: keys for name, keys in stale.items() if name not in MADE_BY_OLDER_CODE}
    assert not new, "studies made by older code (re-run them): " + "; ".join(
        f"{name} lacks {', '.join(sorted(keys))}" for name, keys in new.items()
    )
    fresh_again = MADE_BY_OLDER_CODE - set(stale)
    assert not fresh_again, f"re-run, so take them off MADE_BY_OLDER_CODE: {', '.join(sorted(fresh_again))}"
