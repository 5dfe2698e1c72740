"""Images: Fashion-MNIST from the Debian package (IDX files) and scikit-learn's 8x8 digits.

Fashion-MNIST keeps its official 60,000 / 10,000 train/test split; the digits get a fixed
stratified 80 / 20 split. Images are returned as arrays ``[N, H, W]`` (uint8 for Fashion-MNIST,
float 0..16 for digits); models scale them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from functools import cache
from pathlib import Path

import numpy as np

from torch_rdrop.bench.tasks.data.base import ClassificationData
from torch_rdrop.bench.tasks.data.sources import DIGITS, FASHION_MNIST, cache_dir, package_dir
from torch_rdrop.bench.tasks.data.split import check_counts, fixed_split_by_class

__all__ = ["FASHION_CLASSES", "fashion_mnist_dir", "load_digits", "load_fashion_mnist", "read_idx"]

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_IDX_TYPES = {0x08: np.uint8}
#: Images per digit in scikit-learn's digits.csv.gz.
DIGIT_COUNTS = {"0": 178, "1": 182, "2": 177, "3": 183, "4": 181}
DIGIT_COUNTS |= {"5": 182, "6": 181, "7": 179, "8": 174, "9": 180}


def read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) IDX file of unsigned bytes into an array of its stored shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (header {raw[:4]!r})")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape}, the file holds {body.size} values")
    return body.reshape(shape)


def fashion_mnist_dir() -> Path:
    """``$TORCH_RDROP_FASHION_MNIST`` or the Debian package's folder (it must exist)."""
    folder = Path(os.environ.get("TORCH_RDROP_FASHION_MNIST", FASHION_DIR))
    if not (folder / "train-images-idx3-ubyte.gz").exists():
        raise FASHION_MNIST.missing(str(folder / "train-images-idx3-ubyte.gz"))
    return folder


def _cached_arrays(folder: Path) -> tuple[np.ndarray, np.ndarray] | None:
    path = _cache_path(folder)
    if not path.exists():
        return None
    with np.load(path) as arrays:
        return arrays["images"], arrays["labels"]


def _cache_path(folder: Path) -> Path:
    stamp = "-".join(
        f"{p.stat().st_size}.{int(p.stat().st_mtime)}" for p in sorted(folder.glob("*ubyte.gz"))
    )
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:12]
    return cache_dir() / f"fashion-mnist-{digest}.npz"


@cache
def load_fashion_mnist() -> ClassificationData:
    """Fashion-MNIST: 60,000 training and 10,000 test images, 28x28, 10 balanced classes.

    The decoded arrays are cached (uncompressed) under the cache folder, keyed by the IDX files'
    sizes and times; the counts are checked on every load.
    """
    folder = fashion_mnist_dir()
    cached = _cached_arrays(folder)
    images, labels = cached if cached is not None else _read_fashion_mnist(folder)
    for split, part in (("train", labels[:60000]), ("t10k", labels[60000:])):
        per_class = {name: part.size // 10 for name in FASHION_CLASSES}
        seen = dict(zip(FASHION_CLASSES, np.bincount(part, minlength=10).tolist(), strict=True))
        check_counts(f"Fashion-MNIST {split} labels in {folder}", seen, per_class)
    if cached is None:
        path = _cache_path(folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.partial-{os.getpid()}.npz")
        np.savez(partial, images=images, labels=labels)
        partial.replace(path)
    images.setflags(write=False)
    return ClassificationData(
        "fashion-mnist",
        images,
        labels,
        FASHION_CLASSES,
        np.arange(60000),
        np.arange(60000, 70000),
        source=FASHION_MNIST,
        language="-",
        raw_size=70000,
        notes=("official train/test split",),
    )


def _read_fashion_mnist(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    parts = {}
    for split, count in (("train", 60000), ("t10k", 10000)):
        images = read_idx(folder / f"{split}-images-idx3-ubyte.gz")
        labels = read_idx(folder / f"{split}-labels-idx1-ubyte.gz")
        if images.shape != (count, 28, 28) or labels.shape != (count,):
            raise ValueError(
                f"{folder}/{split}: expected {count} images 28x28 and labels, "
                f"read {images.shape} and {labels.shape}"
            )
        parts[split] = (images, labels)
    images = np.concatenate([parts["train"][0], parts["t10k"][0]])
    labels = np.concatenate([parts["train"][1], parts["t10k"][1]])
    return images, labels


@cache
def load_digits() -> ClassificationData:
    """scikit-learn's optical digits: 1,797 images 8x8 (values 0..16), 10 classes.

    Read from ``sklearn/datasets/data/digits.csv.gz`` directly (importing scikit-learn takes
    seconds); the same file ``sklearn.datasets.load_digits`` reads.

    >>> d = load_digits()
    >>> len(d), d.inputs.shape[1:], d.num_classes, len(d.test)
    (1797, (8, 8), 10, 359)
    """
    path = package_dir("sklearn", DIGITS) / "datasets" / "data" / "digits.csv.gz"
    if not path.exists():
        raise DIGITS.missing(str(path))
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    if table.shape != (1797, 65):
        raise ValueError(f"{path}: expected 1797 rows of 64 pixels and a label, got {table.shape}")
    images = table[:, :64].reshape(-1, 8, 8)
    images.setflags(write=False)
    labels = table[:, 64].astype(np.int64)
    seen = dict(zip(map(str, range(10)), np.bincount(labels).tolist(), strict=True))
    check_counts(f"digits in {path}", seen, DIGIT_COUNTS)
    train, test = fixed_split_by_class(labels, "digits")
    return ClassificationData(
        "digits",
        images,
        labels,
        tuple(str(d) for d in range(10)),
        train,
        test,
        source=DIGITS,
        language="-",
        raw_size=1797,
    )
