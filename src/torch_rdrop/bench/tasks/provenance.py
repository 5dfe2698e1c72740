"""What a run started from: its data package's version and its pretrained weights' fingerprint.

Each run reads :func:`run_provenance` of its task when it starts (and keeps it in its snapshot,
so a resumed run still names what it first started from) and stores it with its library
versions, so a study can tell when two of its runs did not start from the same weights: a
backbone rebuilt on another machine, a checkpoint folder overwritten between runs, another
release of a data package.
The fingerprint is a SHA-256 over the weight files of a checkpoint folder (``*.safetensors``,
``*.bin``, ``*.pt``, ...), each fed with its path inside the folder, so that the same weights
give the same fingerprint wherever the folder lies:

>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "model.safetensors").write_bytes(b"weights")
>>> _ = (folder / "config.json").write_text("{}")  # not weights: not fingerprinted
>>> weights_fingerprint(folder)
'sha256:e56426a053a7247f'
>>> _ = (folder / "model.safetensors").write_bytes(b"other weights")
>>> weights_fingerprint(folder)
'sha256:ffbe4a6cf7d947ce'
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch_rdrop.bench.tasks.catalog import Task

__all__ = ["WEIGHT_SUFFIXES", "run_provenance", "weights_fingerprint"]

#: The files whose bytes are weights (Hugging Face folders, PyTorch and NumPy files).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".npz", ".h5", ".msgpack")
#: Hex digits of SHA-256 kept: 64 bits, enough to tell weights apart within a store.
DIGITS = 16


def weights_fingerprint(path: str | Path) -> str:
    """``sha256:`` and the first 16 hex digits of a SHA-256 over the weight files at ``path``.

    ``path`` is a checkpoint folder (every weight file under it, by sorted relative path) or a
    single file. Each file is read once per process while its size and modification time stay
    the same.
    """
    root = Path(path).expanduser().resolve()
    if root.is_file():
        files = [root]
    elif root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    else:
        raise FileNotFoundError(f"path: no weights at {root}")
    if not files:
        suffixes = ", ".join(WEIGHT_SUFFIXES)
        raise FileNotFoundError(f"path: no weight file ({suffixes}) under {root}")
    stamps = tuple(
        (f.relative_to(root).as_posix() if f != root else f.name, f.stat().st_size,
         f.stat().st_mtime_ns, str(f))
        for f in files
    )  # fmt: skip
    return _fingerprint(stamps)


@lru_cache(maxsize=64)
def _fingerprint(stamps: tuple[tuple[str, int, int, str], ...]) -> str:
    digest = hashlib.sha256()
    for name, _size, _mtime, full in stamps:
        digest.update(name.encode("utf-8") + b"\0")
        with open(full, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return f"sha256:{digest.hexdigest()[:DIGITS]}"


def run_provenance(task: Task) -> dict[str, str]:
    """What ``task``'s runs start from, as entries of a run's ``versions``.

    ``data``: the package and version the data set comes from (for a user's files, their
    SHA-256); ``weights``: :func:`weights_fingerprint` of the family's pretrained weights.
    A model trained from scratch has no ``weights`` entry.
    """
    found: dict[str, str] = {}
    source = task.dataset.source
    if source is not None:
        found["data"] = f"{source.package} {source.version}"
    if task.model_family.weights is not None:
        found["weights"] = weights_fingerprint(task.model_family.weights())
    return found
