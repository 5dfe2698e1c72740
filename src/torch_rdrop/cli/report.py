"""``rdrop report``: ``report.md``, ``runs.csv`` and plots from a study's finished runs, or one
report with a section per study (its one-study report serves ``rdrop demo`` too)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from torch_rdrop.bench.engine.store import display_url
from torch_rdrop.cli.common import (
    CommandError,
    StorageOpt,
    clean_errors,
    command_line,
    console,
    open_existing,
)

__all__ = ["report", "write_study_report"]


def report(
    ctx: typer.Context,
    storage: StorageOpt = "rdrop-bench.db",
    study: Annotated[
        str,
        typer.Option(
            help="Study name, or several comma-separated (grids and sweeps) for one report with "
            "a section per study."
        ),
    ] = "bench",
    out: Annotated[Path, typer.Option(help="Folder for report.md, runs.csv and the plots.")] = Path(
        "rdrop-report"
    ),
    title: Annotated[str | None, typer.Option(help="Title of a multi-study report.")] = None,
    preface: Annotated[
        Path | None,
        typer.Option(help="Markdown file placed at the top of a multi-study report (conclusions)."),
    ] = None,
    appendix: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated studies (each also in --study) written last, under "
            "'Appendix: earlier studies'."
        ),
    ] = None,
    appendix_note: Annotated[
        str | None, typer.Option(help="A paragraph placed under the appendix heading.")
    ] = None,
) -> None:
    """Write report.md, runs.csv and PNG plots from the finished runs of a study (or several)."""
    with clean_errors():
        names = [name.strip() for name in study.split(",")]
        later = [name.strip() for name in appendix.split(",")] if appendix else []
        missing = [name for name in later if name not in names]
        if missing:
            raise CommandError(f"appendix: study {missing[0]!r} is not in --study {study}")
        if appendix_note is not None and not later:
            raise CommandError("--appendix-note needs --appendix (the studies it introduces)")
        if len(names) == 1 and preface is None and title is None and not later:
            write_study_report(storage, study, out)
        else:
            heading = title or "R-Drop benchmark results"
            _write_book(storage, names, out, heading, preface, command_line(ctx),
                        later, appendix_note or "")  # fmt: skip


def _write_book(
    storage: str,
    names: list[str],
    out: Path,
    title: str,
    preface: Path | None,
    command: str,
    appendix: Sequence[str] = (),
    appendix_note: str = "",
) -> None:
    from torch_rdrop.bench.engine.store import store_errors
    from torch_rdrop.bench.report.book import load_section, write_book

    if any(not name for name in names):
        raise CommandError(f"study: expected comma-separated names, got {','.join(names)!r}")
    if preface is not None and not preface.is_file():
        raise CommandError(f"preface {str(preface)!r} is not a file")
    text = preface.read_text(encoding="utf-8") if preface is not None else ""
    url, store = open_existing(storage)
    with store_errors(url):
        sections = [load_section(store, name) for name in names]
    paths = write_book(
        sections, out, title, text, command, appendix=appendix, appendix_note=appendix_note
    )
    for section in sections:
        done = len(section.records) if section.kind == "grid" else len(section.trials)
        console.print(f"{section.study}: {section.kind}, {done} finished")
    for path in paths:
        console.print(f"wrote {path}")


def write_study_report(storage: str, study: str, out: Path) -> None:
    """The report of one grid study into ``out``, noting its store, runs, time and versions."""
    from torch_rdrop.bench.engine.store import store_errors
    from torch_rdrop.bench.report import build_report, load_runs, write_report

    url, store = open_existing(storage)
    with store_errors(url):
        records, complete = load_runs(store, study)
    notes = [
        f"Study `{study}` in `{display_url(url)}`: {len(records)} finished grid points "
        f"({complete} COMPLETE trials; {complete - len(records)} duplicates ignored).",
        f"Training time {sum(r.result.seconds for r in records):.1f} s in total.",
        "Versions: "
        + ", ".join(sorted({f"{k} {v}" for r in records for k, v in r.result.versions.items()})),
    ]
    paths = write_report(records, out, f"R-Drop benchmark: {study}", notes)
    summary = build_report(records)
    table = Table(title=f"ranking ({summary.metric})", title_justify="left")
    for name in ("rank", "arm", "average rank", "win/tie/loss vs none"):
        table.add_column(name)
    for i, (arm, (rank, _n)) in enumerate(summary.ranks.items(), 1):
        wtl = summary.win_tie_loss.get(arm)
        table.add_row(str(i), arm, f"{rank:.2f}", str(wtl) if wtl else "–")
    console.print(table)
    for path in paths:
        console.print(f"wrote {path}")
