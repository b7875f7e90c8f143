"""Does a deeper network stop VAEDimension's overcount at n = 4?

At n = 4 the VAE (two 128-wide hidden layers) fits the synthetic MLP data to ~0.1 % of
their variance and reads 5 or 6: one or two extra units patch its decoder's small
systematic errors. If the errors are the network's, more layers should remove them.
VAEDimension (the package's defaults but ``hidden``; one process, one thread, seeds
stacked) on the MLP data (d = 128, 10 000 rows) of map seed MAP with latent law LAW.

    .venv/bin/python bench/vae_depth.py HIDDEN N[,N...] MAP LAW [SEEDS]
    # e.g. bench/vae_depth.py 128,128,128 4 1 gaussian 3

Results: ``bench/results/vae_depth.txt``.
"""

import sys
import time

import torch
from vae_lr import summary  # this folder's: the same line per fit

from latentdim import make_dataset
from latentdim.estimate import VAEDimension


def main():
    hidden = tuple(int(v) for v in sys.argv[1].split(","))
    ns = [int(v) for v in sys.argv[2].split(",")]
    map_seed, latent = int(sys.argv[3]), sys.argv[4]
    seeds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    torch.set_num_threads(1)
    for n in ns:
        x = make_dataset(n, 128, samples=10000, seed=map_seed, latent=latent).x
        start = time.time()
        est = VAEDimension(hidden=hidden, seeds=seeds, n_jobs=1).fit(x)
        contrast = est.result()["gap_contrast"]
        print(
            f"hidden {hidden} n={n} map={map_seed} {latent}: {summary(est)}, gap contrast {contrast:.3g}  "
            f"{time.time() - start:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
