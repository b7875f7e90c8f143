"""Feature networks for FID and KID on images: a registry, name -> extractor.

* ``identity``: the data space itself (the synthetic data's FID, as the slides' scaled
  FID uses it).
* ``digits-cnn``: the 64 penultimate activations of a small CNN classifier of
  scikit-learn's 8 x 8 digits (pixels in [0, 1]): conv 3x3 16 - ReLU - conv 3x3 32 -
  ReLU - max-pool 2 - dense 64 - ReLU (the features) - dense 10. Trained on first use,
  deterministically (one thread, seed 0, Adam lr 1e-3, 40 epochs of batch 64) on a
  stratified 80 % of the digits, scored on the other 20 %, and saved as a
  ``state_dict`` with its accuracy in the cache folder (``$LATENTDIM_CACHE``, else
  ``$XDG_CACHE_HOME/latentdim``, else ``~/.cache/latentdim``).
* ``inception``: pool3 (2048) of the FID Inception-v3 of ``pytorch-fid``, from a weights
  file the user already has (``pt_inception-2015-12-05-6726825d.pth``), named by
  ``$LATENTDIM_INCEPTION_WEIGHTS``; nothing is downloaded. Square grayscale images
  (D = s^2, values in [0, 1]) are repeated to three channels; the network resizes
  them to 299 x 299.

:func:`kid` is the kernel inception distance (Binkowski et al. 2018): the unbiased
MMD^2 with the cubic polynomial kernel k(a, b) = (a . b / f + 1)^3 on f features.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from latentdim.errors import LatentdimError
from latentdim.files import atomic_path

DIGITS_CNN_EPOCHS = 40


def cache_dir() -> Path:
    """Where trained feature networks are kept."""
    if os.environ.get("LATENTDIM_CACHE"):
        return Path(os.environ["LATENTDIM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "latentdim"


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(-1, 1, 8, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _train_digits_cnn() -> tuple[DigitsCNN, float]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from latentdim.data import sklearn_data
    from latentdim.studies import torch_threads

    x, y = sklearn_data("digits"), load_digits().target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    with torch_threads(1):
        g = torch.Generator().manual_seed(0)
        with torch.random.fork_rng(devices=[]):  # default init, seeded, the caller's RNG untouched
            torch.manual_seed(0)
            net = DigitsCNN()
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train).long()
        for _ in range(DIGITS_CNN_EPOCHS):
            order = torch.randperm(len(xt), generator=g)
            for start in range(0, len(xt), 64):
                rows = order[start : start + 64]
                optimiser.zero_grad()
                nn.functional.cross_entropy(net(xt[rows]), yt[rows]).backward()
                optimiser.step()
        with torch.no_grad():
            predicted = net(torch.from_numpy(x_test)).argmax(dim=1).numpy()
    return net.eval(), float(np.mean(predicted == y_test))


def digits_cnn() -> tuple[DigitsCNN, float]:
    """The digits classifier and its held-out accuracy: from the cache folder, or
    trained (seconds) and cached there on first use; loaded once per process."""
    return _digits_cnn_in(cache_dir())


@functools.lru_cache(maxsize=2)
def _digits_cnn_in(folder: Path) -> tuple[DigitsCNN, float]:
    weights, meta = folder / "digits-cnn-v1.pt", folder / "digits-cnn-v1.json"
    if weights.is_file() and meta.is_file():
        try:
            net = DigitsCNN()
            net.load_state_dict(torch.load(weights, weights_only=True, map_location="cpu"))
            return net.eval(), float(json.loads(meta.read_text())["accuracy"])
        except (OSError, ValueError, KeyError, RuntimeError):
            pass  # a damaged cache is made again
    net, accuracy = _train_digits_cnn()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(weights, force=True) as tmp:
            torch.save(net.state_dict(), tmp)
        with atomic_path(meta, force=True) as tmp:
            tmp.write_text(json.dumps({"accuracy": accuracy, "epochs": DIGITS_CNN_EPOCHS}))
    except (OSError, LatentdimError):
        pass  # an unwritable cache costs a retraining next time, nothing else
    return net, accuracy


def _digits_features(x: np.ndarray) -> np.ndarray:
    if x.shape[1] != 64:
        raise LatentdimError(f"digits-cnn features need 8 x 8 images (64 columns), got {x.shape[1]}")
    net, _ = digits_cnn()
    with torch.no_grad():
        return net.features(torch.as_tensor(x, dtype=torch.float32)).numpy()


def _inception_features(x: np.ndarray) -> np.ndarray:
    path = os.environ.get("LATENTDIM_INCEPTION_WEIGHTS")
    if not path or not Path(path).is_file():
        raise LatentdimError(
            "inception features need the FID Inception-v3 weights (pt_inception-2015-12-05-6726825d.pth): "
            "set LATENTDIM_INCEPTION_WEIGHTS to the file; nothing is downloaded"
        )
    try:
        from unittest import mock

        from pytorch_fid import inception
    except ImportError:
        raise LatentdimError("inception features need: pip install pytorch-fid") from None
    side = round(x.shape[1] ** 0.5)
    if side * side != x.shape[1]:
        raise LatentdimError(f"inception features need square grayscale images, got {x.shape[1]} columns")

    def local(*_args, **_kwargs):
        return torch.load(path, weights_only=True, map_location="cpu")

    with mock.patch.object(inception, "load_state_dict_from_url", local):
        net = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    out = []
    with torch.no_grad():
        for start in range(0, x.shape[0], 100):
            images = torch.as_tensor(x[start : start + 100], dtype=torch.float32).reshape(-1, 1, side, side)
            out.append(net(images.repeat(1, 3, 1, 1))[0].flatten(1).numpy())
    return np.concatenate(out)


FEATURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda x: np.asarray(x),
    "digits-cnn": _digits_features,
    "inception": _inception_features,
}


def features(name: str, x: np.ndarray) -> np.ndarray:
    """The ``name`` features of the rows of ``x`` (data units)."""
    if name not in FEATURES:
        raise LatentdimError(f"unknown feature network {name!r}; choose from {', '.join(FEATURES)}")
    return FEATURES[name](x)


def kid(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 between the rows of ``a`` and ``b`` with k(u, v) = (u . v / f + 1)^3
    (the kernel inception distance; f features): mean over i != j of k(a_i, a_j) and of
    k(b_i, b_j), minus twice the mean of k(a_i, b_j)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    f = a.shape[1]
    kaa, kbb, kab = ((a @ a.T / f + 1) ** 3, (b @ b.T / f + 1) ** 3, (a @ b.T / f + 1) ** 3)
    n, m = len(a), len(b)
    within = (kaa.sum() - np.trace(kaa)) / (n * (n - 1)) + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
    return float(within - 2 * kab.mean())
