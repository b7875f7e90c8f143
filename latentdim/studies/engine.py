"""Running cells: worker processes, stacks of cells of one shape, a stack's training
and evaluation, and the record each cell leaves."""

from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace

import numpy as np
import torch

from latentdim.config import ModelConfig, TrainConfig
from latentdim.data.readers import image_shape_of
from latentdim.errors import DivergenceError, LatentdimError
from latentdim.files import canonical_json, versions
from latentdim.studies.spec import (
    Cell,
    cell_data,
)
from latentdim.training import torch_threads


def _init_worker(setup: Callable | None = None, args: tuple = ()) -> None:
    # a Ctrl-C reaches the whole process group: the driver alone handles it, and
    # stops the workers itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    if setup is not None:
        setup(*args)


@contextlib.contextmanager
def worker_pool(
    workers: int, setup: Callable | None = None, args: tuple = ()
) -> Iterator[ProcessPoolExecutor]:
    """``workers`` spawned one-thread processes that ignore SIGINT, each running
    ``setup(*args)`` first (``args`` may hold objects shared with the driver, such as a
    ``multiprocessing`` counter of the spawn context). When the block ends normally the
    pool shuts down as usual; when it fails or is interrupted (a Ctrl-C, a SIGTERM
    raised as an exception, a generator closed early) the workers are terminated
    rather than awaited: no orphans, and no wait for a running stack."""
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(setup, args),
    )
    try:
        yield pool
    except BaseException:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


MAX_STACK = {"cpu": 32, "cuda": 256}


def stack_key(cell: Cell) -> str:
    """Cells with equal keys can train as one stack: the same data shape, model and
    config, capacity m, budget and threads (datasets and seeds may differ). Files and
    bundled data sets stack only with cells of the same source: their image shape
    (C, H, W), which a stack shares, is read from the source."""
    shape = cell.data["shape"] if "shape" in cell.data else [cell.data["samples"], cell.data["d"]]
    source = cell.data.get("file") or cell.data.get("sklearn")
    same = {k: v for k, v in asdict(cell).items() if k not in ("dataset", "data", "replicate", "seed")}
    return canonical_json({"shape": shape, **({"source": source} if source else {}), **same})


def plan_stacks(
    cells: list[Cell], stack: int | str = "auto", workers: int = 1, device: str = "cpu"
) -> list[list[Cell]]:
    """Partition ``cells`` into stacks, in study order.

    Cells with equal :func:`stack_key` form a group. ``stack = K`` cuts each group into
    consecutive stacks of at most K cells (``1``: one model at a time). ``auto`` keeps
    each group whole up to ``MAX_STACK[device]`` cells (cut into equal parts above
    that), then halves the largest stacks until there are at least ``workers`` of them,
    so every worker has one to train. A sweep plans over all of a study's cells and
    then drops the finished ones, so a resumed sweep trains its cells in the same
    stacks as the first try did, less the finished members.
    """
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(stack_key(cell), []).append(cell)
    if stack != "auto":
        if not isinstance(stack, int) or stack < 1:
            raise LatentdimError(f"--stack must be 'auto' or an integer >= 1, got {stack!r}")
        return [group[i : i + stack] for group in groups.values() for i in range(0, len(group), stack)]
    cap = MAX_STACK.get(torch.device(device).type, MAX_STACK["cpu"])
    stacks = [part for group in groups.values() for part in _cut(group, -(-len(group) // cap))]
    while len(stacks) < workers and max(len(s) for s in stacks) > 1:
        largest = max(range(len(stacks)), key=lambda i: len(stacks[i]))
        stacks[largest : largest + 1] = _cut(stacks[largest], 2)
    return stacks


def _cut(cells: list[Cell], parts: int) -> list[list[Cell]]:
    """``cells`` in ``parts`` consecutive runs whose sizes differ by at most one."""
    size, extra = divmod(len(cells), parts)
    bounds = np.cumsum([0] + [size + (i < extra) for i in range(parts)])
    return [cells[a:b] for a, b in itertools.pairwise(bounds)]


def run_cell(cell: Cell, device: str = "cpu") -> dict:
    """Train and evaluate one cell; return its record (``status`` ok or failed)."""
    return run_stack([cell], device)[0]


def run_stack(cells: list[Cell], device: str = "cpu") -> list[dict]:
    """Train the cells (one :func:`plan_stacks` stack) as one stacked model on
    ``device``, evaluate each; return their records (``status`` ok or failed).

    Any exception inside training or evaluation becomes a failed record carrying the
    error, so one diverging cell fails alone and does not stop a sweep; an error that
    stops the whole stack's training fails each of its cells.
    """
    from latentdim.runs import fit_stack

    if len({stack_key(c) for c in cells}) != 1:
        raise LatentdimError("the cells of a stack must share data shape, model, m and budget")
    start = time.perf_counter()
    train_configs = [TrainConfig(**cell.train, seed=cell.seed) for cell in cells]
    try:
        with torch_threads(cells[0].threads):
            keys = [canonical_json(cell.data) for cell in cells]
            loaded = {key: cell_data(json.loads(key)) for key in set(keys)}  # a shared dataset read once
            xs, truths, tests = zip(*(loaded[key] for key in keys), strict=True)
            model_config = ModelConfig(latent_dim=cells[0].latent_dim, **cells[0].model_config)
            if model_config.image_shape is None:
                source = cells[0].data  # a stack shares its source (stack_key)
                shape = image_shape_of(source.get("file"), source.get("sklearn"))
                model_config = replace(model_config, image_shape=shape)
            outcomes = fit_stack(
                list(xs), model_config, train_configs, list(truths), device, tests=list(tests)
            )
    except Exception as exc:
        outcomes = [exc] * len(cells)
    wall = time.perf_counter() - start
    engine = {"device": str(device), "stack": len(cells)}
    return [
        _record(cell, config, outcome, wall, engine)
        for cell, config, outcome in zip(cells, train_configs, outcomes, strict=True)
    ]


MASK_HISTORY_ROWS = 60


def mask_history(rows: list[dict]) -> dict | None:
    """A masked model's mask against the iteration, from its logged history rows: at
    most 60 evenly spaced rows (always the last), or None for a model without a mask."""
    if not rows or "mask_0" not in rows[0]:
        return None
    keep = sorted({round(i) for i in np.linspace(0, len(rows) - 1, min(len(rows), MASK_HISTORY_ROWS))})
    m = sum(key.startswith("mask_") and key[5:].isdigit() for key in rows[0])
    return {
        "step": [rows[i]["step"] for i in keep],
        "mask": [[round(rows[i][f"mask_{j}"], 4) for j in range(m)] for i in keep],
    }


def record_head(cell: Cell) -> dict:
    """The fields that name a cell's record: its id, dataset, n, model, m, seed, replicate."""
    return {
        "id": cell.id,
        "dataset": cell.dataset,
        "n": cell.true_dim,
        "model": cell.model,
        "latent_dim": cell.latent_dim,
        "seed": cell.seed,
        "replicate": cell.replicate,
    }


def _record(cell: Cell, train_config: TrainConfig, outcome, wall: float, engine: dict) -> dict:
    record = record_head(cell)
    if isinstance(outcome, Exception):
        error = {"type": type(outcome).__name__, "message": str(outcome)}
        if isinstance(outcome, DivergenceError):
            error.update(iteration=outcome.iteration, loss=outcome.name)
        else:
            error["where"] = traceback.format_exception(outcome)[-2].strip()
        record.update(status="failed", error=error, timings={"training_samples": 0})
    else:
        samples = outcome.timings["iterations"] * train_config.batch_size
        record.update(status="ok", metrics=outcome.metrics)
        record["timings"] = {**outcome.timings, "training_samples": samples}
        trajectory = mask_history(outcome.history.rows)
        if trajectory is not None:
            record["mask_history"] = trajectory
    record["timings"]["wall_seconds"] = wall  # the whole stack's, shared by its members
    record["engine"] = {**engine, "torch": torch.__version__}
    record["versions"] = versions()
    record["cell"] = asdict(cell)
    return record
