"""Wall time of ``latentdim estimate`` on 10 000 x 128 rows, classical band included
(issue 14's target: 60 s on 2 cores), against another checkout in the same run.

Per n: makes the synthetic MLP data (d = 128, 10 000 rows, map seed 0), then runs
``python -m latentdim estimate FILE --json`` in a subprocess, first with this tree and
then, with ``--old-tree``, with that checkout (same data, same defaults of each tree);
prints each wall time (process start to exit: imports, training, band), each estimate,
and the ratio. Run it alone: side-by-side timings on this 2-core machine are off by up
to 3x.

    .venv/bin/python bench/estimate_speed.py [--ns 8] [--old-tree DIR] [--settle] [--jacobians]

``--settle`` also times this tree with ``latentdim estimate --settle`` (seeds in
rounds that stop once the median is settled).

``--jacobians`` also times the decoder Jacobians of the local dimension alone: 10 000
rows through a 64 -> 256 -> 256 -> 64 ReLU MLP decoder (and 128-wide), one thread,
:func:`latentdim.nn.layers.mlp_jacobians` against ``vmap``-ed ``torch.func.jacfwd`` (what
``VAE.local_precisions`` used before), with their largest difference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _estimate(tree: Path, path: Path, flags: tuple[str, ...] = ()) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "latentdim", "estimate", str(path), "--json", *flags],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, json.loads(out.stdout)


def _jacobians() -> None:
    import torch

    from latentdim.nn.layers import mlp, mlp_jacobians, reset_parameters

    torch.set_num_threads(1)
    for width in (256, 128):
        torch.manual_seed(0)
        net = mlp([64, width, width, 64])
        reset_parameters(net, [torch.Generator().manual_seed(0)])
        z = torch.randn(10_000, 64)

        def value(v, net=net):
            out = net(v[None, None])[0, 0]
            return out, out

        forward = torch.func.vmap(torch.func.jacfwd(value, has_aux=True))
        with torch.no_grad():
            start = time.perf_counter()
            old = torch.cat([forward(rows.clone())[0] for rows in torch.split(z, 1024)])
            old_s = time.perf_counter() - start
            start = time.perf_counter()
            new = torch.cat([mlp_jacobians(net, rows)[0] for rows in torch.split(z, 1024)])
            new_s = time.perf_counter() - start
        gap = float((new - old.mT).abs().max() / old.abs().max())
        print(
            f"jacobians, 10 000 rows, 64 -> {width} -> {width} -> 64: jacfwd {old_s:.2f} s, "
            f"mlp_jacobians {new_s:.2f} s, ratio {new_s / old_s:.2f}; "
            f"largest difference {gap:.1e} of the largest entry",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ns", default="8", help="latent dimensions n, comma-separated")
    parser.add_argument("--old-tree", type=Path, help="another checkout, timed in the same run")
    parser.add_argument("--jacobians", action="store_true")
    parser.add_argument("--settle", action="store_true", help="also time this tree with --settle")
    args = parser.parse_args()
    from latentdim import make_dataset

    here = Path(__file__).resolve().parent.parent
    print(f"{os.cpu_count()} cores; latentdim estimate FILE --json, defaults of each tree", flush=True)
    if args.jacobians:
        _jacobians()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(v) for v in args.ns.split(",")):
            path = Path(tmp) / f"mlp-n{n}.npy"
            np.save(path, make_dataset(n, 128, samples=10_000, seed=0).x)
            trees = [("this tree", here, ())]
            trees += [("this tree --settle", here, ("--settle",))] if args.settle else []
            trees += [("old tree", args.old_tree, ())] if args.old_tree else []
            walls = {}
            for label, tree, flags in trees:
                wall, result = _estimate(tree, path, flags)
                walls[label] = wall
                band = ", ".join(f"{k} {v['dimension']:.2f}" for k, v in result["baselines"].items())
                print(
                    f"n = {n}, {label}: {wall:.1f} s wall; estimate {result['dimension']:g} "
                    f"(seeds {result['per_seed']}); band {band}",
                    flush=True,
                )
            for label in walls if args.old_tree else ():
                if label != "old tree":
                    ratio = walls[label] / walls["old tree"]
                    print(f"n = {n}: ratio {label} / old {ratio:.2f}", flush=True)


if __name__ == "__main__":
    main()
