"""The ``rdrop`` console script: the command line of :mod:`torch_rdrop.cli`, or one line saying
which extra to install when its dependencies are missing.

``pip install torch-rdrop`` gives the library alone; the command needs the ``[bench]`` extra
(typer, rich, optuna...). Without it, ``rdrop`` prints one ``error:`` line naming the install
command and exits with status 1, instead of a chained traceback.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

INSTALL = "pip install 'torch-rdrop[bench]'"


def _missing_module(error: ImportError) -> str | None:
    """The third-party module whose absence caused ``error`` (None for our own import bugs)."""
    seen: BaseException | None = error
    while seen is not None:
        name = getattr(seen, "name", None)
        if isinstance(seen, ImportError) and name:
            return None if name.split(".")[0] == "torch_rdrop" else name
        seen = seen.__cause__
    return None


def main() -> None:
    """Run ``rdrop``; exit 1 with one line if an extra's package is missing."""
    try:
        from torch_rdrop.cli import app
    except ImportError as error:
        module = _missing_module(error)
        if module is None:
            raise
        print(
            f"error: the rdrop command needs {module}, which is not installed: {INSTALL}",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    app()
