"""The band's local PCA in batches (``latentdim.estimate._lpca_pointwise``) against
scikit-dimension's ``lPCA().fit_pw`` (100 neighbours, ``ver="FO"``): the pointwise
estimates must be the same row for row; and the time of each, one thread, in the same
run.

Datasets: the 24 ``skdim.datasets.BenchmarkManifolds`` (2500 points each), and the
synthetic MLP data (d = 128, 10 000 rows) at n = 4 and 32 on map seeds 0 and 1
(Gaussian latents) and 2 (uniform latents), each standardised as the band reads it.
Run it alone.

    .venv/bin/python bench/lpca_batched.py [--groups manifolds,mlp]
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from latentdim import make_dataset
from latentdim.estimate import _lpca_pointwise, standardise


def datasets(groups: list[str]):
    if "manifolds" in groups:
        import skdim

        for name, x in skdim.datasets.BenchmarkManifolds(random_state=0).generate(n=2500).items():
            yield name, np.asarray(x)
    if "mlp" in groups:
        for seed, latent in ((0, "gaussian"), (1, "gaussian"), (2, "uniform")):
            for n in (4, 32):
                x = make_dataset(n, 128, samples=10000, seed=seed, latent=latent).x
                yield f"mlp n={n} map {seed} {latent}", x


def main():
    import skdim

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", default="manifolds,mlp")
    args = parser.parse_args()
    totals = np.zeros(2)
    differing = 0
    with threadpool_limits(limits=1):
        for name, x in datasets(args.groups.split(",")):
            xs = standardise(x)[0].astype(np.float64)
            start = time.perf_counter()
            reference = skdim.id.lPCA().fit_pw(xs, n_neighbors=min(100, xs.shape[0] - 1)).dimension_pw_
            middle = time.perf_counter()
            batched = _lpca_pointwise(xs)
            end = time.perf_counter()
            seconds = np.array([middle - start, end - middle])
            totals += seconds
            differing += int((batched != reference).sum())
            print(
                f"{name}: {xs.shape[0]} x {xs.shape[1]}, rows differing {(batched != reference).sum()}, "
                f"mean {reference.mean():.3f} / {batched.mean():.3f}; skdim {seconds[0]:.2f} s, "
                f"batched {seconds[1]:.2f} s, ratio {seconds[1] / seconds[0]:.2f}",
                flush=True,
            )
    print(
        f"all: rows differing {differing}; skdim {totals[0]:.1f} s, batched {totals[1]:.1f} s, "
        f"ratio {totals[1] / totals[0]:.2f}"
    )


if __name__ == "__main__":
    main()
