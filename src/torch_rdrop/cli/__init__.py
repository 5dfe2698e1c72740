"""The ``rdrop`` command: benchmark grids, sweeps and reports on an Optuna store.

``rdrop bench`` runs a grid (resumable; start it on several machines against one PostgreSQL URL to
share the work), ``rdrop report`` turns the finished runs into ``report.md``, ``runs.csv`` and
plots, ``rdrop status`` says where a store's studies stand, ``rdrop sweep`` tunes one method,
``rdrop tasks`` lists the benchmark tasks, ``rdrop backbone build`` pretrains a backbone made here
and ``rdrop demo`` runs a small real comparison end to end. Bad input ends with one ``error:``
line and exit status 1.

Each command lives in the module of its name (:mod:`~torch_rdrop.cli.bench`,
:mod:`~torch_rdrop.cli.report`, :mod:`~torch_rdrop.cli.status`, :mod:`~torch_rdrop.cli.sweep`,
:mod:`~torch_rdrop.cli.tasks`, :mod:`~torch_rdrop.cli.backbone` with ``build`` and ``list``,
:mod:`~torch_rdrop.cli.demo`); what several share is in :mod:`~torch_rdrop.cli.common` (consoles,
the ``error:`` line, options, tables) and :mod:`~torch_rdrop.cli.checks` (the trial backend and
the checks made before anything is stored). This module makes ``app`` and adds them to it.
"""

from __future__ import annotations

from typing import Annotated

try:
    import rich  # noqa: F401 - every command prints with it
    import typer
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the rdrop command needs typer and rich: pip install 'torch-rdrop[bench]'"
    ) from exc

import torch_rdrop
from torch_rdrop.cli import backbone, bench, demo, report, status, sweep, tasks
from torch_rdrop.cli.common import console

__all__ = ["app"]

app = typer.Typer(
    name="rdrop",
    help="R-Drop benchmark: grids, sweeps and reports on an Optuna store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"torch-rdrop {torch_rdrop.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """R-Drop benchmark: grids, sweeps and reports on an Optuna store."""


app.command()(bench.bench)
app.command()(report.report)
app.command()(status.status)
app.command()(sweep.sweep)
app.command()(tasks.tasks)
app.command()(demo.demo)
app.add_typer(backbone.backbone_app, name="backbone")
