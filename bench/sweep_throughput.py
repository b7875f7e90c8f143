"""Training throughput of the stacked engine against today's pool, measured in one run.

Workloads (cells = seeds of one shape, trained from scratch, no evaluation):

* WAE-MMD reference workload: n = 8 data (20k x 128), encoder 128-256-256-16 and
  mirrored decoder, batch 100;
* MaskAAE cells of the default study: n = 8 data (20k x 128), m = 16, default nets
  (256-256, critic 128-128), batch 64.

Layouts, all on the same cells: the baseline is today's pool (``--stack 1``): P = 2
spawned processes x 1 torch thread, each training one model at a time; then stacks of K
members in P processes x T threads. Figures are member-iterations/s (and training
samples/s) over the wall time of the whole pool, workers already started; ratios are
against the baseline of the same run. The FLOP bound is the matmul FLOPs of one
iteration (the profiler's count, forward and backward) against the peak of a
large one-thread sgemm on every core: the most iterations/s the matmuls alone allow.

Then, end to end: ``sweep(..., stack=1)`` against ``stack="auto"`` on the MaskAAE cells,
evaluation included (its eval is the same in both).

    OMP_NUM_THREADS=1 .venv/bin/python bench/sweep_throughput.py [--cells 16] [--device cpu]

On a GPU (``--device cuda``) each row trains one stack of K cells in one process, for
the K at which throughput stops growing (``--ks``); bench/gpu_check.sh runs it.
"""

import argparse
import multiprocessing
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from latentdim.config import ModelConfig, TrainConfig
from latentdim.data.synthetic import make_dataset
from latentdim.runs import generators, train_new
from latentdim.training import train

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = {
    "wae-mmd": (ModelConfig("wae-mmd", 16, 128, hidden=(256, 256)), 100),
    "maskaae": (ModelConfig("maskaae", 16, 128), 64),
}


@lru_cache(maxsize=1)
def data() -> np.ndarray:
    return np.ascontiguousarray(make_dataset(8, 128, samples=20000, seed=0).x[:18000])


def _threads(threads: int) -> None:
    torch.set_num_threads(threads)


def _ready(_=None) -> int:
    data()
    return torch.get_num_threads()


def train_stack(job) -> float:
    """Train the seeds of ``job`` as one stack; return the training seconds."""
    name, seeds, steps, device = job
    config, batch = WORKLOADS[name]
    budget = TrainConfig(steps=steps, batch_size=batch)
    start = time.perf_counter()
    if len(seeds) == 1 and device == "cpu":  # one model, in the call the pre-stacking code took too
        train_new(data(), config, budget, generators(seeds[0]))
    else:
        x = np.repeat(data()[None], len(seeds), axis=0)
        start = time.perf_counter()
        train_new(x, config, budget, [generators(s) for s in seeds], device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def pool_rate(
    name: str, cells: int, steps: int, stack: int, processes: int, threads: int, device: str
) -> float:
    """Member-iterations/s of ``cells`` seeds cut into stacks of ``stack``, trained by
    ``processes`` workers with ``threads`` threads each (inline for one process)."""
    seeds = list(range(cells))
    jobs = [(name, tuple(seeds[i : i + stack]), steps, device) for i in range(0, cells, stack)]
    if processes == 1:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        _ready()
        start = time.perf_counter()
        for job in jobs:
            train_stack(job)
        wall = time.perf_counter() - start
        torch.set_num_threads(previous)
        return cells * steps / wall
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_threads, initargs=(threads,)
    ) as pool:
        list(pool.map(_ready, range(processes)))  # workers started, data made
        start = time.perf_counter()
        list(pool.map(train_stack, jobs))
        wall = time.perf_counter() - start
    return cells * steps / wall


def flops_per_iteration(name: str) -> float:
    """Matmul FLOPs of one training iteration of one model (forward and backward)."""
    config, batch = WORKLOADS[name]
    gens = generators(0)
    model, _ = train_new(data()[:2000], config, TrainConfig(steps=1, batch_size=batch), gens)
    xn = model.normalise(torch.from_numpy(data()[:2000])[None])
    with torch.profiler.profile(with_flops=True) as profiler:
        train(model, xn, TrainConfig(steps=2, batch_size=batch, log_every=2), [gens["batches"]])
    return sum(event.flops for event in profiler.key_averages()) / 2


def peak_flops(device: str = "cpu") -> float:
    """FLOP/s of a large float32 matmul, best of 5: one CPU thread (2048^3), or the GPU
    (8192^3, TF32 off as in training)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    size = 2048 if device == "cpu" else 8192
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        if device != "cpu":
            torch.cuda.synchronize()
        best = max(best, 2 * size**3 / (time.perf_counter() - start))
    torch.set_num_threads(previous)
    return best


def _old_pool(args) -> dict[str, float]:
    """The K = 1 pool rate of the pre-stacking code at ``--old-tree``, in a subprocess."""
    import os
    import subprocess
    import sys

    command = [sys.executable, __file__, "--baseline-only", "--cells", str(args.cells)]
    command += ["--steps", str(args.steps), "--cores", str(args.cores), "--workloads", args.workloads]
    env = {**os.environ, "PYTHONPATH": args.old_tree}
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines() if line.startswith("BASELINE")]
    return {row[1]: float(row[2]) for row in rows}


def study_file(folder: Path, cells: int, steps: int) -> Path:
    path = folder / "stack-bench.toml"
    path.write_text(
        f"""name = "stack-bench"
seed = 0
datasets = ["{ROOT / "synthetic" / "n8-d128.toml"}"]
models = ["maskaae"]
latent_dims = [16]
seeds = {cells}
[train]
steps = {steps}
eval_samples = 2000
"""
    )
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=16)
    parser.add_argument("--steps", type=int, default=600, help="iterations per MaskAAE cell (x4 for WAE-MMD)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--no-sweep", action="store_true", help="skip the end-to-end sweep")
    parser.add_argument("--ks", default="1,8,32,128,512", help="stack sizes tried on a GPU (one stack each)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument(
        "--old-tree", help="a checkout of the pre-stacking code: its pool (K = 1) is measured in this run too"
    )
    parser.add_argument("--baseline-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    cores, cells = args.cores, args.cells
    if args.baseline_only:  # run by --old-tree, with that tree first on the path
        for name in args.workloads.split(","):
            steps = args.steps * (4 if name == "wae-mmd" else 1)
            print(f"BASELINE {name} {pool_rate(name, cells, steps, 1, cores, 1, 'cpu')}")
        return
    gpu = args.device != "cpu"
    peak = peak_flops("cuda" if gpu else "cpu")
    print(
        f"torch {torch.__version__}; {'the GPU' if gpu else f'{cores} cores'}; "
        f"{'GPU' if gpu else 'one-thread'} float32 matmul peak {peak / 1e9:.0f} GFLOP/s; {cells} cells"
    )
    old = _old_pool(args) if args.old_tree else {}
    for name in args.workloads.split(","):
        config, batch = WORKLOADS[name]
        steps = args.steps * (4 if name == "wae-mmd" else 1)
        flops = flops_per_iteration(name)
        bound = (1 if gpu else cores) * peak / flops
        print(
            f"\n{name}: m = {config.latent_dim}, hidden {config.hidden}, batch {batch}, "
            f"{steps} iterations per cell; "
            f"{flops / 1e6:.0f} MFLOP per iteration -> FLOP bound {bound:.0f} it/s"
        )
        print(
            f"  {'K':>3} {'processes':>9} {'threads':>7} {'it/s':>8} {'samples/s':>10} "
            f"{'ratio':>6} {'of bound':>8}" + ("  vs pre-stacking" if name in old else "")
        )
        layouts = [
            (1, cores, 1),
            (cells // cores, cores, 1),
            (cells // (2 * cores), cores, 1),
            (cells, 1, cores),
        ]
        if args.device != "cpu":  # one process, one stack of K cells per row
            layouts = [(int(k), 1, cores) for k in args.ks.split(",")]
            train_stack((name, (0,), 5, args.device))  # CUDA context and kernels warmed up
        base = None
        if name in old:
            rate = old[name]
            label = f"pre-stacking code ({args.old_tree})"
            print(f"  {1:>3} {cores:>9} {1:>7} {rate:8.1f} {rate * batch:10.0f}  {label}")
        for stack, processes, threads in layouts:
            count = cells if args.device == "cpu" else stack
            rate = pool_rate(name, count, steps, stack, processes, threads, args.device)
            base = base or rate
            versus = f"  {rate / old[name]:8.2f}x" if name in old else ""
            print(
                f"  {stack:>3} {processes:>9} {threads:>7} {rate:8.1f} {rate * batch:10.0f} "
                f"{rate / base:5.2f}x {rate / bound:7.0%}{versus}"
            )
    if args.no_sweep or args.device != "cpu":
        return
    from latentdim.studies import load_study
    from latentdim.studies.sweep import sweep

    folder = Path(tempfile.mkdtemp(prefix="latentdim-bench-"))
    try:
        study = load_study(study_file(folder, cells, 1500))
        print(
            f"\nend to end: sweep of {cells} MaskAAE cells (1500 iterations, evaluation included), "
            f"--jobs {cores}"
        )
        walls = {}
        for stack in (1, "auto"):
            start = time.perf_counter()
            summary = sweep(study, folder / f"stack-{stack}", jobs=cores, stack=stack, device=args.device)
            walls[stack] = time.perf_counter() - start
            print(f"  --stack {stack!s:>4}: {walls[stack]:6.0f} s ({summary.ok} ok)")
        print(f"  ratio {walls[1] / walls['auto']:.2f}x")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
