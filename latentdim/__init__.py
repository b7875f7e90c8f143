"""latentdim: latent dimensionality of auto-encoder generative models, and of data."""

from latentdim.errors import LatentdimError
from latentdim.estimate import MaskAAEDimension, VAEDimension
from latentdim.latents import LATENT_LAWS
from latentdim.synthetic import (
    Dataset,
    SyntheticMap,
    SyntheticSpec,
    generate,
    load_dataset,
    make_dataset,
)

__all__ = [
    "LATENT_LAWS",
    "Dataset",
    "LatentdimError",
    "MaskAAEDimension",
    "SyntheticMap",
    "SyntheticSpec",
    "VAEDimension",
    "generate",
    "load_dataset",
    "make_dataset",
]
