"""The MaskAAE estimate: the mask's active dims."""

from __future__ import annotations

import numpy as np

from latentdim.estimate.count import (
    _LatentCount,
)
from latentdim.estimate.engine import (
    _Reading,
)
from latentdim.estimate.rows import (
    MAX_ROWS,
)


class MaskAAEDimension(_LatentCount):
    """Intrinsic dimension of X as the active dims of trained MaskAAEs (module docstring).

    Parameters: ``latent_dim`` starting capacity (int, or ``"auto"`` = min(16, D));
    ``seeds`` runs per capacity (``settle=True``: at most, module docstring); ``steps``
    and ``batch_size`` per run; ``hidden`` and
    ``critic_hidden`` network widths; ``n_jobs`` processes; ``random_state``; ``device``.

    Attributes after ``fit``: ``dimension_`` (median active dims), ``interval_``
    (min, max over seeds), ``per_seed_``, ``latent_dim_`` (final capacity),
    ``capacities_`` ({m: per-seed counts} of every capacity tried), ``mask_``,
    ``saturated_`` (the mask kept (almost) every dim at capacity D), ``model_`` (a
    trained :class:`~latentdim.nn.autoencoder.AutoEncoder` on standardised data),
    ``columns_`` (the non-constant columns used), ``rows_`` (rows in X), ``rows_used_``
    (rows trained on: all, or a random ``max_rows`` of them), ``n_features_in_``;
    ``timings_``, where the fit's time went, in seconds: ``setup`` (checking,
    standardising, the span), ``workers`` (starting the worker processes), per capacity
    m ``capacities[m]`` (``wall``; ``train``, each stack's training, longest first;
    ``read``, the members' readings summed over the workers), ``finish`` (the picked
    model rebuilt and the per-row readings) and ``total``; the band's own seconds are
    in ``band_``.
    """

    model_name = "maskaae"
    auto_capacity = 16

    def __init__(
        self,
        latent_dim="auto",
        seeds: int = 3,
        steps: int = 3000,
        batch_size: int = 64,
        hidden=(256, 256),
        critic_hidden=(128, 128),
        n_jobs: int = 1,
        random_state=0,
        device: str = "auto",
        max_rows: int = MAX_ROWS,
        settle: bool = False,
    ):
        self.latent_dim = latent_dim
        self.seeds = seeds
        self.steps = steps
        self.batch_size = batch_size
        self.hidden = hidden
        self.critic_hidden = critic_hidden
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.device = device
        self.max_rows = max_rows
        self.settle = settle

    def _critic_hidden(self) -> tuple[int, ...]:
        return tuple(self.critic_hidden)

    def _keep_reading(self, results: list[_Reading], pick: int) -> None:
        self.mask_ = np.asarray(results[pick].values)

    def _reading_result(self) -> dict:
        return {"mask": self.mask_.tolist()}
