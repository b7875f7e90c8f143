"""The model registry: name -> class. The CLI's ``--model`` choices read it."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from latentdim.autoencoder import AutoEncoder, ModelConfig
from latentdim.errors import LatentdimError
from latentdim.flexae import FlexAE
from latentdim.maskaae import MaskAAE
from latentdim.vae import VAE, TwoStageVAE
from latentdim.wae import WAEGAN, WAEMMD

MODELS: dict[str, type[AutoEncoder]] = {
    cls.name: cls for cls in (WAEMMD, WAEGAN, FlexAE, MaskAAE, VAE, TwoStageVAE)
}


def build_model(
    config: ModelConfig, generators: torch.Generator | Sequence[torch.Generator] | None = None
) -> AutoEncoder:
    """A freshly initialised model of ``config.model``: one, or a stack of one member
    per generator (:class:`~latentdim.autoencoder.AutoEncoder`)."""
    try:
        cls = MODELS[config.model]
    except KeyError:
        raise LatentdimError(f"unknown model {config.model!r}; choose from {', '.join(MODELS)}") from None
    return cls(config, generators)
