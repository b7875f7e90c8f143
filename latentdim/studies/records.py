"""A sweep's records: ``OUT/records.jsonl``, one JSON record per line, appended and
fsynced as each cell finishes by the driver, its only writer; what a record must carry
for resume, ``report`` and ``compare`` to read it (:func:`record_problem`)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from latentdim.errors import LatentdimError
from latentdim.files import reading

RECORDS = "records.jsonl"


_RECORD_FIELDS = {
    "id": str,
    "status": str,
    "dataset": str,
    "model": str,
    "latent_dim": int,
    "replicate": int,
}
_FIX = " (corrupt? delete that line: a resumed sweep runs its cell again)"
_TEXT_METRICS = ("fid_features", "features_sha256")
_REQUIRED_METRICS = ("scaled_fid", "fid", "active_dims", "recon_mse")


def record_problem(record) -> str | None:
    """What makes ``record`` unusable by resume, ``report`` and ``compare`` (None when
    nothing does): the fields they read, with their types."""
    if not isinstance(record, dict):
        return "not a JSON object"
    for key, kind in _RECORD_FIELDS.items():
        if not isinstance(record.get(key), kind):
            return f"'{key}' is missing or not {kind.__name__}"
    if "n" not in record or not (record["n"] is None or isinstance(record["n"], int)):
        return "'n' is missing or not an integer"
    if record["status"] == "ok":
        metrics = record.get("metrics")
        if not isinstance(metrics, dict):
            return "an ok record without a 'metrics' object"
        for key, value in metrics.items():
            if key in _TEXT_METRICS and isinstance(value, str):
                continue
            values = value if key == "mask" and isinstance(value, list) else [value]
            if not all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values):
                return f"metric '{key}' is not a number"
        missing = [key for key in _REQUIRED_METRICS if metrics.get(key) is None]
        if missing or "nac" not in metrics:
            return f"an ok record without {', '.join(missing or ['nac'])}"
    elif record["status"] != "failed":
        return f"unknown status {record['status']!r}"
    cell = record.get("cell", {})
    if not isinstance(cell, dict) or not all(
        isinstance(cell.get(k, {}), dict) for k in ("model_config", "train")
    ):
        return "'cell' is not a cell"
    return None


class RecordStore:
    """``records.jsonl``: append-only, one record per line, durable per record."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def load(self, repair: bool = True) -> dict[str, dict]:
        """Records by cell id (last one wins). A truncated last line is ignored, and cut
        off the file when ``repair``."""
        if not self.path.exists():
            return {}
        with reading(str(self.path)):
            raw = self.path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]
        if repair and len(complete) < len(raw):
            try:
                with open(self.path, "r+b") as handle:
                    handle.truncate(len(complete))
                    os.fsync(handle.fileno())
            except OSError as exc:
                raise LatentdimError(f"cannot repair {self.path}: {exc.strerror}") from None
        records: dict[str, dict] = {}
        for number, line in enumerate(complete.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:  # not JSON, or not UTF-8
                raise LatentdimError(f"{self.path}: line {number} is not JSON{_FIX}") from None
            problem = record_problem(record)
            if problem:
                raise LatentdimError(f"{self.path}: line {number} is not a record: {problem}{_FIX}")
            records[record["id"]] = record
        return records

    def append(self, record: dict) -> None:
        """Append one line and fsync it. A write that fails (a full disk, a folder made
        read-only) raises ``OSError`` and is rolled back: no partial line is left for
        the next record to be glued to."""
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                written = 0
                while written < len(line):  # a full disk may take part of it, then refuse
                    written += os.write(fd, line[written:])
                os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)
