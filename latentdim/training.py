"""One training loop for every model, driven by the model's list of steps."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from latentdim.autoencoder import AutoEncoder
from latentdim.errors import LatentdimError


@dataclass(frozen=True)
class TrainConfig:
    """Training budget and bookkeeping.

    ``steps`` counts iterations (one pass through the model's step list: one update
    for WAE-MMD, 1 + 5 + 1 for WAE-GAN, 1 + 5 + 1 + 1 for MaskAAE). ``holdout`` is the
    fraction of data kept for evaluation; ``eval_samples`` caps the evaluation count N
    (the Fréchet distance's bias is O(1/N), so compare runs at equal N).
    ``recovery_steps`` trains the latent-recovery regressor of the evaluation (synthetic
    data only; 0 skips that metric).
    """

    steps: int = 3000
    batch_size: int = 64
    seed: int = 0
    holdout: float = 0.1
    eval_samples: int = 10000
    log_every: int = 50
    diverge_at: float = 1e6
    recovery_steps: int = 1000

    def __post_init__(self) -> None:
        problems = [
            (self.steps < 1, f"steps must be >= 1, got {self.steps}"),
            (self.batch_size < 2, f"batch size must be >= 2, got {self.batch_size}"),
            (self.seed < 0, f"seed must be >= 0, got {self.seed}"),
            (not 0 < self.holdout < 1, f"holdout must be in (0, 1), got {self.holdout}"),
            (self.eval_samples < 2, f"eval samples must be >= 2, got {self.eval_samples}"),
            (self.log_every < 1, f"log_every must be >= 1, got {self.log_every}"),
            (self.recovery_steps < 0, f"recovery_steps must be >= 0, got {self.recovery_steps}"),
        ]
        for bad, message in problems:
            if bad:
                raise LatentdimError(message)

    def to_dict(self) -> dict:
        return asdict(self)


class DivergenceError(RuntimeError):
    """A loss became non-finite or exceeded the divergence threshold."""

    def __init__(self, iteration: int, name: str, value: float):
        self.iteration, self.name, self.value = iteration, name, value
        super().__init__(f"training diverged at iteration {iteration}: {name} = {value:.4g}")


class Minibatches:
    """Fresh minibatches: consecutive slices of a per-epoch permutation of the rows."""

    def __init__(self, x: torch.Tensor, batch_size: int, generator: torch.Generator):
        if x.shape[0] < batch_size:
            raise LatentdimError(f"batch size {batch_size} exceeds the {x.shape[0]} training rows")
        self.x, self.batch_size, self.generator = x, batch_size, generator
        self._epoch, self._pos = x, x.shape[0]

    def next(self) -> torch.Tensor:
        if self._pos + self.batch_size > self._epoch.shape[0]:
            self._epoch = self.x[torch.randperm(self.x.shape[0], generator=self.generator)]
            self._pos = 0
        batch = self._epoch[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        return batch


@dataclass
class History:
    """Per logged iteration: the mean of every loss since the last log, and schedules."""

    rows: list[dict]

    def to_csv(self) -> str:
        columns = list(dict.fromkeys(k for row in self.rows for k in row))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()

    def column(self, name: str) -> np.ndarray:
        return np.array([row[name] for row in self.rows], dtype=np.float64)


def train(
    model: AutoEncoder, xn: torch.Tensor, config: TrainConfig, generator: torch.Generator
) -> History:
    """Train ``model`` on normalised rows ``xn``; raise :class:`DivergenceError` when a
    logged loss is non-finite or larger than ``config.diverge_at``.

    Each update uses a fresh minibatch. During a step, only the parameters its
    optimiser owns require gradients, so no step pays for gradients it discards.
    """
    steps = model.make_steps(config.steps)
    params = list(model.parameters())
    owned = [{id(p) for g in s.optimizer.param_groups for p in g["params"]} for s in steps]
    batches = Minibatches(xn, config.batch_size, generator)
    model.train()
    rows: list[dict] = []
    sums: dict[str, torch.Tensor] = {}
    count = 0
    for iteration in range(config.steps):
        scheduled = model.schedule(iteration, config.steps, steps)
        for step, own in zip(steps, owned, strict=True):
            if len(steps) > 1:
                for p in params:
                    p.requires_grad_(id(p) in own)
            for _ in range(step.repeats):
                losses = step.loss(batches.next())
                step.optimizer.zero_grad(set_to_none=True)
                losses["loss"].backward()
                step.optimizer.step()
                if step.after is not None:
                    step.after()
            for key, value in losses.items():
                name = f"{step.name}_{key}"
                sums[name] = sums[name] + value.detach() if name in sums else value.detach()
        count += 1
        if (iteration + 1) % config.log_every == 0 or iteration + 1 == config.steps:
            values = dict(zip(sums, (torch.stack(list(sums.values())) / count).tolist(), strict=True))
            for name, value in values.items():
                if not math.isfinite(value) or abs(value) > config.diverge_at:
                    raise DivergenceError(iteration + 1, name, value)
            row = {"step": iteration + 1, **values, **scheduled}
            mask = model.latent_mask()
            if mask is not None:
                row.update({f"mask_{i}": a for i, a in enumerate(mask.detach().tolist())})
            rows.append(row)
            sums, count = {}, 0
    for p in params:
        p.requires_grad_(True)
    model.eval()
    return History(rows)
