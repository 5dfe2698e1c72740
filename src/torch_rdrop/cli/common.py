"""What the ``rdrop`` commands share: the consoles, the ``error:`` line, the options several
commands take, the command line a report records, opening a store that must exist, and tables."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from torch_rdrop.bench.engine.store import StoreError, display_url, open_storage, storage_url

__all__ = [
    "DEFAULT_BACKEND",
    "BackendOpt",
    "CommandError",
    "GraceOpt",
    "HeartbeatOpt",
    "ParamOpt",
    "StorageOpt",
    "clean_errors",
    "command_line",
    "console",
    "errors",
    "open_existing",
    "rows_table",
]

DEFAULT_BACKEND = "torch_rdrop.bench.tasks.trial:BACKEND"
"""The trial backend ``rdrop bench`` uses unless ``--backend`` names another."""

#: The width of what a command prints into a file or a pipe, so that a log keeps a table's lines
#: whole; a terminal's own width is used there, and ``COLUMNS`` overrides both.
PIPED_WIDTH = 160


def _console(stderr: bool = False) -> Console:
    piped = not Console(stderr=stderr).is_terminal and "COLUMNS" not in os.environ
    return Console(stderr=stderr, highlight=False, width=PIPED_WIDTH if piped else None)


console = _console()
errors = _console(stderr=True)


class CommandError(Exception):
    """A message for the user; the command exits with status 1."""


@contextlib.contextmanager
def clean_errors() -> Iterator[None]:
    """Bad input, storage trouble and missing extras become one ``error:`` line, exit 1."""
    try:
        yield
    except (ValueError, StoreError, ImportError, CommandError) as exc:
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None


StorageOpt = Annotated[
    str,
    typer.Option(help="Store: a SQLite file path or an SQLAlchemy URL (postgresql+psycopg://...)."),
]
BackendOpt = Annotated[
    str, typer.Option(help="Trial backend as package.module:ATTRIBUTE.", show_default=True)
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        help=(
            "[METHOD.]NAME=VALUE[,VALUE...]; several values make a grid axis; the value "
            "'default' leaves the setting unset. Repeatable."
        ),
    ),
]
HeartbeatOpt = Annotated[int, typer.Option(help="Seconds between a worker's heartbeats.")]
GraceOpt = Annotated[
    int, typer.Option(help="Seconds without heartbeat before a run is declared dead and redone.")
]


def command_line(ctx: typer.Context | None) -> str:
    """The command being run, as a user would type it: ``rdrop bench --tasks ...`` with every
    option that differs from its default (rebuilt from the parsed options, not ``sys.argv``).
    The store keeps its portable form (``torch_rdrop.bench.engine.store.portable_command``)."""
    import shlex

    if ctx is None:
        return ""
    words = ["rdrop", ctx.info_name or ""]
    for option in ctx.command.params:
        value = ctx.params.get(option.name)
        if option.param_type_name != "option" or value is None or value == option.default:
            continue
        flag = max(option.opts, key=len)
        for item in value if isinstance(value, list | tuple) else [value]:
            words += [flag, str(item)]
    return shlex.join(words)


def open_existing(storage: str) -> tuple[str, Any]:
    """The URL and the opened storage of ``storage``; an error when its SQLite file is missing."""
    url = storage_url(storage)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        raise CommandError(f"storage {display_url(url)} does not exist: run `rdrop bench` first")
    return url, open_storage(url)


def rows_table(
    title: str, rows: list[dict[str, Any]], columns: tuple[str, ...], figures: bool = False
) -> Table:
    """Rows as a table; with ``figures``, only the first column (names) folds and the others
    (figures) stay on one line."""
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        if figures and i > 0:
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, overflow="fold", ratio=1 if figures else None,
                             min_width=16 if figures else None)  # fmt: skip
    for row in rows:
        table.add_row(*(str(row.get(c, "")) for c in columns))
    return table
