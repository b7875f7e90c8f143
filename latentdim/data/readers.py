"""Reading a data matrix (rows are points) from .npy, .npz or .csv, from the images of
MNIST-family files (IDX, gzipped or not, and the ``x_train`` / ``x_test`` .npz layout),
or from a dataset bundled with scikit-learn; with validation. Nothing is downloaded."""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path

import numpy as np

from latentdim.errors import LatentdimError
from latentdim.files import reading

DATA_ROOT = "LATENTDIM_DATA"  # the environment variable naming the folder that holds the user's data


def resolve_data_file(path: str | os.PathLike, base: str | os.PathLike, root_first: bool) -> Path:
    """Where a data file named ``path`` is. An absolute path is taken as it is; a
    relative one is looked for under ``$LATENTDIM_DATA`` and under ``base`` (a study's
    folder: the data root first; the working directory of a command: ``base`` first,
    since that is what was typed). A file found nowhere is one line naming the places
    looked in and how to point at the data."""
    path = Path(path).expanduser()
    if path.is_absolute():
        if not path.is_file():
            raise LatentdimError(f"no file {path}")
        return path
    root = os.environ.get(DATA_ROOT)
    places = [Path(base)]
    if root:
        places.insert(0 if root_first else 1, Path(root).expanduser())
    for place in places:
        if (place / path).is_file():
            return (place / path).resolve()
    looked = " and ".join(str(place.resolve()) for place in places)
    unset = "" if root else f" (${DATA_ROOT} is not set)"
    raise LatentdimError(
        f"no file {path}: looked in {looked}{unset}; set {DATA_ROOT} to the folder that holds it "
        "or give an absolute path"
    )


_MAGIC = {".npy": (b"\x93NUMPY",), ".npz": (b"PK\x03\x04", b"PK\x05\x06")}


def check_magic(path: Path) -> None:
    """A ``.npy`` or ``.npz`` file must begin with its format's magic bytes (numpy
    would take anything else for a pickle, which latentdim never loads)."""
    kind = path.suffix.lower()
    with reading(str(path)), open(path, "rb") as handle:
        head = handle.read(6)
    if not head:
        raise LatentdimError(f"{path}: the file is empty")
    if not head.startswith(_MAGIC[kind]):
        what = "an .npy array" if kind == ".npy" else "an .npz (zip) archive"
        raise LatentdimError(f"{path}: not {what} (wrong magic bytes {head[:4]!r})")


def _read_csv(path: Path) -> np.ndarray:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [(number, row) for number, row in enumerate(csv.reader(handle), 1) if row]
    if rows:
        try:
            [float(v) for v in rows[0][1]]
        except ValueError:
            rows = rows[1:]  # a header
    if not rows:
        raise LatentdimError(f"{path}: no data rows")
    width = len(rows[0][1])
    for number, row in rows:
        if len(row) != width:
            raise LatentdimError(f"{path}: line {number} has {len(row)} values, the first data row {width}")
    try:
        return np.array([[float(v) for v in row] for _, row in rows], dtype=np.float64)
    except ValueError as exc:
        raise LatentdimError(f"{path}: non-numeric value in CSV ({exc})") from None


def _read_npz(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        members = set(archive.zip.namelist())
        arrays = [name for name in archive.files if f"{name}.npy" in members]  # not other files
        if "x" in arrays:
            return archive["x"]
        if "x_train" in arrays:  # the keras MNIST-family layout: the training images
            return _image_rows(archive["x_train"], f"{path} (x_train)")
        if len(arrays) == 1:
            return archive[arrays[0]]
        if not arrays:
            raise LatentdimError(f"{path}: the archive holds no arrays")
        raise LatentdimError(f"{path}: no array named 'x' among {', '.join(arrays)}")


IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def is_idx(path: Path) -> bool:
    """An IDX file by its name, as MNIST-family files are named: ``*-idx3-ubyte[.gz]``."""
    name = path.name.lower().removesuffix(".gz")
    return "idx" in name and name.endswith("ubyte")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The images of an IDX file (LeCun's MNIST format; gzipped when named ``.gz``) as
    rows of pixels, unsigned bytes scaled to [0, 1] (:func:`read_idx_array`)."""
    values = read_idx_array(path)
    if values.ndim == 1:
        raise LatentdimError(f"{path}: holds {values.shape[0]} labels (1-D), not images")
    return _image_rows(values, str(path))


def read_idx_labels(path: str | os.PathLike) -> np.ndarray:
    """The labels of a 1-D IDX file (``*-labels-idx1-ubyte[.gz]``) as int64."""
    values = read_idx_array(path)
    if values.ndim != 1:
        raise LatentdimError(f"{path}: holds an array of shape {values.shape}, not 1-D labels")
    return values.astype(np.int64)


def read_idx_array(path: str | os.PathLike) -> np.ndarray:
    """The array of an IDX file as stored: two zero bytes, a type code, the number of
    dimensions, each dimension as a big-endian int32, then the values."""
    path = Path(path)
    with reading(str(path)):
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES:
        raise LatentdimError(f"{path}: not an IDX file (wrong magic bytes {raw[:4]!r})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(raw) < header:
        raise LatentdimError(f"{path}: IDX header is truncated or declares {ndim} dimensions")
    shape = tuple(int(v) for v in np.frombuffer(raw[4:header], dtype=">u4"))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise LatentdimError(
            f"{path}: IDX header declares {shape}, {expected} bytes, but {len(raw) - header} follow"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _channels_last(shape: tuple[int, ...]) -> bool:
    """(N, H, W, C) with C <= 4 (the keras colour layout), not (N, C, H, W)."""
    return len(shape) == 4 and shape[3] <= 4 < min(shape[1:3])


def image_layout(shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """The (C, H, W) of one image in an array of ``shape``: (N, H, W) grey images,
    (N, H, W, C) channels last or (N, C, H, W); None for anything else."""
    if len(shape) == 3:
        return (1, *shape[1:])
    if len(shape) == 4:
        return (shape[3], *shape[1:3]) if _channels_last(shape) else tuple(shape[1:])
    return None


def _image_rows(images: np.ndarray, name: str) -> np.ndarray:
    """(N, ...) images as (N, pixels) rows, pixels in (C, H, W) order (channels-last
    images are transposed first); unsigned bytes scaled to [0, 1]."""
    if images.ndim < 2:
        raise LatentdimError(f"{name}: expected images (N, height, width), got shape {images.shape}")
    if _channels_last(images.shape):
        images = images.transpose(0, 3, 1, 2)
    rows = images.reshape(images.shape[0], -1)
    return rows.astype(np.float32) / 255.0 if rows.dtype == np.uint8 else rows


def image_shape_of(
    path: str | os.PathLike | None = None, sklearn: str | None = None
) -> tuple[int, ...] | None:
    """The (C, H, W) of the images in an image source: an IDX file (from its header),
    the ``x_train`` array of an .npz, or a bundled scikit-learn image set (digits:
    1 x 8 x 8); None for a source of plain rows."""
    if sklearn is not None or path is None:
        return SKLEARN_IMAGES.get(sklearn)
    path = Path(path)
    if is_idx(path):
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with reading(str(path)), opener(path, "rb") as handle:
            ndim = handle.read(4)[3]
            return image_layout(tuple(int(v) for v in np.frombuffer(handle.read(4 * ndim), dtype=">u4")))
    if path.suffix.lower() == ".npz":
        with reading(str(path)), np.load(path, allow_pickle=False) as archive:
            if "x" in archive.files or "x_train.npy" not in archive.zip.namelist():
                return None
            return image_layout(archive["x_train"].shape)
    return None


SKLEARN_IMAGES = {"digits": (1, 8, 8)}  # the bundled data sets that are images: (C, H, W)
SKLEARN_DATA = {  # name -> (loader in sklearn.datasets, the scale that maps it to [0, 1] or None)
    "digits": ("load_digits", 16.0),
    "iris": ("load_iris", None),
    "wine": ("load_wine", None),
    "breast-cancer": ("load_breast_cancer", None),
    "diabetes": ("load_diabetes", None),
}


def sklearn_data(name: str) -> np.ndarray:
    """A dataset that ships with scikit-learn (no download). Images come scaled to
    [0, 1]: ``digits`` is 1797 8 x 8 images, 64 pixels valued 0..16, divided by 16."""
    from sklearn import datasets

    if name not in SKLEARN_DATA:
        raise LatentdimError(f"unknown scikit-learn dataset {name!r}; choose from {', '.join(SKLEARN_DATA)}")
    loader, scale = SKLEARN_DATA[name]
    x = getattr(datasets, loader)().data
    return check_matrix(x / scale if scale else x, f"sklearn {name}")


_READERS = {".npy": lambda p: np.load(p, allow_pickle=False), ".npz": _read_npz, ".csv": _read_csv}


def read_matrix(path: str | os.PathLike) -> np.ndarray:
    """The data matrix in ``path`` as float32, N x D: .npy, .npz (array ``x``, the
    training images ``x_train`` of the MNIST-family layout, or the only array), .csv
    (header optional) or IDX images (:func:`read_idx`). Images become rows of pixels in
    [0, 1]. Rejects NaN/inf and fewer than 2 rows or columns."""
    path = Path(path)
    if is_idx(path):
        return check_matrix(read_idx(path), str(path))
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise LatentdimError(
            f"{path}: unknown file type {path.suffix!r}; "
            "use .npy, .npz, .csv or an IDX file (*-idx3-ubyte[.gz])"
        )
    if path.suffix.lower() in _MAGIC:
        check_magic(path)
    with reading(str(path)):
        x = reader(path)
    return check_matrix(x, str(path))


def check_matrix(x, name: str = "data") -> np.ndarray:
    """Validate a 2-D numeric matrix with finite values, >= 2 rows and >= 2 columns."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise LatentdimError(f"{name}: not numeric (dtype {x.dtype})")
    if x.ndim != 2:
        raise LatentdimError(f"{name}: expected a 2-D matrix, got shape {x.shape}")
    if x.shape[0] < 2 or x.shape[1] < 2:
        raise LatentdimError(f"{name}: need at least 2 rows and 2 columns, got {x.shape[0]} x {x.shape[1]}")
    if not np.all(np.isfinite(x)):
        raise LatentdimError(f"{name}: contains NaN or infinite values")
    return x.astype(np.float32, copy=False)
