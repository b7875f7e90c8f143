"""The trained feature networks behind :mod:`latentdim.metrics.features`: the digits
and MNIST classifiers (their architecture, training recipe and why they and not
Inception are described there), trained deterministically on first use and cached in
``$LATENTDIM_CACHE``, the MNIST one also shipping with latentdim (``latentdim/weights``),
and the hash that names a network's weights in the records."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from latentdim.errors import LatentdimError
from latentdim.files import atomic_path

DIGITS_CNN_EPOCHS = 40
MNIST_CNN_EPOCHS = 6
MNIST_FILES = {  # the original IDX names, as distributed
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


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

    from latentdim.data.readers import sklearn_data
    from latentdim.training import torch_threads

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
    """The digits classifier and its held-out accuracy: the network that ships with
    latentdim when scikit-learn's digits are the ones it was trained on (their SHA-256
    is recorded beside it), else from the cache folder, or trained (seconds) and cached
    there on first use; loaded once per process."""
    return _digits_cnn_in(cache_dir())


@functools.lru_cache(maxsize=2)
def _digits_cnn_in(folder: Path) -> tuple[DigitsCNN, float]:
    packaged = packaged_network("digits-cnn-v1", DigitsCNN)
    if packaged is not None and packaged[2].get("data") == _digits_sha256():
        return packaged[0], packaged[1]  # scikit-learn's digits as shipped: the network that ships
    cached = _cached_network(folder / "digits-cnn-v1", DigitsCNN, lambda recorded: True)
    if cached is not None:
        return cached
    net, accuracy = _train_digits_cnn()
    _cache_network(folder / "digits-cnn-v1", net, {"accuracy": accuracy, "epochs": DIGITS_CNN_EPOCHS})
    return net, accuracy


def _digits_sha256() -> str:
    """SHA-256 of scikit-learn's digits images and labels, as this install has them."""
    from sklearn.datasets import load_digits

    from latentdim.files import sha256_arrays

    digits = load_digits()
    return sha256_arrays(digits.data, digits.target)


class _Standardise(nn.Module):
    """Pixels in [0, 1] to MNIST's training mean 0 and sd 1 (0.1307, 0.3081)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - 0.1307) / 0.3081


class MnistCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _Standardise(),
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(128, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(-1, 1, 28, 28))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def mnist_dir() -> Path:
    """``$LATENTDIM_DATA/mnist``: where the MNIST IDX files are looked for."""
    from latentdim.data.readers import DATA_ROOT

    root = os.environ.get(DATA_ROOT)
    if not root:
        raise LatentdimError(
            f"mnist-cnn features are trained once on MNIST's training files: set {DATA_ROOT} to the folder "
            f"that holds mnist/{MNIST_FILES['train_images']} (and the other three IDX files)"
        )
    return Path(root).expanduser() / "mnist"


def mnist_files(folder: Path | None = None) -> dict[str, Path]:
    """The four MNIST files in ``folder`` (default :func:`mnist_dir`); one line naming the
    first that is missing."""
    folder = mnist_dir() if folder is None else folder
    files = {key: folder / name for key, name in MNIST_FILES.items()}
    for path in files.values():
        if not path.is_file():
            raise LatentdimError(f"no MNIST file {path} (mnist-cnn needs all four IDX files there)")
    return files


def _train_mnist_cnn(files: dict[str, Path], epochs: int = MNIST_CNN_EPOCHS) -> tuple[MnistCNN, float]:
    from latentdim.data.readers import read_idx, read_idx_labels
    from latentdim.training import torch_threads

    x_train, y_train = read_idx(files["train_images"]), read_idx_labels(files["train_labels"])
    x_test, y_test = read_idx(files["test_images"]), read_idx_labels(files["test_labels"])
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise LatentdimError(f"MNIST files in {files['train_images'].parent}: image and label counts differ")
    # one thread, and the global RNG (dropout) seeded inside a fork: the same network on
    # one machine, and the caller's RNG untouched (another CPU rounds differently and
    # trains another network: hence the packaged one)
    with torch_threads(1), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(0)
        net = MnistCNN()
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
        steps = epochs * math.ceil(len(x_train) / 128)
        cosine = lambda i: 0.5 * (1 + math.cos(math.pi * i / steps))  # noqa: E731
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, cosine)
        xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
        net.train()
        for _ in range(epochs):
            order = torch.randperm(len(xt), generator=g)
            for start in range(0, len(xt), 128):
                rows = order[start : start + 128]
                optimiser.zero_grad()
                nn.functional.cross_entropy(net(xt[rows]), yt[rows]).backward()
                optimiser.step()
                schedule.step()
        net.eval()
        with torch.no_grad():
            predicted = torch.cat([net(chunk).argmax(1) for chunk in torch.from_numpy(x_test).split(1000)])
    return net, float(np.mean(predicted.numpy() == y_test))


def mnist_cnn() -> tuple[MnistCNN, float]:
    """The MNIST classifier and its t10k accuracy: from the cache folder, or trained
    (about 6 minutes on one core) on ``$LATENTDIM_DATA/mnist`` and cached on first
    use; loaded once per process. A cache made from other training files is remade."""
    return _mnist_cnn_in(cache_dir(), os.environ.get("LATENTDIM_DATA"))


PACKAGED = Path(__file__).parent.parent / "weights"  # networks that ship with latentdim


def packaged_network(stem: str, factory: type[nn.Module]) -> tuple[nn.Module, float, dict] | None:
    """A feature network that ships with latentdim (``latentdim/weights/STEM.pt`` and
    ``.json``): the network, its held-out accuracy and its metadata, or None where it is
    absent or damaged (its weights' hash must be the one recorded beside them)."""
    weights, meta = PACKAGED / f"{stem}.pt", PACKAGED / f"{stem}.json"
    try:
        recorded = json.loads(meta.read_text())
        net = factory()
        net.load_state_dict(torch.load(weights, weights_only=True, map_location="cpu"))
        if network_hash(net) != recorded["network_id"]:
            return None
        return net.eval(), float(recorded["accuracy"]), recorded
    except (OSError, ValueError, KeyError, RuntimeError):
        return None


def packaged_mnist_cnn() -> tuple[MnistCNN, float, dict] | None:
    """The mnist-cnn that ships with latentdim, its t10k accuracy and its metadata, or
    None (:func:`packaged_network`)."""
    return packaged_network("mnist-cnn-v2", MnistCNN)


@functools.lru_cache(maxsize=2)
def _mnist_cnn_in(folder: Path, _root: str | None) -> tuple[MnistCNN, float]:
    from latentdim.files import file_sha256

    try:
        files = mnist_files()
    except LatentdimError:
        files = None  # a packaged or cached network serves without the data; training needs it
    hashes = None if files is None else {key: file_sha256(path) for key, path in files.items()}
    packaged = packaged_mnist_cnn()
    if packaged is not None and (hashes is None or hashes == packaged[2]["files"]):
        return packaged[0], packaged[1]  # the original MNIST files: the network that ships
    made_from_these = lambda recorded: hashes is None or recorded["files"] == hashes  # noqa: E731
    cached = _cached_network(folder / "mnist-cnn-v2", MnistCNN, made_from_these)
    if cached is not None:
        return cached
    if files is None:
        mnist_files()  # the one-line reason
    net, accuracy = _train_mnist_cnn(files)
    record = {"accuracy": accuracy, "epochs": MNIST_CNN_EPOCHS, "files": hashes}
    _cache_network(folder / "mnist-cnn-v2", net, record)
    return net, accuracy


def _cached_network(stem: Path, factory: type[nn.Module], matches) -> tuple[nn.Module, float] | None:
    """The network cached at ``STEM.pt`` (its metadata in ``STEM.json``) and its accuracy,
    or None where it is absent, damaged, or ``matches(metadata)`` is false."""
    weights, meta = stem.with_suffix(".pt"), stem.with_suffix(".json")
    if not (weights.is_file() and meta.is_file()):
        return None
    try:
        net = factory()
        net.load_state_dict(torch.load(weights, weights_only=True, map_location="cpu"))
        recorded = json.loads(meta.read_text())
        return (net.eval(), float(recorded["accuracy"])) if matches(recorded) else None
    except (OSError, ValueError, KeyError, RuntimeError):
        return None  # a damaged cache is made again


def _cache_network(stem: Path, net: nn.Module, record: dict) -> None:
    """Cache a trained network at ``STEM.pt`` and its metadata at ``STEM.json``."""
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(stem.with_suffix(".pt"), force=True) as tmp:
            torch.save(net.state_dict(), tmp)
        with atomic_path(stem.with_suffix(".json"), force=True) as tmp:
            tmp.write_text(json.dumps(record, indent=2))
    except (OSError, LatentdimError):
        pass  # an unwritable cache costs a retraining next time, nothing else


def network_hash(net: nn.Module) -> str:
    """The first 16 hex digits of the SHA-256 of a network's weights: its id in the records."""
    digest = hashlib.sha256()
    for key, tensor in sorted(net.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
