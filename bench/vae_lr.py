"""Does a learning-rate schedule let VAEDimension read n in fewer iterations?

One seed (the first of the estimator's default three; ``SEEDS`` of them, stacked, when
given), one process, one thread, on
the synthetic MLP data (d = 128, 10 000 rows). The schedule is patched into
``VAE.schedule`` for this run only (the package trains at a constant 1e-3):

* ``const``: 1e-3 (the package's);
* ``cos``: 1e-3, cosine decay to 0 over the run;
* ``hi``: 3e-3, constant;
* ``step``: 1e-3, then 1e-4 over the last quarter.

    .venv/bin/python bench/vae_lr.py SCHEDULE STEPS N[,N...] [MAP_SEED] [SEEDS]

Prints the units in use, the estimate and the residual per n. Results:
``bench/results/vae_lr.txt``.
"""

import math
import sys
import time

import torch

from latentdim import make_dataset
from latentdim.estimate import VAEDimension
from latentdim.models import vae

RATES = {
    "const": lambda t: 1e-3,
    "cos": lambda t: 1e-3 * 0.5 * (1 + math.cos(math.pi * t)),
    "hi": lambda t: 3e-3,
    "step": lambda t: 1e-3 if t < 0.75 else 1e-4,
}


def summary(est: VAEDimension) -> str:
    """A fitted estimator's units in use, estimate, per-seed estimates and residuals."""
    residuals = " ".join(f"{r:.3g}" for r in est.residuals_)
    per_seed = " ".join(f"{e:g}" for e in est.per_seed_)
    return (
        f"units {est.latent_counts_} estimate {est.dimension_:g} (per seed {per_seed}) residual {residuals}"
    )


def main():
    name, steps, ns = sys.argv[1], int(sys.argv[2]), [int(v) for v in sys.argv[3].split(",")]
    map_seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    seeds = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    rate = RATES[name]
    package_schedule = vae.VAE.schedule

    def schedule(self, iteration, total_steps, steps_):
        logged = package_schedule(self, iteration, total_steps, steps_)
        for group in steps_[0].optimizer.param_groups:
            group["lr"] = rate(iteration / total_steps)
        return logged

    vae.VAE.schedule = schedule
    torch.set_num_threads(1)
    for n in ns:
        x = make_dataset(n, 128, samples=10000, seed=map_seed).x
        start = time.time()
        est = VAEDimension(seeds=seeds, n_jobs=1, steps=steps).fit(x)
        print(f"{name} {steps} n={n} map={map_seed} {summary(est)}  {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
