"""Time to make 100k x 128 synthetic data (n = 16), against a floor measured in the same run.

The floor draws the same number of Gaussian latents and applies the same matmuls with
no activation, biases, rescaling or float32 cast: the least any generator must do.

    .venv/bin/python bench/make_data.py [--samples 100000] [--repeats 3]
"""

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np

from latentdim import SyntheticSpec, generate


def best_of(repeats, fn):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    spec = SyntheticSpec(n=16, d=128, samples=args.samples, seed=0)
    widths = spec.widths

    def floor():
        rng = np.random.default_rng(0)
        h = rng.standard_normal((spec.samples, spec.n))
        for a, b in itertools.pairwise(widths):
            h = h @ rng.standard_normal((b, a)).T

    t_floor = best_of(args.repeats, floor)
    t_generate = best_of(args.repeats, lambda: generate(spec))
    dataset = generate(spec)
    with tempfile.TemporaryDirectory() as tmp:
        t_save = best_of(args.repeats, lambda: dataset.save(Path(tmp) / "d.npz", force=True))
    print(f"make {spec.samples} x {spec.d} (n = {spec.n}, map {' -> '.join(map(str, widths))})")
    print(f"  floor (latents + bare matmuls) {t_floor:8.3f} s")
    ratio = t_generate / t_floor
    print(f"  generate                       {t_generate:8.3f} s  ({ratio:.2f}x floor)")
    print(f"  save .npz                      {t_save:8.3f} s")
    print(f"  generate + save                {t_generate + t_save:8.3f} s")


if __name__ == "__main__":
    main()
