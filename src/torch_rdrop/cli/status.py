"""``rdrop status``: where a store's studies stand, one line per study or each study's runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from torch_rdrop.bench.engine.spec import TrialBackend, load_backend
from torch_rdrop.cli.common import (
    DEFAULT_BACKEND,
    BackendOpt,
    CommandError,
    StorageOpt,
    clean_errors,
    console,
    open_existing,
    rows_table,
)

if TYPE_CHECKING:
    from torch_rdrop.bench.engine.status import RunStatus, StudyStatus

__all__ = ["status"]


def _duration(seconds: float | None) -> str:
    """``'2h 05m'``, ``'4m 10s'`` or ``'-'``."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _work_left(status: StudyStatus) -> str:
    """The runs' time left and how many runs have nothing to pace them; '-' when none is left.

    >>> from torch_rdrop.bench.engine.status import RunStatus, StudyStatus
    >>> runs = (RunStatus("a", "finished", elapsed=600.0, pace=("k",)),
    ...         RunStatus("b", "missing", pace=("k",)), RunStatus("c", "missing", pace=("j",)))
    >>> _work_left(StudyStatus("s", "grid", 3, runs, 0, None))
    '10m 00s + 1 unpaced'
    """
    left = status.work_left()
    if left.unpaced and not left.seconds:
        return f"{left.unpaced} unpaced"
    if not left.seconds:
        return "-"
    return _duration(left.seconds) + (f" + {left.unpaced} unpaced" if left.unpaced else "")


def _when(moment: Any) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _status_backend(ref: str) -> TrialBackend | None:
    try:
        return load_backend(ref)
    except ValueError:
        return None  # the store is still readable: grids then count every (task, method) pair


def _overview_table(statuses: Sequence[StudyStatus]) -> Table:
    columns = ("study", "kind", "done", "of", "running", "stalled", "missing", "failed",
               "runs left", "last activity")  # fmt: skip
    rows = [
        {
            "study": s.study,
            "kind": s.kind,
            "done": s.finished,
            "of": "-" if s.total is None else s.total,
            "running": s.count("running"),
            "stalled": s.count("stalled"),
            "missing": s.missing,
            "failed": s.failed_trials,
            "runs left": _work_left(s),
            "last activity": _when(s.last_activity),
        }
        for s in statuses
    ]
    title = ("studies (failed: failed trials, each run again; runs left: the time the unfinished "
             "runs need, one after another, at the pace of the study's finished runs)")  # fmt: skip
    return rows_table(title, rows, columns, figures=True)


def _state(run: RunStatus) -> str:
    """The run's state, and for an unfinished run whose snapshot was looked for, what the next
    ``rdrop bench`` does with it (a missing run with a snapshot was stopped midway and runs
    before new ones).

    >>> from torch_rdrop.bench.engine.status import RunStatus
    >>> _state(RunStatus("a", "stalled", snapshot=True)), _state(RunStatus("a", "stalled"))
    ('stalled, resumes', 'stalled')
    >>> _state(RunStatus("a", "stalled", snapshot=False))
    'stalled, starts over'
    >>> [_state(RunStatus("a", "missing", snapshot=kept)) for kept in (True, False)]
    ['missing, resumes', 'missing']
    """
    if run.snapshot is None or run.state not in ("stalled", "missing"):
        return run.state
    if run.snapshot:
        return f"{run.state}, resumes"
    return "stalled, starts over" if run.state == "stalled" else run.state


def _runs_table(status: StudyStatus, all_runs: bool) -> Table | str:
    columns = ("run", "state", "epoch", "score", "elapsed", "left", "failures", "worker")
    rows, left_of = [], status.runs_left()
    for run in status.runs:
        if run.state == "finished" and not all_runs:
            continue
        epoch = "-" if run.epoch is None else str(run.epoch)
        if run.epochs is not None and run.state != "finished":
            epoch = f"{'0' if run.epoch is None else run.epoch}/{run.epochs}"
        rows.append({
            "run": run.label, "state": _state(run), "epoch": epoch,
            "worker": "-" if run.trial is None else f"#{run.trial} {run.worker or '?'}",
            "score": "-" if run.value is None else f"{run.value:.4f}",
            "elapsed": _duration(run.elapsed), "left": _duration(left_of.get(run.label)),
            "failures": run.failures,
        })  # fmt: skip
    total = "" if status.total is None else f" of {status.total}"
    title = (f"{status.study}: {status.finished}{total} finished, {status.count('running')} "
             f"running, {status.count('stalled')} stalled, {status.missing} missing")  # fmt: skip
    left = _work_left(status)
    if left != "-":
        title += f"; runs left: {left}"
    if not rows:
        return f"{title} (--all lists the finished runs)"
    return rows_table(title, rows, columns, figures=True)


def status(
    storage: StorageOpt = "rdrop-bench.db",
    study: Annotated[
        str | None,
        typer.Option(
            help="Study names, comma-separated: list their runs. Without it, one line per study."
        ),
    ] = None,
    all_runs: Annotated[
        bool, typer.Option("--all", help="With --study, list the finished runs too.")
    ] = False,
    backend: BackendOpt = DEFAULT_BACKEND,
    snapshots: Annotated[
        Path | None,
        typer.Option(
            help="The folder given to rdrop bench --snapshots: say whether each stalled run "
            "resumes from its snapshot or starts over, and count only what it has left."
        ),
    ] = None,
) -> None:
    """Where a store's studies stand: finished, running (epoch, score, time left), stalled
    (its worker stopped: the next bench reruns it) and missing runs. Reads only."""
    with clean_errors():
        from torch_rdrop.bench.engine.status import store_status, study_status
        from torch_rdrop.bench.engine.store import store_errors

        url, store = open_existing(storage)
        chosen = _status_backend(backend)
        with store_errors(url):
            if study is None:
                console.print(_overview_table(store_status(store, chosen, snapshots)))
                return
            names = [name.strip() for name in study.split(",")]
            if any(not name for name in names):
                raise CommandError(f"study: expected comma-separated names, got {study!r}")
            for name in names:
                found = study_status(store, name, chosen, snapshots=snapshots)
                console.print(_runs_table(found, all_runs))
