"""Feature networks for FID and KID on images: a registry, name -> extractor.

* ``identity``: the data space itself (the synthetic data's FID, as the slides' scaled
  FID uses it).
* ``digits-cnn``: the 64 penultimate activations of a small CNN classifier of
  scikit-learn's 8 x 8 digits (pixels in [0, 1]): conv 3x3 16 - ReLU - conv 3x3 32 -
  ReLU - max-pool 2 - dense 64 - ReLU (the features) - dense 10. Trained on first use,
  deterministically (one thread, seed 0, Adam lr 1e-3, 40 epochs of batch 64) on a
  stratified 80 % of the digits, scored on the other 20 %. The network so trained
  **ships with latentdim** (``latentdim/weights/digits-cnn-v1``, held-out accuracy 0.975,
  its weights' hash and the digits' SHA-256 checked on load), for the reason given for
  mnist-cnn below: the same code and seed on another CPU train another network (0.978
  on the machine that made the first digits studies), and FIDs on two networks are on
  two scales. Where the installed digits differ, it is trained on first use and saved
  as a ``state_dict`` with its accuracy in the cache folder (``$LATENTDIM_CACHE``, else
  ``$XDG_CACHE_HOME/latentdim``, else ``~/.cache/latentdim``).
* ``mnist-cnn``: the 128 penultimate activations of a LeNet-style classifier of MNIST
  (28 x 28, pixels in [0, 1], standardised): conv 3x3 32 - ReLU - max-pool 2 - conv 3x3
  64 - ReLU - max-pool 2 - dropout 0.25 - dense 128 - ReLU (the features) - dropout 0.5 -
  dense 10, trained (one thread, seed 0, Adam lr 1e-3 on a cosine schedule to 0, 6
  epochs of batch 128; about 6 minutes on one core) on the 60 000 training images of
  ``$LATENTDIM_DATA/mnist`` and scored on the 10 000 t10k images (without dropout and
  the schedule it stayed at 0.987-0.989 after 3-4 epochs). The network trained from
  the original IDX files **ships with latentdim** (``latentdim/weights``, t10k accuracy
  0.992, its weights' hash checked on load): training is deterministic on one machine
  (trained twice here: the same bytes, network id f2d1c647db58de80), but the same code
  and seed on another machine gave another network (t10k accuracy 0.9927), as the
  convolutions' kernels depend on the CPU (the digits conv studies re-run on another
  machine move by a few FID points where the MLP ones repeat to the last digit), and
  FIDs on two networks are on two scales: a network trained on first use would make
  every machine's FIDs incomparable with the committed ones. MNIST files other than the
  originals (their SHA-256 differ) get a network trained on first use and cached with
  its accuracy and the files' SHA-256. Records carry the hash of the network that
  scored them (``features_sha256``). Why
  these features and not Inception: FID compares Gaussians fitted to features that a
  network trained for recognition finds salient; the field's Inception-v3 was trained
  on ImageNet photographs, and no copy of its weights can be had here. A classifier of
  the data's own domain is the common substitute for MNIST (a LeNet's features in the
  WAE and 2-Stage VAE evaluations' spirit); its numbers are on another scale than the
  slides' Inception FIDs, so orderings and ratios compare, absolute values do not.
* ``inception``: pool3 (2048) of the FID Inception-v3 of ``pytorch-fid``, from a weights
  file the user already has (``pt_inception-2015-12-05-6726825d.pth``), named by
  ``$LATENTDIM_INCEPTION_WEIGHTS``; nothing is downloaded. Square grayscale images
  (D = s^2, values in [0, 1]) are repeated to three channels; the network resizes
  them to 299 x 299.

:func:`kid` is the kernel inception distance (Binkowski et al. 2018): the unbiased
MMD^2 with the cubic polynomial kernel k(a, b) = (a . b / f + 1)^3 on f features.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from latentdim.errors import LatentdimError
from latentdim.metrics.feature_nets import digits_cnn, mnist_cnn, network_hash


def _mnist_features(x: np.ndarray) -> np.ndarray:
    if x.shape[1] != 784:
        raise LatentdimError(f"mnist-cnn features need 28 x 28 images (784 columns), got {x.shape[1]}")
    net, _ = mnist_cnn()
    with torch.no_grad():
        rows = torch.as_tensor(x, dtype=torch.float32)
        return torch.cat([net.features(chunk) for chunk in rows.split(500)]).numpy()


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
    "mnist-cnn": _mnist_features,
    "inception": _inception_features,
}


def feature_network_id(name: str) -> str | None:
    """The SHA-256 (16 hex digits) of a trained feature network's weights, None for the
    others. A network trained on first use is deterministic on one machine, but another
    CPU rounds differently and trains another network: FIDs on two networks are on two
    scales, so records carry this and comparisons check it."""
    nets = {"digits-cnn": digits_cnn, "mnist-cnn": mnist_cnn}
    return network_hash(nets[name]()[0]) if name in nets else None


def feature_accuracy(name: str) -> float | None:
    """The held-out accuracy of a classifier feature network (None for the others)."""
    if name == "digits-cnn":
        return digits_cnn()[1]
    if name == "mnist-cnn":
        return mnist_cnn()[1]
    return None


def fid_floor(name: str, train: np.ndarray, test: np.ndarray, rows: int = 10_000, seed: int = 0) -> dict:
    """The FID (and KID) on ``name`` features of the test rows against ``rows`` random
    training rows: what a model that reproduced the training data exactly would score
    against the test set (the floor beside a table of generated FIDs)."""
    from latentdim.metrics import frechet_distance

    pick = np.random.default_rng(seed).permutation(train.shape[0])[:rows]
    real, ref = features(name, test), features(name, train[pick])
    return {
        "fid": frechet_distance(ref, real),
        "kid": kid(ref, real),
        "train_rows": int(pick.size),
        "test_rows": int(test.shape[0]),
        "features": name,
        "features_accuracy": feature_accuracy(name),
        "features_sha256": feature_network_id(name),
    }


def features(name: str, x: np.ndarray) -> np.ndarray:
    """The ``name`` features of the rows of ``x`` (data units)."""
    if name not in FEATURES:
        raise LatentdimError(f"unknown feature network {name!r}; choose from {', '.join(FEATURES)}")
    return FEATURES[name](x)


def kid(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 between the rows of ``a`` and ``b`` with k(u, v) = (u . v / f + 1)^3
    (the kernel inception distance; f features): mean over i != j of k(a_i, a_j) and of
    k(b_i, b_j), minus twice the mean of k(a_i, b_j). Float64, a block of rows of each
    kernel matrix at a time (10 000 x 10 000: 13 s -> about 2 s on 2 cores)."""
    a, b = torch.as_tensor(np.asarray(a, np.float64)), torch.as_tensor(np.asarray(b, np.float64))
    f = a.shape[1]

    def kernel_sum(x: torch.Tensor, y: torch.Tensor) -> float:
        total = 0.0
        for rows in x.split(KID_BLOCK):
            total += float(torch.mm(rows, y.T).div_(f).add_(1).pow_(3).sum())
        return total

    def diagonal(x: torch.Tensor) -> float:
        return float((x * x).sum(1).div_(f).add_(1).pow_(3).sum())

    n, m = len(a), len(b)
    within_a = (kernel_sum(a, a) - diagonal(a)) / (n * (n - 1))
    within_b = (kernel_sum(b, b) - diagonal(b)) / (m * (m - 1))
    return float(within_a + within_b - 2 * kernel_sum(a, b) / (n * m))


KID_BLOCK = 1024  # rows of a kernel matrix held at once
