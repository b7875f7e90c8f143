"""Run a study's cells and keep their records: resumable, local processes or Dask.

The driver is the only writer of ``OUT/records.jsonl`` (its format:
:mod:`latentdim.studies.records`). Re-running resumes: cells with
an ``ok`` record are skipped, cells with a ``failed`` one are skipped unless
``retry_failed``, and a truncated last line (a driver killed mid-write) is cut off.
When a cell has several records (a retried failure) the last one counts.

Cells of one shape train together, as one stacked model (:func:`plan_stacks`). The
executors, one dict, run stacks: ``local`` inline (``jobs=1``) or in a pool of
``jobs`` spawned processes, one torch thread each; ``dask`` submits them to a
dask.distributed scheduler (optional extra ``latentdim[dask]``), which reschedules the
stacks of a worker that dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

from latentdim.errors import LatentdimError
from latentdim.files import json_lines, versions, writing
from latentdim.studies import Cell, Study, default_out, is_reference_dir, plan_stacks, run_stack, worker_pool
from latentdim.studies.engine import record_head
from latentdim.studies.records import RECORDS, RecordStore
from latentdim.training import resolve_device

LOCK = ".sweep.lock"
SWEEPS = "sweeps.jsonl"


# -- executors: iterate over the records of ``cells`` as they finish ---------------


def run_local(stacks: list[list[Cell]], jobs: int | None = None, device: str = "cpu", **_) -> Iterator[dict]:
    """Inline for ``jobs == 1``; otherwise a pool of ``jobs`` spawned processes, each
    training one stack at a time."""
    jobs = min(jobs or default_jobs(), len(stacks))
    if jobs <= 1:
        for stack in stacks:
            yield from run_stack(stack, device)
        return
    with worker_pool(jobs) as pool:
        futures = [pool.submit(run_stack, stack, device) for stack in stacks]
        for future in as_completed(futures):
            yield from future.result()


def run_dask(
    stacks: list[list[Cell]], scheduler: str | None = None, device: str = "cpu", **_
) -> Iterator[dict]:
    """Submit every stack to the dask.distributed scheduler at ``scheduler``."""
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise LatentdimError("the dask executor needs the extra: pip install 'latentdim[dask]'") from None
    if not scheduler:
        raise LatentdimError("the dask executor needs --scheduler tcp://HOST:PORT")
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise LatentdimError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        futures = {
            client.submit(
                run_stack, stack, device, key=f"stack-{stack[0].id}-{len(stack)}", pure=False
            ): stack
            for stack in stacks
        }
        try:
            for future in dask_completed(list(futures)):
                try:
                    yield from future.result()
                except Exception as exc:  # the stack's workers kept dying (KilledWorker) etc.
                    for cell in futures[future]:
                        yield _lost(cell, exc)
        finally:
            client.cancel(list(futures))


def _lost(cell: Cell, exc: Exception) -> dict:
    return {
        **record_head(cell),
        "status": "failed",
        "error": {"type": type(exc).__name__, "message": str(exc)},
        "timings": {"training_samples": 0},
        "versions": versions(),
    }


EXECUTORS: dict[str, Callable[..., Iterator[dict]]] = {"local": run_local, "dask": run_dask}


def default_jobs() -> int:
    """Usable cores (one 1-thread process per core)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# -- the driver -----------------------------------------------------------------------


@dataclass
class SweepSummary:
    cells: int
    skipped: int
    ran: int
    ok: int
    failed: int
    wall_seconds: float
    training_samples: int
    reused: int = 0  # finished cells taken from another sweep's records (``reuse``)

    @property
    def samples_per_second(self) -> float:
        return self.training_samples / self.wall_seconds if self.wall_seconds > 0 else 0.0


def pending(study: Study, records: dict[str, dict], retry_failed: bool = False) -> list[Cell]:
    """Cells of ``study`` that still need running."""
    done = {"ok"} if retry_failed else {"ok", "failed"}
    return [c for c in study.cells() if records.get(c.id, {}).get("status") not in done]


def sweep(
    study: Study,
    out: str | os.PathLike,
    *,
    executor: str = "local",
    jobs: int | None = None,
    scheduler: str | None = None,
    retry_failed: bool = False,
    on_start: Callable[[int, int], None] | None = None,
    on_record: Callable[[dict], None] | None = None,
    command: Iterable[str] | None = None,
    update_reference: bool = False,
    stack: int | str = "auto",
    device: str = "auto",
    reuse: Iterable[str | os.PathLike] = (),
) -> SweepSummary:
    """Run the cells of ``study`` not yet recorded in ``out``; append their records.

    ``on_start(todo, total)`` is called once the pending cells are known and
    ``on_record(record)`` after each record is stored (progress, logging).
    Cells of one shape train together as stacked models (:func:`plan_stacks`:
    ``stack`` is ``"auto"`` or the most cells per stack, 1 for one at a time) on
    ``device`` (``auto``: CUDA when present). On CUDA the local executor defaults to
    one process. ``out`` may be a study's committed reference folder (``studies/NAME/``) only with
    ``update_reference``; nothing is written there otherwise.

    ``reuse`` names other sweep folders: a pending cell that one of them finished (the
    same cell id: same data hashes, model, budget and seed) is copied from it, marked
    ``reused_from``, instead of trained again -- a study that shares cells with another
    (Table 2's models are Table 1's) costs only the cells it adds.
    """
    if is_reference_dir(out, study) and not update_reference:
        raise LatentdimError(
            f"{out} holds the committed reference outcome of a study; write your run elsewhere "
            f"(the default is {default_out(study)}), or pass --update-reference to refresh the reference"
        )
    if executor not in EXECUTORS:
        raise LatentdimError(f"unknown executor {executor!r} (choose from {', '.join(EXECUTORS)})")
    if jobs is not None and jobs < 1:
        raise LatentdimError(f"--jobs must be >= 1, got {jobs}")
    device = str(resolve_device(device))
    if executor == "local":
        jobs = jobs or (1 if device.startswith("cuda") else default_jobs())
    cells = study.cells()
    planned = plan_stacks(cells, stack, jobs if executor == "local" else 1, device)  # checks stack
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LatentdimError(f"cannot create {out}: {exc.strerror}") from None
    with sweep_lock(out):
        store = RecordStore(out / RECORDS)
        records = store.load()
        reused = _reuse(study, records, store, reuse, retry_failed)
        todo = pending(study, records, retry_failed)
        left = {cell.id for cell in todo}
        stacks = [s for s in ([c for c in stack_ if c.id in left] for stack_ in planned) if s]
        if on_start is not None:
            on_start(len(todo), len(cells))
        start = time.time()
        ok = failed = samples = 0
        offset = store.path.stat().st_size if store.path.exists() else 0  # this invocation appends after it
        engine = {"device": device, "stack": stack, "stacks": [len(s) for s in stacks]}

        def log(ran: int, stopped: str | None = None) -> SweepSummary:
            summary = SweepSummary(
                len(cells), len(cells) - len(todo), ran, ok, failed, time.time() - start, samples, reused
            )
            _log_sweep(out, study, summary, executor, jobs, scheduler, command, start, engine, stopped)
            return summary

        try:
            if todo:
                recorded = set(records)
                for record in EXECUTORS[executor](stacks, jobs=jobs, scheduler=scheduler, device=device):
                    try:
                        store.append(record)
                    except OSError as exc:  # the pool's workers are stopped on the way out
                        raise LatentdimError(
                            f"cannot record a finished cell in {store.path}: {exc.strerror or exc}; the "
                            f"{len(recorded)} cells recorded before it are intact: free space (or make the "
                            "folder writable) and run the same command to resume"
                        ) from None
                    recorded.add(record["id"])
                    ok += record["status"] == "ok"
                    failed += record["status"] != "ok"
                    samples += record["timings"]["training_samples"]
                    if on_record is not None:
                        on_record(record)
        except BaseException as exc:  # a signal, a full disk: the invocation is logged as stopped
            with contextlib.suppress(OSError, LatentdimError):
                # from the file, not the counters: a signal can land between a record's
                # append and the counting of it
                ok, failed, samples = _appended(store.path, offset)
                log(ok + failed, type(exc).__name__)
            raise
        summary = log(len(todo))
    return summary


def _appended(path: Path, offset: int) -> tuple[int, int, int]:
    """The ok and failed records, and their training samples, in the records file at
    ``path`` after byte ``offset``: what an invocation that began there recorded."""
    records = json_lines(path, start=offset)  # a line a crash cut short is no record
    ok = sum(r.get("status") == "ok" for r in records)
    samples = sum((r.get("timings") or {}).get("training_samples", 0) for r in records)
    return ok, len(records) - ok, samples


def _reuse(study: Study, records: dict, store: RecordStore, folders, retry_failed: bool) -> int:
    """Copy into ``store`` (and ``records``) the pending cells that a folder of
    ``folders`` finished; returns how many."""
    count = 0
    for folder in folders:
        path = Path(folder) / RECORDS
        if not path.is_file():
            raise LatentdimError(f"--reuse {folder}: no {RECORDS} there")
        theirs = RecordStore(path).load(repair=False)
        for cell in pending(study, records, retry_failed):
            record = theirs.get(cell.id)
            if record is None or record["status"] != "ok":
                continue
            record = {**record, "reused_from": str(folder)}
            try:
                store.append(record)
            except OSError as exc:
                reason = exc.strerror or exc
                raise LatentdimError(f"cannot record a reused cell in {store.path}: {reason}") from None
            records[cell.id] = record
            count += 1
    return count


@contextlib.contextmanager
def sweep_lock(out: Path) -> Iterator[None]:
    """Hold ``OUT/.sweep.lock`` for the block: an advisory ``flock`` that the kernel
    releases when its holder exits or dies (even by SIGKILL), so a second sweep of the
    same folder refuses at once, naming the holder, instead of writing cells twice.
    Where ``fcntl`` does not exist (Windows) there is no lock."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = out / LOCK
    with writing(str(path)):
        handle = open(path, "a+")
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LatentdimError(
                f"{out} is being swept by {holder}; wait for it to finish, or write to another folder (-o)"
            ) from None
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with writing(str(path)):
            handle.seek(0)
            handle.truncate()
            handle.write(f"latentdim sweep, pid {os.getpid()} on {socket.gethostname()}, since {started}\n")
            handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log_sweep(
    out: Path, study: Study, summary: SweepSummary, executor, jobs, scheduler, command, start, engine,
    stopped: str | None = None,
):
    """Append one line per invocation to ``OUT/sweeps.jsonl``: what ran, how, how fast;
    ``stopped`` names what ended it early (a signal's exception), None when it finished."""
    entry = {
        "study": study.to_dict(),
        "command": list(command) if command is not None else None,
        "executor": executor,
        "jobs": jobs if executor == "local" else None,
        "scheduler": scheduler if executor == "dask" else None,
        "engine": engine,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(start)),
        "stopped": stopped,
        "summary": {**summary.__dict__, "samples_per_second": summary.samples_per_second},
        "versions": versions(),
    }
    with writing(f"{out / SWEEPS} (every cell is recorded)"), open(out / SWEEPS, "a") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
