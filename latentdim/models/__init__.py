"""The models, one module per family, and their registry (name -> class), which the
CLI's ``--model`` choices read: :mod:`~latentdim.models.wae` (WAE-MMD, WAE-GAN),
:mod:`~latentdim.models.maskaae`, :mod:`~latentdim.models.flexae` and
:mod:`~latentdim.models.vae` (VAE, 2-Stage VAE). What they share is
:mod:`latentdim.nn.autoencoder`."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from latentdim.config import ModelConfig
from latentdim.errors import LatentdimError
from latentdim.models.flexae import FlexAE
from latentdim.models.maskaae import MaskAAE
from latentdim.models.vae import VAE, TwoStageVAE
from latentdim.models.wae import WAEGAN, WAEMMD
from latentdim.nn.autoencoder import AutoEncoder

MODELS: dict[str, type[AutoEncoder]] = {
    cls.name: cls for cls in (WAEMMD, WAEGAN, FlexAE, MaskAAE, VAE, TwoStageVAE)
}


def build_model(
    config: ModelConfig, generators: torch.Generator | Sequence[torch.Generator] | None = None
) -> AutoEncoder:
    """A freshly initialised model of ``config.model``: one, or a stack of one member
    per generator (:class:`~latentdim.nn.autoencoder.AutoEncoder`)."""
    try:
        cls = MODELS[config.model]
    except KeyError:
        raise LatentdimError(f"unknown model {config.model!r}; choose from {', '.join(MODELS)}") from None
    return cls(config, generators)
