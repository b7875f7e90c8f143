"""Evaluation on MNIST, phase by phase: 10 000 generated images against the 10 000
t10k images, the mnist-cnn features, every metric a run records.

A convolutional WAE-MMD (m = 64) trained for ``--steps`` iterations on the training
images is evaluated by :func:`latentdim.runs.evaluate` as a study cell is; then each
phase is timed again on its own, on the same arrays: sampling, the data-space Fréchet
distance (784-d covariances), the mnist-cnn features of both sets, the feature FID and
KID, encoding and the NAC, reconstruction, precision / recall / density / coverage and
the energy distance (one pass over the three distance matrices, ``prdc_energy``). The
feature network is trained first if it is not cached (that one-time cost is printed
apart). Run it alone; 2 threads unless ``--threads``.

    LATENTDIM_DATA=../shared/data .venv/bin/python bench/mnist_eval.py [--threads 2] [--steps 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from latentdim import metrics
from latentdim.config import ModelConfig, TrainConfig
from latentdim.data.readers import DATA_ROOT, image_shape_of, read_matrix
from latentdim.metrics.feature_nets import MNIST_FILES, mnist_cnn, mnist_dir
from latentdim.metrics.features import features, kid
from latentdim.runs import evaluate, generators, train_new


def timed(label: str, call, rows: list) -> object:
    start = time.perf_counter()
    value = call()
    rows.append((label, time.perf_counter() - start))
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200, help="training iterations before evaluating")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not os.environ.get(DATA_ROOT):
        raise SystemExit(f"set {DATA_ROOT} to the folder that holds mnist/")
    folder = mnist_dir()
    train_file, test_file = folder / MNIST_FILES["train_images"], folder / MNIST_FILES["test_images"]
    x, test = read_matrix(train_file), read_matrix(test_file)
    start = time.perf_counter()
    _, accuracy = mnist_cnn()
    network_seconds = time.perf_counter() - start

    config = ModelConfig("wae-mmd", 64, x.shape[1], net="conv", image_shape=image_shape_of(train_file))
    gens = generators(0)
    model, _ = train_new(x, config, TrainConfig(steps=args.steps, batch_size=64), gens)
    model = model.member(0)
    start = time.perf_counter()
    result = evaluate(model, test, generators(0)["eval"], None, 0, "mnist-cnn")
    total = time.perf_counter() - start

    rows: list[tuple[str, float]] = []
    generated = timed("sample 10 000", lambda: model.sample(test.shape[0], generators(0)["eval"]), rows)
    timed("data-space FID (784-d)", lambda: metrics.frechet_distance(generated, test), rows)
    real_f = timed("mnist-cnn features, test", lambda: features("mnist-cnn", test), rows)
    gen_f = timed("mnist-cnn features, generated", lambda: features("mnist-cnn", generated), rows)
    timed("feature FID (128-d)", lambda: metrics.frechet_distance(gen_f, real_f), rows)
    timed("KID (10 000 x 10 000 kernels)", lambda: kid(gen_f, real_f), rows)
    codes = timed("encode 10 000", lambda: model.encode(test), rows)
    timed("active dims + NAC", lambda: metrics.nac(codes, model.active_dims(codes)), rows)
    timed("reconstruct 10 000", lambda: model.reconstruct(test), rows)
    timed("precision/recall/density/coverage + energy", lambda: metrics.prdc_energy(test, generated), rows)

    print(
        f"# bench/mnist_eval.py: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} cores"
    )
    print(f"mnist-cnn: t10k accuracy {accuracy:.4f}; loaded or trained in {network_seconds:.1f} s")
    print(
        f"evaluate(): {total:.1f} s, {result['eval_samples']} generated against {test.shape[0]} test images "
        f"(FID {result['fid']:.2f}, KID {result['kid']:.4f} after {args.steps} iterations)"
    )
    print("phases, timed again one by one:")
    for label, seconds in rows:
        print(f"  {label:36s} {seconds:6.2f} s")
    print(f"  {'sum':36s} {sum(s for _, s in rows):6.2f} s")


if __name__ == "__main__":
    main()
