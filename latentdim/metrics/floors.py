"""The FID floor of a sweep's datasets: what a perfect model would score.

A dataset scored against a test set of its own (``test_path``; MNIST's t10k file) on a
feature network gets, beside its table, the FID and KID of the test rows against
10 000 random training rows (:func:`latentdim.metrics.features.fid_floor`): a model that
reproduced the training data exactly would score about that, so a generated FID is
read as a distance above the floor, not above 0. Kept in the sweep folder's
``floor.json``, keyed by the files' hashes and the features, and remade when they change.
"""

from __future__ import annotations

import json
from pathlib import Path

from latentdim.errors import LatentdimError
from latentdim.files import atomic_path

FLOOR = "floor.json"


def fid_floors(records: list[dict], out: Path) -> dict[str, dict]:
    """Per dataset of ``records`` with a test set of its own and a feature network:
    its floor (``fid``, ``kid``, rows, features, the network's accuracy), or
    ``{"error": ...}`` where its files cannot be read here. Writes ``out/floor.json``."""
    from latentdim.metrics.features import feature_network_id, fid_floor
    from latentdim.studies import checked_rows

    wanted = {}
    for record in records:
        data = record.get("cell", {}).get("data", {})  # records made by hand or by old code may lack it
        name = record["metrics"].get("fid_features", "identity")
        if "test_file" in data and name != "identity":
            wanted[record["dataset"]] = (data, name)
    path = out / FLOOR
    if not wanted:
        path.unlink(missing_ok=True)
        return {}
    cached = _read(path) if path.is_file() else {}
    floors = {}
    for dataset, (data, name) in sorted(wanted.items()):
        try:
            network = feature_network_id(name)  # this machine's network: the floor is on it
        except LatentdimError as exc:  # no network here (nor the data to train it): keep what is kept
            kept = cached.get(dataset)
            floors[dataset] = kept if isinstance(kept, dict) and "fid" in kept else {"error": str(exc)}
            continue
        key = f"{data['sha256']}/{data['test_sha256']}/{name}/{network}"
        entry = cached.get(dataset)
        if not isinstance(entry, dict) or entry.get("key") != key or "fid" not in entry:
            try:
                train = checked_rows(data["file"], data["sha256"])
                test = checked_rows(data["test_file"], data["test_sha256"])
                entry = {"key": key, **fid_floor(name, train, test)}
            except LatentdimError as exc:
                entry = {"key": key, "error": str(exc)}
        floors[dataset] = entry
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(json.dumps(floors, indent=2) + "\n")
    return floors


def _read(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # a damaged floor file is made again
    return value if isinstance(value, dict) else {}


def floor_lines(floors: dict[str, dict]) -> list[str]:
    """Markdown lines stating each dataset's floor."""
    lines = []
    for dataset, entry in floors.items():
        if "error" in entry:
            lines.append(f"- {dataset}: the floor could not be measured here ({entry['error']})")
            continue
        accuracy = entry.get("features_accuracy")
        network = entry["features"] + ("" if accuracy is None else f", test accuracy {accuracy:.4f}")
        lines.append(
            f"- {dataset} floor: FID {entry['fid']:.3f}, KID {entry['kid']:.5f} of the {entry['test_rows']} "
            f"test images against {entry['train_rows']} random training images ({network} features)"
        )
    return lines
