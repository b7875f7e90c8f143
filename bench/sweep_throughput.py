"""Aggregate training throughput of a sweep against one run, measured in the same run.

Workload: the reference one of bench/throughput.py — WAE-MMD, n = 8 data (20k x 128),
encoder 128-256-256-16 and mirrored decoder, batch 100 — as a study of ``--cells``
cells (seeds) of ``--steps`` iterations. Figures, all in training samples/s
(iterations x batch / wall time, cell start-up and evaluation included for the sweep):

* one run: ``latentdim.runs.fit`` of one cell, 1 process x 1 thread;
* one run, 1 process x 2 threads;
* the sweep: ``latentdim sweep --jobs 1`` and ``--jobs 2`` (processes x 1 thread).

    .venv/bin/python bench/sweep_throughput.py [--cells 4] [--steps 2000]
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from latentdim.autoencoder import ModelConfig
from latentdim.runs import fit
from latentdim.studies import load_study
from latentdim.sweep import sweep
from latentdim.synthetic import make_dataset
from latentdim.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def study_file(folder: Path, cells: int, steps: int) -> Path:
    path = folder / "throughput.toml"
    path.write_text(
        f"""name = "throughput"
seed = 0
datasets = ["{ROOT / "synthetic" / "n8-d128.toml"}"]
models = ["wae-mmd"]
latent_dims = [16]
seeds = {cells}
[train]
steps = {steps}
batch_size = 100
eval_samples = 2000
[model]
hidden = [256, 256]
"""
    )
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    samples = args.steps * 100
    print(f"torch {torch.__version__}; WAE-MMD reference workload, {args.steps} iterations x batch 100")

    x = make_dataset(8, 128, samples=20000, seed=0).x
    config = ModelConfig("wae-mmd", 16, hidden=(256, 256))
    single = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        fit(x, config, TrainConfig(steps=100, batch_size=100, eval_samples=2000))  # warm-up
        start = time.perf_counter()
        fit(x, config, TrainConfig(steps=args.steps, batch_size=100, eval_samples=2000))
        single[threads] = samples / (time.perf_counter() - start)
        print(f"  one run, 1 process x {threads} thread(s):   {single[threads]:8.0f} samples/s")
    torch.set_num_threads(1)

    folder = Path(tempfile.mkdtemp(prefix="latentdim-bench-"))
    try:
        study = load_study(study_file(folder, args.cells, args.steps))
        for jobs in (1, 2):
            out = folder / f"jobs{jobs}"
            start = time.perf_counter()
            summary = sweep(study, out, jobs=jobs)
            wall = time.perf_counter() - start
            rate = summary.training_samples / wall
            print(
                f"  sweep of {args.cells} cells, --jobs {jobs}:     {rate:8.0f} samples/s  "
                f"({rate / single[1]:.2f}x one 1-thread run, {rate / single[2]:.2f}x one 2-thread run; "
                f"{wall:.0f} s incl. process start-up)"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
