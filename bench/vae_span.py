"""Does training on the span of the rows help on data the change was not built on?

VAEDimension (one seed, one process, one thread, 48 000 iterations) on synthetic MLP
data from a third map seed (2) with uniform latents, n = 8 and 16, d = 128, 10 000
rows: trained on the rows' span (``span``, the package's default) or on the
standardised columns (``columns``, the behaviour before the span).

    .venv/bin/python bench/vae_span.py span|columns

Results: ``bench/results/vae_span.txt``.
"""

import sys
import time

import torch

from latentdim import make_dataset
from latentdim.estimate import VAEDimension


def main():
    span = sys.argv[1] == "span"
    VAEDimension.affine_span = span
    torch.set_num_threads(1)
    for n in (8, 16):
        x = make_dataset(n, 128, samples=10000, seed=2, latent="uniform").x
        start = time.time()
        est = VAEDimension(seeds=1, n_jobs=1).fit(x)
        print(
            f"{sys.argv[1]} n={n} map seed 2, uniform z: rank {est.rank_} units {est.latent_counts_} "
            f"estimate {est.dimension_:g} residual {est.residuals_[0]:.3g} {time.time() - start:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
