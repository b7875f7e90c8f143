"""latentdim: latent dimensionality of auto-encoder generative models, and of data.

The estimators (torch and scikit-learn behind them) load on first use, so importing
the package, and the command line's ``--help``, cost no more than numpy.
"""

from latentdim.data.latents import LATENT_LAWS
from latentdim.data.synthetic import (
    Dataset,
    SyntheticMap,
    SyntheticSpec,
    generate,
    load_dataset,
    make_dataset,
)
from latentdim.errors import LatentdimError

_LAZY = {"MaskAAEDimension": "latentdim.estimate", "VAEDimension": "latentdim.estimate"}

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


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'latentdim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
