"""``rdrop bench``: run a grid into an Optuna study, with a live progress bar and results table
(its run machinery serves ``rdrop demo`` too)."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from torch_rdrop.bench.engine.axes import (
    parse_names,
    parse_params,
    parse_seeds,
    parse_shots,
    shots_label,
)
from torch_rdrop.bench.engine.grid import Grid
from torch_rdrop.bench.engine.runner import GridProgress, RunRecord
from torch_rdrop.bench.engine.spec import TrialBackend
from torch_rdrop.bench.engine.store import StoreOptions, display_url, open_storage, storage_url
from torch_rdrop.bench.tasks.methods import method_names
from torch_rdrop.cli.checks import check_data, check_grid_shots, known_methods, trial_backend
from torch_rdrop.cli.common import (
    DEFAULT_BACKEND,
    BackendOpt,
    CommandError,
    GraceOpt,
    HeartbeatOpt,
    ParamOpt,
    StorageOpt,
    clean_errors,
    command_line,
    console,
)

__all__ = ["bench", "run_bench"]

StudyOpt = Annotated[str, typer.Option(help="Study name inside the store.")]


def _check_trials(backend: TrialBackend, grid: Grid) -> None:
    """Check every distinct run of ``grid`` (seeds and K aside) before anything is stored; one
    error line naming each different problem once."""
    if backend.check_trial is None:
        return
    problems: dict[str, str] = {}
    seen: set[tuple[str, str, str]] = set()
    for point in grid.points():
        spec = point.spec()
        key = (spec.task, spec.method, repr(sorted(spec.params.items())))
        if key in seen:
            continue
        seen.add(key)
        try:
            backend.check_trial(spec)
        except ValueError as exc:
            problems.setdefault(str(exc), f"{spec.task}/{spec.method}: {exc}")
    if problems:
        raise CommandError("; ".join(problems.values()))


def _results_table(records: list[RunRecord], limit: int = 24) -> Table:
    """Mean ± std and n per task, K and method (the live table of ``rdrop bench``)."""
    from torch_rdrop.bench.report.grid import arm_label, arm_params

    named = arm_params(records)
    cells: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for record in records:
        group = (record.point.task, shots_label(record.point.shots), arm_label(record, named))
        cells[group].append(record.result.value)
    shared = {record.result.metric for record in records}
    metric = shared.pop() if len(shared) == 1 else "value (each task's metric)"
    table = Table(title="finished runs", title_justify="left")
    for name in ("task", "K", "method", "n", metric):
        table.add_column(name, justify="right" if name in ("K", "n", metric) else "left")
    for (task, shots, arm), values in sorted(cells.items())[:limit]:
        mean = sum(values) / len(values)
        std = (
            (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
            if len(values) > 1
            else 0.0
        )
        table.add_row(task, shots, arm, str(len(values)), f"{mean:.4f} ± {std:.4f}")
    if len(cells) > limit:
        table.caption = f"... and {len(cells) - limit} more rows (see rdrop report)"
    return table


def run_bench(
    backend: TrialBackend,
    grid: Grid,
    storage: str,
    study: str,
    options: StoreOptions,
    ctx: typer.Context | None = None,
    snapshots: Path | None = None,
    snapshot_minutes: float = 5.0,
    max_runs: int | None = None,
) -> list[RunRecord]:
    """Run ``grid`` into ``study`` of ``storage`` (its runs left to do, with a live progress bar
    and table); return every finished run of the study."""
    from torch_rdrop.bench.engine.runner import run_grid

    url = storage_url(storage)
    store = open_storage(url, options)
    progress = Progress(
        TextColumn("[bold]grid"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("running elsewhere: {task.fields[running]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )
    bar: dict[str, Any] = {}
    live = Live(Group(progress, Table()), console=console, refresh_per_second=4, transient=False)

    def on_progress(state: GridProgress) -> None:
        running = len(state.running)
        if "id" not in bar:  # start counting at what is already done, so ETA is for this run
            bar["id"] = progress.add_task(
                "grid", total=state.total, completed=state.done, running=running
            )
        progress.update(bar["id"], completed=state.done, running=running)
        live.update(Group(progress, _results_table(list(state.finished.values()))))

    console.print(
        f"grid: {len(grid.points())} runs ({', '.join(grid.tasks)} x {', '.join(grid.methods)} x "
        f"K {', '.join(shots_label(s) for s in grid.shots)} x {len(grid.seeds)} seeds) -> "
        f"study {study!r} in {display_url(url)}"
    )
    skipped = [f"{m} on {t}" for t in grid.tasks for m in grid.methods if grid.applies is not None
               and not grid.applies(t, m)]  # fmt: skip
    if skipped:
        console.print(f"skipped (the method does not apply to the task): {', '.join(skipped)}")
    from torch_rdrop.bench.engine.store import store_errors

    start = time.perf_counter()
    with store_errors(url), live:
        records = run_grid(
            store, study, grid, backend, on_progress=on_progress, command=command_line(ctx),
            snapshots=snapshots, snapshot_seconds=60 * snapshot_minutes, max_runs=max_runs,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    console.line()
    console.print(f"{len(records)} runs finished in the study; this command took {seconds:.1f} s")
    return records


def bench(
    ctx: typer.Context,
    tasks: Annotated[
        str, typer.Option(help="Tasks: names, DATASET-FAMILY or task files; or 'all'.")
    ] = "digits-mlp",
    methods: Annotated[
        str, typer.Option(help=f"Comma-separated, from: {', '.join(method_names())}; or 'all'.")
    ] = "none,rdrop",
    seeds: Annotated[str, typer.Option(help="Seeds: '0-4', '0,2,5' or a mix.")] = "0-4",
    shots: Annotated[str, typer.Option(help="K per class: '16', '8,16,full'.")] = "16",
    param: ParamOpt = None,
    storage: StorageOpt = "rdrop-bench.db",
    study: StudyOpt = "bench",
    backend: BackendOpt = DEFAULT_BACKEND,
    heartbeat_interval: HeartbeatOpt = 10,
    grace_period: GraceOpt = 30,
    snapshots: Annotated[
        Path | None,
        typer.Option(
            help="Folder where each run saves its training state as it goes; a run stopped midway "
            "(killed, machine restarted) resumes from its last snapshot when the command is run "
            "again, with the numbers it would have had. Off by default."
        ),
    ] = None,
    snapshot_minutes: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="With --snapshots: write a run's snapshot once this many minutes of training "
            "passed since the last one, within an epoch or after it (and after its last epoch).",
        ),
    ] = 5.0,
    max_runs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Start at most this many runs, then exit without waiting for other workers "
            "(the rest of the grid stays for them or a later command). Default: the whole grid.",
        ),
    ] = None,
) -> None:
    """Run a benchmark grid (task x method x K x seed); re-running resumes where it stopped."""
    with clean_errors():
        chosen = trial_backend(backend, methods)
        grid = Grid(
            tasks=chosen.parse_tasks(tasks),
            methods=parse_names(methods, chosen.methods, "methods"),
            seeds=parse_seeds(seeds),
            shots=parse_shots(shots),
            params=parse_params(param or [], methods=known_methods(chosen)),
            applies=chosen.applies,
        )
        check_data(chosen, grid.tasks)
        _check_trials(chosen, grid)
        check_grid_shots(chosen, grid)
        options = StoreOptions(heartbeat_interval=heartbeat_interval, grace_period=grace_period)
        run_bench(chosen, grid, storage, study, options, ctx, snapshots, snapshot_minutes,
                   max_runs)  # fmt: skip
