"""The ``latentdim`` command: parse, call the library, format.

Bad input of any kind ends in one line on stderr and exit code 2. Torch, scikit-learn
and the models are imported only inside the commands that train or evaluate, so
``--help``, ``info`` and ``make-data`` start at once (the option choices come from the
torch-free :mod:`latentdim.config`).
"""

from latentdim.cli import data, estimate, sweep, train  # noqa: F401  (each registers its commands)
from latentdim.cli.common import _read_training_data, cli

__all__ = ["_read_training_data", "cli"]
