"""Training speed of every model on real MNIST with the convolutional nets, against an
earlier tree of latentdim and a plain PyTorch loop, measured in the same run.

Workload: the MNIST training images (60 000 x 784, pixels in [0, 1]), ``net = "conv"``
(two 4 x 4 stride-2 convolutions of 32 and 64 channels and a 256-256 MLP head, the
decoder mirrored), m = 64, batch 64, every model at its defaults, trained by
latentdim's own ``train()`` loop at K = 1 and at K = 3 (three seeds stacked).

* **this tree** and, with ``--baseline TREE``, an earlier checkout of latentdim (e.g.
  ``git worktree add /tmp/base <commit>``), each measured in a subprocess of its own
  with that tree first on ``sys.path``;
* **plain loop**: WAE-MMD's network written with ``nn.Conv2d`` / ``nn.ConvTranspose2d``
  / ``nn.Linear``, MSE + 10 IMQ-MMD (distances once, autograd through the sum over
  scales, as in tolstikhin/wae), Adam lr 1e-3 betas (0.5, 0.999), the same batch;
* **FLOP bound**: the floating-point operations of the model's iterations, counted with
  ``torch.utils.flop_counter``'s formulas over its whole step list (convolutions
  and matmuls, forward and backward; elementwise work, the optimisers and im2col are
  left out, so the bound is optimistic), at the rate of a 1024 x 1024 float32 matmul
  measured in the same process. "of bound" is the share of that rate a model reaches.

it/s are iterations (one pass through a model's step list) per second of ``train()``,
after ``--warmup`` iterations, not counting the model's construction. "K = 3 gain" is
three K = 1 runs' time over one K = 3 stack's. Run it alone: another load on the
machine lowers every figure.

    .venv/bin/python bench/conv_speed.py --data $LATENTDIM_DATA/mnist/train-images-idx3-ubyte.gz \\
        [--baseline /tmp/base] [--iters 40] [--warmup 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

MODELS = ("wae-mmd", "wae-gan", "maskaae", "flexae", "vae", "two-stage-vae")
STACKS = (1, 3)
LATENT, BATCH = 64, 64


def plain_wae_mmd(x, iters: int, warmup: int) -> float:
    """it/s of WAE-MMD on MNIST written as plain PyTorch (one model)."""
    import torch
    from throughput import textbook_mmd  # bench/throughput.py's MMD, as usually written
    from torch import nn

    torch.manual_seed(0)
    encoder = nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten(),
        nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, LATENT),
    )  # fmt: skip
    decoder = nn.Sequential(
        nn.Linear(LATENT, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 64 * 7 * 7),
        nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Flatten(),
    )  # fmt: skip
    params = [*encoder.parameters(), *decoder.parameters()]
    optimiser = torch.optim.Adam(params, lr=1e-3, betas=(0.5, 0.999))
    data = torch.as_tensor(x[: BATCH * (iters + warmup)])
    start = None
    for i in range(iters + warmup):
        if i == warmup:
            start = time.perf_counter()
        batch = data[i * BATCH : (i + 1) * BATCH]
        z = encoder(batch)
        loss = (decoder(z) - batch).pow(2).mean() + 10 * textbook_mmd(z, torch.randn_like(z))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return iters / (time.perf_counter() - start)


def matmul_rate() -> float:
    """FLOP/s of a 1024 x 1024 float32 matmul, best of 3 rounds."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        best = max(best, 10 * 2 * 1024**3 / (time.perf_counter() - start))
    return best


class FlopCount:
    """Counts the FLOPs of the aten calls in its block with ``torch.utils.flop_counter``'s
    formulas; no module tracking, whose hooks do not allow the gradient penalty's
    ``autograd.grad``."""

    def __enter__(self):
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_map
        from torch.utils.flop_counter import flop_registry

        count = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                formula = flop_registry.get(func._overloadpacket)
                if formula is not None:
                    shape = lambda t: t.shape if hasattr(t, "shape") else t  # noqa: E731
                    count.total += formula(*tree_map(shape, args), **tree_map(shape, kwargs), out_val=out)
                return out

        self.total, self.mode = 0, Mode()
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        self.mode.__exit__(*exc)


def worker(args) -> None:
    """Measure one tree; print one JSON object per line."""
    sys.path.insert(0, str(Path(args.worker).resolve()))
    import numpy as np
    import torch

    import latentdim
    from latentdim.config import ModelConfig, TrainConfig
    from latentdim.data.readers import image_shape_of, read_matrix
    from latentdim.models import build_model
    from latentdim.runs import generators
    from latentdim.training import train

    where = str(Path(latentdim.__file__).resolve().parent.parent)
    x = read_matrix(args.data)
    shape = image_shape_of(args.data, None)
    print(json.dumps({"tree": where, "rows": x.shape[0], "threads": torch.get_num_threads()}), flush=True)
    if args.plain:
        print(json.dumps({"model": "plain", "its": plain_wae_mmd(x, args.iters, args.warmup)}), flush=True)
        print(json.dumps({"model": "matmul", "flops": matmul_rate()}), flush=True)
    for name in args.models:
        config = ModelConfig(name, LATENT, x.shape[1], net="conv", image_shape=shape)
        for k in STACKS:
            gens = [generators(seed) for seed in range(k)]
            model = build_model(config, [g["model"] for g in gens])
            xs = torch.from_numpy(np.stack([x] * k))
            model.fit_normaliser(xs)
            xn = model.normalise(xs)
            steps = args.warmup + args.iters
            marks = {}

            def mark(i, marks=marks, steps=steps):
                if i in (args.warmup, steps):
                    marks[i] = time.perf_counter()

            train(model, xn, TrainConfig(steps=steps, batch_size=BATCH), [g["batches"] for g in gens], mark)
            its = args.iters / (marks[steps] - marks[args.warmup])
            flops = None
            if k == 1 and args.plain:  # one count per model: the tree does not change the work
                fresh = build_model(config, [generators(0)["model"]])
                fresh.fit_normaliser(xs)
                with FlopCount() as counter:
                    train(
                        fresh,
                        fresh.normalise(xs),
                        TrainConfig(steps=2, batch_size=BATCH),
                        [gens[0]["batches"]],
                    )
                flops = counter.total / 2
            print(json.dumps({"model": name, "stack": k, "its": its, "flops": flops}), flush=True)
            del model, xs, xn


def measure(tree: Path, args, plain: bool) -> list[dict]:
    command = [sys.executable, __file__, "--worker", str(tree), "--data", args.data]
    command += ["--iters", str(args.iters), "--warmup", str(args.warmup), "--models", *args.models]
    command += ["--plain"] if plain else []
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="MNIST train-images-idx3-ubyte(.gz)")
    parser.add_argument("--baseline", help="an earlier latentdim tree to measure beside this one")
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    here = Path(__file__).resolve().parent.parent
    ours = measure(here, args, plain=True)
    base = measure(Path(args.baseline), args, plain=False) if args.baseline else []
    info, plain, rate = ours[0], ours[1]["its"], ours[2]["flops"]
    ours_its = {(r["model"], r["stack"]): r for r in ours[3:]}
    base_its = {(r["model"], r["stack"]): r["its"] for r in base[1:]}
    print(
        f"{platform.processor() or platform.machine()}, torch threads {info['threads']}, "
        f"MNIST {info['rows']} x 784, conv nets, m = {LATENT}, batch {BATCH}, "
        f"{args.iters} iterations after {args.warmup}"
    )
    print(f"plain PyTorch WAE-MMD loop: {plain:.2f} it/s; matmul rate {rate / 1e9:.0f} GFLOP/s")
    if base:
        print(f"baseline tree: {base[0]['tree']}")
    columns = ("it/s", "vs base", "vs plain", "GFLOP/it", "of bound", "base it/s", "K = 3 gain")
    widths = (7, 8, 8, 8, 8, 9, 10)
    print(f"{'model':14s} {'K':>2s} " + " ".join(f"{c:>{w}s}" for c, w in zip(columns, widths, strict=True)))
    for name in args.models:
        flops = ours_its[(name, 1)]["flops"]
        for k in STACKS:
            its = ours_its[(name, k)]["its"]
            b = base_its.get((name, k))
            gain = f"{k * its / ours_its[(name, 1)]['its']:10.2f}" if k > 1 else f"{'':10s}"
            vs_base = f"{its / b:7.2f}x" if b else f"{'':8s}"
            bound = f"{k * flops * its / rate:8.1%}"
            base_text = f"{b:9.2f}" if b else f"{'':9s}"
            print(
                f"{name:14s} {k:2d} {its:7.2f} {vs_base} {its / plain:7.2f}x {k * flops / 1e9:8.2f} {bound} "
                f"{base_text} {gain}"
            )


if __name__ == "__main__":
    main()
