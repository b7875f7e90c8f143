"""One training loop for every model, driven by the model's list of steps; the stacked
engine.

Every model is a stack of K >= 1 members of one shape (:class:`AutoEncoder`): weights
with a leading member axis, batched matmuls, losses as K-vectors, whose sum one
backward pass turns into each member's own gradient, and one optimiser update over the
stack. Each member has its own initialisation, minibatch stream and prior draws, taken
from its own generators in the order a lone run takes them. On the CPU (one thread) a
member's trajectory is therefore bit for bit the one it has alone, at any K
(``tests/test_stacking.py`` checks K = 1, 2, 8 for every model). Two kernels would
break that and are avoided: PyTorch's fused CPU Adam where a parameter's size leaves
elements in its scalar tail (:func:`latentdim.nn.autoencoder.adam`), and CPU bmm with a
dimension of 1 (a matrix-vector path taken for K = 1 only;
:func:`latentdim.nn.layers.bmm`). On a GPU, kernels may sum in another order for another
K, so a member agrees with its lone run to rounding, not bit for bit.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from latentdim.config import TrainConfig
from latentdim.errors import DivergenceError, LatentdimError
from latentdim.nn.autoencoder import AutoEncoder


class Minibatches:
    """Fresh minibatches for each member of a stack: consecutive slices of a per-epoch
    permutation of its rows, drawn with its own generator (on the CPU, so a member's
    batches do not depend on the device or on the other members)."""

    def __init__(self, x: torch.Tensor, batch_size: int, generators: Sequence[torch.Generator]):
        if x.shape[1] < batch_size:
            raise LatentdimError(f"batch size {batch_size} exceeds the {x.shape[1]} training rows")
        self.x, self.batch_size, self.generators = x, batch_size, list(generators)
        self._members = torch.arange(x.shape[0], device=x.device)[:, None]
        self._epoch, self._pos = x, x.shape[1]

    def next(self) -> torch.Tensor:
        """(K, B, d): the next batch of every member (a view of this epoch's permuted copy)."""
        rows = self.x.shape[1]
        if self._pos + self.batch_size > rows:
            orders = torch.stack([torch.randperm(rows, generator=g) for g in self.generators])
            self._epoch, self._pos = self.x[self._members, orders.to(self.x.device)], 0
        batch = self._epoch[:, self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        return batch


@dataclass
class History:
    """Per logged iteration: the mean of every loss since the last log, and schedules.
    ``error`` is set when the member diverged (its rows stop there)."""

    rows: list[dict]
    error: DivergenceError | None = None

    def to_csv(self) -> str:
        columns = list(dict.fromkeys(k for row in self.rows for k in row))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()

    def column(self, name: str) -> np.ndarray:
        return np.array([row[name] for row in self.rows], dtype=np.float64)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA when a GPU is present, else the CPU; ``cpu``; ``cuda`` (or
    ``cuda:N``), which must be present."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(name)
    except RuntimeError:
        raise LatentdimError(f"unknown device {name!r} (choose auto, cpu or cuda)") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise LatentdimError(
            f"device {name!r} asked for, but this torch {torch.__version__} sees no CUDA GPU"
        )
    if resolved.type not in ("cpu", "cuda"):
        raise LatentdimError(f"unsupported device {name!r} (choose auto, cpu or cuda)")
    return resolved


def train(
    model: AutoEncoder,
    xn: torch.Tensor,
    config: TrainConfig,
    generators: Sequence[torch.Generator],
    on_iteration: Callable[[int, dict | None], None] | None = None,
    until: Callable[[int, AutoEncoder], bool] | None = None,
) -> list[History]:
    """Train the K members of ``model`` on their normalised rows ``xn`` (K, N, d), member
    k's minibatches drawn with ``generators[k]``; return one :class:`History` per member.
    ``on_iteration(i, row)`` is called after iteration i (1-based) of the stack, with
    member 0's latest logged row of losses (None before the first log): progress.
    ``until(i, model)``, when given, is called after iteration i too; True ends the
    training there (the schedule stays that of the whole budget, so the members are
    exactly those of the full run at iteration i: a budget cut short, not a shorter one).

    The members' losses are summed, so one backward pass gives each member exactly the
    gradient it would get alone, and each optimiser update is elementwise. A member
    whose logged loss is non-finite or larger than ``config.diverge_at`` is marked
    diverged (its history's ``error``); the others go on, and training stops early
    when none is left. Each update uses a fresh minibatch. During a step, only the
    parameters its optimiser owns require gradients, so no step pays for gradients it
    discards.
    """
    total = model.config.iterations(config.steps)
    steps = model.make_steps(total)
    params = list(model.parameters())
    owned = [{id(p) for g in s.optimizer.param_groups for p in g["params"]} for s in steps]
    batches = Minibatches(xn, config.batch_size, generators)
    model.train()
    rows: list[list[dict]] = [[] for _ in range(model.stack)]
    errors: dict[int, DivergenceError] = {}
    sums: dict[str, torch.Tensor] = {}
    count = 0
    for iteration in range(total):
        scheduled = model.schedule(iteration, total, steps)
        for step, own in zip(steps, owned, strict=True):
            if len(steps) > 1:
                for p in params:
                    p.requires_grad_(id(p) in own)
            for _ in range(step.repeats):
                losses = step.loss(batches.next())
                step.optimizer.zero_grad(set_to_none=True)
                losses["loss"].sum().backward()
                step.optimizer.step()
                if step.after is not None:
                    step.after()
            for key, value in losses.items():
                name = f"{step.name}_{key}"
                sums[name] = sums[name] + value.detach() if name in sums else value.detach()
        count += 1
        if (iteration + 1) % config.log_every == 0 or iteration + 1 == total:
            table = (torch.stack(list(sums.values())) / count).T.tolist()  # K lists of losses
            mask = model.latent_mask()
            masks = None if mask is None else mask.detach().tolist()
            for k, member in enumerate(table):
                if k in errors:
                    continue
                values = dict(zip(sums, member, strict=True))
                bad = [
                    (n, v) for n, v in values.items() if not math.isfinite(v) or abs(v) > config.diverge_at
                ]
                if bad:
                    errors[k] = DivergenceError(iteration + 1, *bad[0])
                    continue
                row = {"step": iteration + 1, **values, **scheduled}
                if masks is not None:
                    row.update({f"mask_{i}": a for i, a in enumerate(masks[k])})
                rows[k].append(row)
            sums, count = {}, 0
            if len(errors) == model.stack:
                break
        if on_iteration is not None:
            on_iteration(iteration + 1, rows[0][-1] if rows[0] else None)
        if until is not None and until(iteration + 1, model):
            break
    for p in params:
        p.requires_grad_(True)
    model.eval()
    return [History(rows[k], errors.get(k)) for k in range(model.stack)]
