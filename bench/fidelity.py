"""Does MaskAAE find the true latent dimension? Figures for the models issue.

On synthetic n in {8, 16, 32}, d = 128 (20k points): MaskAAE and WAE-MMD at m = 2n —
active dims, NAC, scaled FID, the energy coefficient, precision/recall, the
ground-truth manifold metrics, wall time — against the slides (n = 8: MaskAAE 9 active
dims, NAC 0.030, WAE NAC 0.040; n = 16: 16 active, NAC 0.013 against 0.031). Also the
easy case n = 2, d = 16, m = 6 (expected <= 3 active dims). Beside MaskAAE's mask count,
the learned-variance VAE's active units and its ``posterior_dims`` (Dai & Wipf 2019
claim n as gamma -> 0; ``vae-learned``). Prints measurements; it asserts nothing.

    .venv/bin/python bench/fidelity.py [--steps 3000] [--seeds 0,1] [--n 8,16,32]
        [--models maskaae,wae-mmd,vae-learned]
"""

import argparse
import time

import numpy as np
import torch

from latentdim import make_dataset
from latentdim.config import ModelConfig, TrainConfig
from latentdim.runs import GroundTruth, fit

CONFIGS = {
    "maskaae": {"model": "maskaae"},
    "wae-mmd": {"model": "wae-mmd"},
    "vae-learned": {"model": "vae", "likelihood": "learned"},
}


def run(dataset, config, steps, seed):
    start = time.perf_counter()
    train = TrainConfig(steps=steps, seed=seed, log_every=max(1, steps // 20), eval_samples=2000)
    result = fit(dataset.x, config, train, GroundTruth.of(dataset))
    return result, time.perf_counter() - start


def report(label, result, seconds):
    m = result.metrics
    nac = "  n/a" if m["nac"] is None else f"{m['nac']:.3f}"
    mask = "" if m["mask"] is None else "  mask " + " ".join(f"{a:.2f}" for a in m["mask"])
    posterior = "" if m.get("posterior_dims") is None else f" (posterior {m['posterior_dims']})"
    print(
        f"{label:34s} active {m['active_dims']:3d}{posterior}  NAC {nac}  scaled FID {m['scaled_fid']:.4f}"
        f"  energy {m['energy']:.4f}  P {m['precision']:.2f} R {m['recall']:.2f}"
        f"  manifold err {m['manifold_error']:.3f} (recon {m['recon_manifold_error']:.3f})"
        f"  off {m['off_manifold']:.2f}  latent R2 {m['latent_recovery']:.3f}"
        f"  recon {m['recon_mse']:.2e}  {seconds:6.1f} s{mask}",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--n", default="8,16,32", help="true dimensions (m = 2n)")
    parser.add_argument("--models", default="maskaae,wae-mmd,vae-learned", help=", ".join(CONFIGS))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(1)

    print(f"torch {torch.__version__}, 1 thread, {args.steps} iterations per run, 2000 evaluation points")
    for n in (int(v) for v in args.n.split(",")):
        data = make_dataset(n, 128, samples=20000, seed=0)
        for seed in seeds:
            for model in args.models.split(","):
                result, seconds = run(data, ModelConfig(latent_dim=2 * n, **CONFIGS[model]), args.steps, seed)
                gamma = result.history.rows[-1].get("vae_gamma")
                extra = "" if gamma is None else f" (gamma {gamma:.2g})"
                report(f"n={n} d=128 m={2 * n} {model} seed {seed}{extra}", result, seconds)

    if "maskaae" not in args.models.split(","):
        return
    easy = make_dataset(2, 16, samples=3000, seed=0)
    small = {"hidden": (64, 64), "critic_hidden": (64, 64)}
    actives = []
    for seed in seeds:
        result, seconds = run(easy, ModelConfig("maskaae", 6, **small), args.steps // 2, seed)
        report(f"n=2 d=16 m=6 maskaae seed {seed}", result, seconds)
        actives.append(result.metrics["active_dims"])
    print(f"easy case: active dims {actives} (expected <= 3); median {np.median(actives):g}")


if __name__ == "__main__":
    main()
