"""Scratch (2026-11-27, issue 10 part 2): MaskAAE whose decoder's first layer has
fixed-norm input columns (weight normalisation without a learned gain), so the decoder
cannot absorb a mask dim's scale there. Appends one JSON record per run.

usage: python bench/mask_variants/colnorm.py x-colnorm DATA M T SEED [OUT.jsonl]
"""

import json
import math
import sys
import time
from pathlib import Path

import torch

from latentdim import runs
from latentdim.config import ModelConfig, TrainConfig
from latentdim.data import synthetic
from latentdim.models import MODELS
from latentdim.models.maskaae import MaskAAE
from latentdim.nn.layers import StackedLinear, baddbmm

torch.set_num_threads(1)


class ColNormLinear(StackedLinear):
    """y = x (s V_i / ||V_i||) + b: input i's weights have the fixed norm s."""

    def forward(self, x):
        v = self.weight
        s = math.sqrt(self.out_features / (3.0 * self.in_features))
        w = v * (s / v.norm(dim=2, keepdim=True).clamp_min(1e-12))
        return baddbmm(self.bias.unsqueeze(1), x, w)


class ColNormMaskAAE(MaskAAE):
    name = "x-colnorm"

    def _build(self):
        super()._build()
        first = self.decoder[0]
        layer = ColNormLinear(self.stack, first.in_features, first.out_features)
        self.decoder[0] = layer


MODELS["x-colnorm"] = ColNormMaskAAE
variant, data, m, T, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
root = Path(__file__).resolve().parents[2]
if data.endswith(".npz"):
    ds = synthetic.load_dataset(data)
else:
    ds = synthetic.generate(synthetic.spec_from_recipe(root / "synthetic" / f"{data}.toml"))
mc = ModelConfig(model=variant, latent_dim=m)
tc = TrainConfig(steps=T, batch_size=64, seed=seed, eval_samples=2000)
t0 = time.perf_counter()
r = runs.fit(ds.x, mc, tc, runs.GroundTruth.of(ds))
wall = time.perf_counter() - t0
keys = ("active_dims", "recall", "precision", "latent_recovery", "scaled_fid", "nac", "recon_mse")
rec = {
    "variant": variant,
    "data": data,
    "n": ds.meta["spec"]["n"],
    "m": m,
    "T": T,
    "seed": seed,
    **{k: r.metrics.get(k) for k in keys},
    "mask": [round(a, 3) for a in r.model.mask_values().tolist()],
    "wall": round(wall),
}
print(json.dumps(rec))
with open(sys.argv[6] if len(sys.argv) > 6 else "colnorm.jsonl", "a") as f:
    f.write(json.dumps(rec) + "\n")
