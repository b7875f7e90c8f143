"""Cost of one training iteration of the estimate's VAE (learned gamma, 64 -> 128 -> 128
-> 64, batch 64, one thread), eager against ``torch.compile`` of its loss and against
Adam with ``fused=True``, at K = 1 and K = 2 stacked members; 200 warm-up iterations,
then 1500 timed. Issue 27's "faster step" candidates; "eager again" repeats the
baseline in the same run, so its ratio is the run's own noise.

    .venv/bin/python bench/vae_step.py
"""

import time

import numpy as np
import torch

from latentdim import make_dataset
from latentdim.config import ModelConfig
from latentdim.models import build_model
from latentdim.training import Minibatches

torch.set_num_threads(1)
x = make_dataset(8, 64, samples=10000, seed=0).x.astype(np.float32)
x = (x - x.mean(0)) / x.std(0)


def run(K, compiled, fused, iters=1500):
    cfg = ModelConfig("vae", 64, 64, (128, 128), likelihood="learned", kl_warmup=0.005)
    model = build_model(cfg, [torch.Generator().manual_seed(s) for s in range(K)])
    xs = torch.from_numpy(np.repeat(x[None], K, 0))
    model.fit_normaliser(xs)
    xn = model.normalise(xs)
    (step,) = model.make_steps(48000)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused) if fused is not None else step.optimizer
    loss = torch.compile(step.loss) if compiled else step.loss
    batches = Minibatches(xn, 64, [torch.Generator().manual_seed(s) for s in range(K)])
    model.train()
    model.kl_weight = 1.0
    for i in range(iters + 200):
        if i == 200:
            start = time.perf_counter()
        out = loss(batches.next())
        opt.zero_grad(set_to_none=True)
        out["loss"].sum().backward()
        opt.step()
    return (time.perf_counter() - start) / iters * 1e3


for K in (1, 2):
    base = run(K, False, None)
    variants = (
        ("eager again", False, None),
        ("fused Adam", False, True),
        ("compiled loss", True, None),
        ("compiled + fused", True, True),
    )
    for name, c, f in variants:
        try:
            v = run(K, c, f)
            print(f"K={K}: eager {base:.3f} ms/it; {name} {v:.3f} ms/it, ratio {v / base:.2f}", flush=True)
        except Exception as e:
            print(f"K={K}: {name} failed: {type(e).__name__}: {str(e).splitlines()[0][:150]}", flush=True)
