"""When does the VAE estimate's reading settle? The evidence behind the settling budget
of :class:`latentdim.VAEDimension` (``latentdim.estimate.settle``).

Per dataset and seed: prepares the rows as ``VAEDimension`` does (standardised, on
their span), trains one learned-variance VAE at the default capacity for the whole
cap (48 000 iterations), and every ``--every`` iterations reads, from a copy of the
model (reading draws nothing, so the training is the estimate's bit for bit): the
median local dimension over the estimate's 5000 reading rows, the same over the
first ``--probe`` of them (what a settling rule can afford to read), the units in use
and the residual share on the probe rows. Writes one JSON line per reading
(``--out``) and prints the trajectories.

    .venv/bin/python bench/estimate_settle.py --only mlp-n8-d128 [--map-seed S] [--latent LAW]
        [--seeds 1] [--every 1000] [--probe 1000] [--steps 48000] [--batch 64] [--lr 1e-3]
        --out FILE.jsonl

``--summary FILE.jsonl ...`` prints, from such files, each trajectory (its reading
every 2000 iterations), the residual's fall per doubling of the iterations, and what
settling rules would have read: stop at the first reading at iteration i >= 8000
whose count has not changed since iteration f i (f = 1/2, 2/3), alone or also
requiring that the residual fell by less than 10 % since then.

``--batch`` and ``--lr`` try another batch size and Adam learning rate (the estimate's
are 64 and 1e-3), for the question whether fewer, larger steps read the same.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from id_accuracy import datasets

from latentdim import VAEDimension
from latentdim.config import TrainConfig
from latentdim.estimate.engine import READING_ROWS, _Job, _local_counts, residual_share
from latentdim.estimate.rows import _scaled, column_scaling, principal_basis, subsample_rows
from latentdim.metrics import variance_gap_count
from latentdim.runs import generators, train_new


def prepared(x: np.ndarray, est: VAEDimension) -> tuple[np.ndarray, list[int]]:
    seeds = est._seeds()
    rows = subsample_rows(x, est.max_rows, np.random.default_rng(seeds[0]))
    columns, centre, sd = column_scaling(rows)
    xs = _scaled(rows, columns, centre, sd)
    basis = principal_basis(xs)
    if basis is not None:
        xs = _scaled(rows, columns, centre, sd, basis)
    return xs, seeds


def _stop(path: list[dict], since: float, flat: float | None, first: int = 8000) -> dict:
    """The reading a settling rule stops at (the cap's last when none fires)."""
    by = {r["iteration"]: r for r in path}
    for r in path:
        i = r["iteration"]
        window = [s for s in path if since * i <= s["iteration"] <= i]
        if i < first or len({s["local"] for s in window}) != 1:
            continue
        if flat is None or r["residual"] >= (1 - flat) * by[window[0]["iteration"]]["residual"]:
            return r
    return path[-1]


def summary(files: list[str]) -> None:
    paths: dict[tuple, list[dict]] = {}
    for name in files:
        for line in open(name):
            r = json.loads(line)
            paths.setdefault((r["dataset"], r["seed"], r.get("batch", 64), r.get("lr", 1e-3)), []).append(r)
    rules = [(0.5, None), (2 / 3, None), (0.5, 0.1), (2 / 3, 0.1)]
    print("per trajectory: local dimension (median over 5000 rows) every 2000 iterations; residual share")
    print("at the cap; residual(i) / residual(i/2) at i = 8k, 16k, 32k and the cap; then each rule's")
    print("stop iteration/reading (f = since; r = residual must have fallen < 10 %)")
    agree = [0] * len(rules)
    for (name, seed, batch, lr), path in paths.items():
        by = {r["iteration"]: r for r in path}
        cap = path[-1]["iteration"]
        reads = " ".join(f"{by[i]['local']:g}" for i in sorted(by) if i % 2000 == 0)
        falls = " ".join(
            f"{by[i]['residual'] / by[i // 2]['residual']:.2f}"
            for i in (8000, 16000, 32000, cap)
            if i in by and i // 2 in by
        )
        stops = []
        for j, (since, flat) in enumerate(rules):
            r = _stop(path, since, flat)
            agree[j] += r["local"] == path[-1]["local"]
            stops.append(f"f={since:.2f}{' r' if flat else ''}: {r['iteration'] // 1000}k/{r['local']:g}")
        print(f"{name} seed {seed} batch {batch} lr {lr:g} (n = {path[0]['n']}): {reads}")
        print(f"    residual {path[-1]['residual']:.4f}; falls {falls}; " + "; ".join(stops))
    for j, (since, flat) in enumerate(rules):
        print(f"rule f = {since:.2f}{', residual < 10 %' if flat else ''}: reads what the cap reads on "
              f"{agree[j]} of {len(paths)}")


def main() -> None:
    if sys.argv[1:2] == ["--summary"]:
        summary(sys.argv[2:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", default="mlp")
    parser.add_argument("--only", default="")
    parser.add_argument("--map-seed", type=int, default=0)
    parser.add_argument("--latent", default="gaussian")
    parser.add_argument("--seeds", type=int, default=1, help="the first S of the estimate's 3 seeds")
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--probe", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=48_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.lr != 1e-3:
        import latentdim.models.vae as vae_module

        adam = vae_module.adam
        vae_module.adam = lambda params, lr: adam(params, lr=args.lr)
    only = set(filter(None, args.only.split(",")))
    est = VAEDimension()
    with open(args.out, "a") as out:
        for _group, name, n, x in datasets(args.groups.split(","), args.map_seed, args.latent):
            if only and name not in only:
                continue
            xs, seeds = prepared(np.asarray(x), est)
            m = min(est.auto_capacity, xs.shape[1])
            for seed in seeds[: args.seeds]:
                budget = (args.steps, args.batch, tuple(est.hidden), ())
                job = _Job(xs, "vae", "learned", m, (seed,), *budget, "cpu", est.kl_warmup)
                start = time.perf_counter()
                spent = [0.0]

                def read(i: int, model, xs=xs, name=name, n=n, seed=seed, start=start, spent=spent) -> bool:
                    if i % args.every:
                        return False
                    t0 = time.perf_counter()
                    member = model.member(0).eval()
                    rows = xs[:READING_ROWS]
                    residual = residual_share(member, rows[: args.probe])
                    local = _local_counts(member, rows, residual)[0]
                    row = {
                        "dataset": name,
                        "n": n,
                        "seed": seed,
                        "batch": args.batch,
                        "lr": args.lr,
                        "iteration": i,
                        "local": float(np.median(local)),
                        "probe": float(np.median(local[: args.probe])),
                        "units": variance_gap_count(member.posterior_variances(rows[: args.probe])),
                        "residual": residual,
                        "train_s": round(t0 - start - spent[0], 2),
                    }
                    spent[0] += time.perf_counter() - t0
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                    print(
                        f"{name} seed {seed} it {i}: local {row['local']} probe {row['probe']} "
                        f"units {row['units']} residual {residual:.5f}",
                        flush=True,
                    )
                    return False

                budget = TrainConfig(steps=args.steps, batch_size=args.batch)
                train_new(xs[None].copy(), job.config(), budget, [generators(seed)], "cpu", None, read)


if __name__ == "__main__":
    main()
