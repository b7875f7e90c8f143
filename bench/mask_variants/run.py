"""Run MaskAAE variant cells sequentially in one process, one thread (issue 10 part 2,
2026-11-27); append records to mask_variants.jsonl (and diag-*.json) in the working folder.

usage: python bench/mask_variants/run.py '<json list of cells>'
       cell = {"model": "x-proj100", "data": "n16-d128", "m": 32, "T": 3000, "seeds": [0], "diag": false}
"""

import json
import sys
import time
from pathlib import Path

import torch
import variants

from latentdim import runs
from latentdim.config import ModelConfig, TrainConfig
from latentdim.data import synthetic

torch.set_num_threads(1)
for register in (
    variants.register_all,
    variants.register_noise,
    variants.register_info,
    variants.register_ramp,
    variants.register_proj,
    variants.register_gate,
):
    register()

DATA = {}


def data(name):
    if name not in DATA:
        DATA[name] = synthetic.generate(
            synthetic.spec_from_recipe(
                str(Path(__file__).resolve().parents[2] / "synthetic" / f"{name}.toml")
            )
        )
    return DATA[name]


KEYS = ("active_dims", "recall", "precision", "latent_recovery", "scaled_fid", "nac", "recon_mse")
for cell in json.loads(sys.argv[1]):
    ds = data(cell["data"])
    seeds = cell.get("seeds", [0])
    cls = variants.MODELS[cell["model"]]
    cls.diag_on = cell.get("diag", False)
    mc = ModelConfig(model=cell["model"], latent_dim=cell["m"])
    tcs = [TrainConfig(steps=cell["T"], batch_size=64, seed=s, eval_samples=2000) for s in seeds]
    t0 = time.perf_counter()
    res = runs.fit_stack([ds.x] * len(seeds), mc, tcs, [runs.GroundTruth.of(ds)] * len(seeds))
    wall = time.perf_counter() - t0
    stack = variants.LAST[-1]
    for k, (s, r) in enumerate(zip(seeds, res, strict=True)):
        rec = {
            "model": cell["model"],
            "data": cell["data"],
            "n": ds.meta["spec"]["n"],
            "m": cell["m"],
            "T": cell["T"],
            "seed": s,
            "stack": len(seeds),
            "wall": wall,
        }
        if isinstance(r, Exception):
            rec["error"] = repr(r)
        else:
            rec.update({key: r.metrics.get(key) for key in KEYS})
            rec["mask"] = [round(a, 3) for a in r.metrics["mask"]]
            rec["train_seconds"] = r.timings["train_seconds"]
            rec["ms_per_it"] = 1000 * r.timings["train_seconds"] / cell["T"]
        with open("mask_variants.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
        if stack.diag_log:
            tag = f"{cell['model']}_{cell['data']}_m{cell['m']}_T{cell['T']}_s{s}"
            log = [
                {key: (v[k] if isinstance(v, list) else v) for key, v in row.items()}
                for row in stack.diag_log
            ]
            Path(f"diag-{tag}.json").write_text(json.dumps(log))
        print(
            json.dumps(
                {
                    k2: rec.get(k2)
                    for k2 in (
                        "model",
                        "data",
                        "m",
                        "T",
                        "seed",
                        "active_dims",
                        "recall",
                        "latent_recovery",
                        "scaled_fid",
                        "wall",
                        "ms_per_it",
                    )
                }
            ),
            flush=True,
        )
    variants.LAST.clear()
