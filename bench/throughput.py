"""Training throughput of the reference workload, against a plain PyTorch loop and a FLOP
bound, both measured in the same run.

Workload: ``make_dataset(8, 128, samples=20000, seed=0)``, WAE-MMD with a 128-256-256-16
encoder and mirrored decoder, batch 100, through latentdim's own ``train()`` loop, at
1 and 2 threads; MaskAAE iterations/s (defaults, batch 64) at 1 thread.

* plain loop: the same network shapes, loss (MSE + 10 IMQ-MMD), Adam lr 1e-3 and batch,
  written as simply as possible (pre-shuffled slices, zero_grad / backward / step), with
  the textbook MMD (distances once, autograd through the sum over scales, as in
  tolstikhin/wae) — not latentdim's, whose backward is written out;
* FLOP bound: training costs ~3 forward passes, so flops/sample = 2 * 3 * MACs of the
  encoder + decoder; the matmul rate is measured on the training matmuls of every layer
  at this batch (forward, grad-input, grad-weight shapes). The MMD's 2B x 2B kernel,
  activations, biases and the optimiser are left out, so the bound is optimistic.

Figures are best of ``--repeats``; another load on the machine lowers them.

    .venv/bin/python bench/throughput.py [--iters 2000] [--warmup 300] [--repeats 2]
"""

import argparse
import itertools
import os
import platform
import time
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from latentdim import make_dataset
from latentdim.config import ModelConfig, TrainConfig
from latentdim.models import build_model
from latentdim.nn.losses import IMQ_SCALES
from latentdim.runs import generators, split
from latentdim.training import train

BATCH = 100
MASK_BATCH = 64
WAE_CONFIG = ModelConfig("wae-mmd", 16, 128, hidden=(256, 256))
MASK_CONFIG = ModelConfig("maskaae", 16, 128)


def layer_sizes(config: ModelConfig) -> tuple[list[int], list[int]]:
    """Widths of the encoder and decoder of ``config``."""
    encoder = [config.data_dim, *config.hidden, config.latent_dim]
    return encoder, encoder[::-1]


def macs_per_sample(config: ModelConfig) -> int:
    """Multiply-adds of one forward pass of encoder + decoder: sum of fan_in * fan_out."""
    return sum(a * b for sizes in layer_sizes(config) for a, b in itertools.pairwise(sizes))


def training_data(x: np.ndarray, config: TrainConfig) -> torch.Tensor:
    """The normalised training rows, prepared as ``latentdim.runs.fit`` prepares them."""
    x_train, _ = split(np.asarray(x, dtype=np.float32), config.holdout, generators(config.seed)["split"])
    model = build_model(replace(WAE_CONFIG, data_dim=x.shape[1]))
    x_train_t = torch.from_numpy(np.ascontiguousarray(x_train))
    model.fit_normaliser(x_train_t)
    return model.normalise(x_train_t)


def time_train(config: ModelConfig, xn: torch.Tensor, batch: int, warmup: int, iters: int) -> float:
    """Seconds for ``iters`` iterations of ``train()`` on a fresh model, after ``warmup``."""
    gens = generators(0)
    model = build_model(config, gens["model"])
    train(model, xn, TrainConfig(steps=warmup, batch_size=batch), gens["batches"])
    start = time.perf_counter()
    train(model, xn, TrainConfig(steps=iters, batch_size=batch), gens["batches"])
    return time.perf_counter() - start


def plain_mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def textbook_mmd(codes: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """The IMQ-MMD U-statistic as usually written: one distance matrix, autograd."""
    b, m = codes.shape
    a = torch.cat([codes, prior])
    sq = (a * a).sum(dim=1)
    dist = (sq[:, None] + sq[None, :] - 2.0 * a @ a.T).clamp_min(0.0)
    kernel = sum(2.0 * m * s / (2.0 * m * s + dist) for s in IMQ_SCALES)
    within = kernel[:b, :b].sum() + kernel[b:, b:].sum() - kernel.diagonal().sum()
    return within / (b * (b - 1)) - 2.0 * kernel[:b, b:].sum() / (b * b)


def time_plain(xn: torch.Tensor, batch: int, warmup: int, iters: int) -> float:
    """Seconds for ``iters`` updates of the simplest WAE-MMD loop, after ``warmup``."""
    torch.manual_seed(0)
    encoder_sizes, decoder_sizes = layer_sizes(WAE_CONFIG)
    encoder, decoder = plain_mlp(encoder_sizes), plain_mlp(decoder_sizes)
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=1e-3, betas=(0.5, 0.999))
    n = xn.shape[0] // batch
    batches = xn[torch.randperm(xn.shape[0])][: n * batch].reshape(n, batch, -1)
    latent = WAE_CONFIG.latent_dim

    def run(count: int) -> None:
        for i in range(count):
            x = batches[i % n]
            codes = encoder(x)
            loss = (decoder(codes) - x).pow(2).mean() + 10.0 * textbook_mmd(codes, torch.randn(batch, latent))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    run(warmup)
    start = time.perf_counter()
    run(iters)
    return time.perf_counter() - start


def matmul_rate(shapes: list[tuple[int, int, int]], reps: int) -> float:
    """FLOP/s of ``reps`` passes over (p x q) @ (q x r) products, outputs preallocated."""
    operands = [(torch.randn(p, q), torch.randn(q, r), torch.empty(p, r)) for p, q, r in shapes]
    flops = 2.0 * reps * sum(p * q * r for p, q, r in shapes)
    for a, b, out in operands * 10:
        torch.mm(a, b, out=out)
    start = time.perf_counter()
    for _ in range(reps):
        for a, b, out in operands:
            torch.mm(a, b, out=out)
    return flops / (time.perf_counter() - start)


def training_matmuls(config: ModelConfig, batch: int) -> list[tuple[int, int, int]]:
    """(p, q, r) of the forward, grad-input and grad-weight products of every Linear layer."""
    shapes = []
    for sizes in layer_sizes(config):
        for a, b in itertools.pairwise(sizes):
            shapes += [(batch, a, b), (batch, b, a), (b, batch, a)]
    return shapes


def best(repeats: int, fn) -> float:
    return min(fn() for _ in range(repeats))


def interleaved(repeats: int, first, second) -> tuple[list[float], list[float]]:
    """Times of ``repeats`` calls of each function, alternating which goes first, so a
    passing load on the machine hits both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for r in range(repeats):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for i in order:
            times[i].append((first, second)[i]())
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=2000, help="timed WAE-MMD iterations")
    parser.add_argument("--warmup", type=int, default=300, help="WAE-MMD warm-up iterations")
    parser.add_argument("--mask-iters", type=int, default=300, help="timed MaskAAE iterations")
    parser.add_argument("--mask-warmup", type=int, default=50, help="MaskAAE warm-up iterations")
    parser.add_argument("--matmul-reps", type=int, default=500, help="passes over the training matmuls")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many measurements")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to measure")
    args = parser.parse_args()

    default_threads = torch.get_num_threads()
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}; "
        f"{os.cpu_count()} cpus, torch default {default_threads} threads, "
        f"interop {torch.get_num_interop_threads()}"
    )
    data = make_dataset(8, 128, samples=20000, seed=0)
    xn = training_data(data.x, TrainConfig())
    encoder_sizes, decoder_sizes = layer_sizes(WAE_CONFIG)
    macs = macs_per_sample(WAE_CONFIG)
    flops = 2 * 3 * macs
    print(
        f"WAE-MMD, encoder {'-'.join(map(str, encoder_sizes))}, decoder {'-'.join(map(str, decoder_sizes))}, "
        f"batch {BATCH}, {xn.shape[0]} training rows; {args.iters} timed iterations after {args.warmup}"
    )
    print(f"  forward {macs} MACs/sample; training ~ 2 x 3 x MACs = {flops / 1e6:.3f} MFLOP/sample")
    square = [(BATCH, 256, 256)]
    shapes = training_matmuls(WAE_CONFIG, BATCH)
    for threads in args.threads:
        torch.set_num_threads(threads)
        square_rate = max(matmul_rate(square, args.matmul_reps * 10) for _ in range(args.repeats))
        rate = max(matmul_rate(shapes, args.matmul_reps) for _ in range(args.repeats))
        t_plain, t_ours = interleaved(
            args.repeats,
            lambda: time_plain(xn, BATCH, args.warmup, args.iters),
            lambda: time_train(WAE_CONFIG, xn, BATCH, args.warmup, args.iters),
        )
        plain = args.iters * BATCH / min(t_plain)
        ours = args.iters * BATCH / min(t_ours)
        bound = rate / flops
        print(f"\n  1 process x {torch.get_num_threads()} thread(s)")
        print(f"    matmul ({BATCH}x256)@(256x256)        {square_rate / 1e9:8.1f} GFLOP/s")
        print(f"    training matmuls, all layers   {rate / 1e9:8.1f} GFLOP/s")
        print(f"    FLOP bound                     {bound:8.0f} samples/s")
        print(
            f"    plain PyTorch loop             {plain:8.0f} samples/s  ({plain / bound:.1%} of bound; "
            f"worst run {args.iters * BATCH / max(t_plain):.0f})"
        )
        print(
            f"    latentdim train()              {ours:8.0f} samples/s  "
            f"({ours / plain:.2f}x plain loop, {ours / bound:.1%} of bound; "
            f"worst run {args.iters * BATCH / max(t_ours):.0f})"
        )

    torch.set_num_threads(1)
    t_mask = best(
        args.repeats, lambda: time_train(MASK_CONFIG, xn, MASK_BATCH, args.mask_warmup, args.mask_iters)
    )
    print(
        f"\nMaskAAE (defaults, critic {'-'.join(map(str, MASK_CONFIG.critic_hidden))}), batch {MASK_BATCH}, "
        f"1 thread; {args.mask_iters} timed iterations after {args.mask_warmup}"
    )
    print(
        f"  latentdim train()  {args.mask_iters / t_mask:8.1f} iterations/s  "
        f"({1e3 * t_mask / args.mask_iters:.2f} ms; 1 AE + 5 critic + 1 encoder + 1 mask update each)"
    )
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
