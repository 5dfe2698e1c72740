"""The ``rdrop`` command: benchmark grids, sweeps and reports on an Optuna store.

``rdrop bench`` runs a grid (resumable; start it on several machines against one PostgreSQL URL to
share the work), ``rdrop report`` turns the finished runs into ``report.md``, ``runs.csv`` and
plots, ``rdrop status`` says where a store's studies stand, ``rdrop sweep`` tunes one method,
``rdrop tasks`` lists the benchmark tasks, ``rdrop backbone build`` pretrains a backbone made here
and ``rdrop demo`` runs a small real comparison end to end. Bad input ends with one ``error:``
line and exit status 1.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

try:
    import typer
    from rich.console import Console, Group
    from rich.live import Live
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the rdrop command needs typer and rich: pip install 'torch-rdrop[bench]'"
    ) from exc

import torch_rdrop
from torch_rdrop.bench.engine.runner import GridProgress, RunRecord
from torch_rdrop.bench.engine.spec import (
    UNSET,
    Grid,
    TrialBackend,
    load_backend,
    parse_names,
    parse_params,
    parse_seeds,
    parse_shots,
    shots_label,
)
from torch_rdrop.bench.engine.store import (
    StoreError,
    StoreOptions,
    display_url,
    open_storage,
    storage_url,
)
from torch_rdrop.bench.tasks.methods import method_names

if TYPE_CHECKING:
    from torch_rdrop.bench.engine.status import StudyStatus

__all__ = ["app"]

DEFAULT_BACKEND = "torch_rdrop.bench.tasks.trial:BACKEND"
"""The trial backend ``rdrop bench`` uses unless ``--backend`` names another."""

app = typer.Typer(
    name="rdrop",
    help="R-Drop benchmark: grids, sweeps and reports on an Optuna store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


class CommandError(Exception):
    """A message for the user; the command exits with status 1."""


@contextlib.contextmanager
def _clean_errors() -> Iterator[None]:
    """Bad input, storage trouble and missing extras become one ``error:`` line, exit 1."""
    try:
        yield
    except (ValueError, StoreError, ImportError, CommandError) as exc:
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None


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


StorageOpt = Annotated[
    str,
    typer.Option(help="Store: a SQLite file path or an SQLAlchemy URL (postgresql+psycopg://...)."),
]
StudyOpt = Annotated[str, typer.Option(help="Study name inside the store.")]
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


def _known_methods(backend: TrialBackend) -> tuple[str, ...]:
    """The registered methods, then any other method the backend runs."""
    registered = method_names()
    return registered + tuple(m for m in backend.methods if m not in registered)


def _backend(ref: str, methods: str | None = None) -> TrialBackend:
    backend = load_backend(ref)
    if methods is not None:
        chosen = parse_names(methods, _known_methods(backend), "methods")
        unsupported = [m for m in chosen if m not in backend.methods]
        if unsupported:
            raise CommandError(
                f"methods: backend {backend.name!r} does not run {', '.join(unsupported)}; "
                f"it runs {', '.join(backend.methods)}"
            )
    return backend


def _check_data(backend: TrialBackend, tasks: tuple[str, ...]) -> None:
    """Read every task's data before anything is stored; one error line for all that fail."""
    if backend.check_data is None:
        return
    problems = []
    for task in tasks:
        try:
            backend.check_data(task)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise CommandError("; ".join(problems))


def _check_shots(
    backend: TrialBackend,
    tasks: tuple[str, ...],
    shots: tuple[int | None, ...],
    params: dict[str, Any] | None = None,
    use_dev: bool = False,
) -> None:
    """Check that every task's training split gives every K (and the dev split with ``use_dev``)
    before anything is stored; one error line for all that fail."""
    if backend.check_shots is None:
        return
    problems = []
    for task in tasks:
        for k in shots:
            try:
                backend.check_shots(task, k, params or {}, use_dev)
            except ValueError as exc:
                problems.append(str(exc))
                break  # a task's first failing K is enough
    if problems:
        raise CommandError("; ".join(problems))


def _check_grid_shots(backend: TrialBackend, grid: Grid) -> None:
    """:func:`_check_shots` for every distinct setting of ``grid`` (a run's parameters can ask
    for a dev split carved from the training data)."""
    seen: set[str] = set()
    for point in grid.points():
        params = dict(point.spec().params)
        key = repr(sorted(params.items()))
        if key not in seen:
            seen.add(key)
            _check_shots(backend, grid.tasks, grid.shots, params)


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


def _command_line(ctx: typer.Context | None) -> str:
    """The command being run, as a user would type it: ``rdrop bench --tasks ...`` with every
    option that differs from its default (rebuilt from the parsed options, not ``sys.argv``),
    but ``--max-runs``: the command a report prints must fill the whole study."""
    import shlex

    if ctx is None:
        return ""
    words = ["rdrop", ctx.info_name or ""]
    for option in ctx.command.params:
        value = ctx.params.get(option.name)
        if option.param_type_name != "option" or value is None or value == option.default:
            continue
        if option.name == "max_runs":
            continue
        flag = max(option.opts, key=len)
        for item in value if isinstance(value, list | tuple) else [value]:
            words += [flag, str(item)]
    return shlex.join(words)


def _run_bench(
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
            store, study, grid, backend, on_progress=on_progress, command=_command_line(ctx),
            snapshots=snapshots, snapshot_seconds=60 * snapshot_minutes, max_runs=max_runs,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    console.line()
    console.print(f"{len(records)} runs finished in the study; this command took {seconds:.1f} s")
    return records


@app.command()
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
    with _clean_errors():
        chosen = _backend(backend, methods)
        grid = Grid(
            tasks=chosen.parse_tasks(tasks),
            methods=parse_names(methods, chosen.methods, "methods"),
            seeds=parse_seeds(seeds),
            shots=parse_shots(shots),
            params=parse_params(param or [], methods=_known_methods(chosen)),
            applies=chosen.applies,
        )
        _check_data(chosen, grid.tasks)
        _check_trials(chosen, grid)
        _check_grid_shots(chosen, grid)
        options = StoreOptions(heartbeat_interval=heartbeat_interval, grace_period=grace_period)
        _run_bench(chosen, grid, storage, study, options, ctx, snapshots, snapshot_minutes,
                   max_runs)  # fmt: skip


@app.command()
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
    with _clean_errors():
        names = [name.strip() for name in study.split(",")]
        later = [name.strip() for name in appendix.split(",")] if appendix else []
        missing = [name for name in later if name not in names]
        if missing:
            raise CommandError(f"appendix: study {missing[0]!r} is not in --study {study}")
        if appendix_note is not None and not later:
            raise CommandError("--appendix-note needs --appendix (the studies it introduces)")
        if len(names) == 1 and preface is None and title is None and not later:
            _write_report(storage, study, out)
        else:
            heading = title or "R-Drop benchmark results"
            _write_book(storage, names, out, heading, preface, _command_line(ctx),
                        later, appendix_note or "")  # fmt: skip


def _open_existing(storage: str) -> tuple[str, Any]:
    url = storage_url(storage)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        raise CommandError(f"storage {display_url(url)} does not exist: run `rdrop bench` first")
    return url, open_storage(url)


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
    url, store = _open_existing(storage)
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


def _write_report(storage: str, study: str, out: Path) -> None:
    from torch_rdrop.bench.engine.store import store_errors
    from torch_rdrop.bench.report.grid import build_report, load_runs, write_report

    url, store = _open_existing(storage)
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


def _duration(seconds: float | None) -> str:
    """``'2h 05m'``, ``'4m 10s'`` or ``'-'``."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _when(moment: Any) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _status_backend(ref: str) -> TrialBackend | None:
    try:
        return load_backend(ref)
    except ValueError:
        return None  # the store is still readable: grids then count every (task, method) pair


def _overview_table(statuses: Sequence[StudyStatus]) -> Table:
    columns = ("study", "kind", "done", "of", "running", "stalled", "missing", "failed",
               "last activity")  # fmt: skip
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
            "last activity": _when(s.last_activity),
        }
        for s in statuses
    ]
    return _table("studies (failed: failed trials, each run again)", rows, columns, figures=True)


def _runs_table(status: StudyStatus, all_runs: bool) -> Table | str:
    columns = ("run", "state", "epoch", "score", "elapsed", "left", "failures", "worker")
    rows = []
    for run in status.runs:
        if run.state == "finished" and not all_runs:
            continue
        epoch = "-" if run.epoch is None else str(run.epoch)
        if run.epochs is not None and run.state != "finished":
            epoch = f"{'0' if run.epoch is None else run.epoch}/{run.epochs}"
        rows.append({
            "run": run.label, "state": run.state, "epoch": epoch,
            "worker": "-" if run.trial is None else f"#{run.trial} {run.worker or '?'}",
            "score": "-" if run.value is None else f"{run.value:.4f}",
            "elapsed": _duration(run.elapsed), "left": _duration(run.seconds_left),
            "failures": run.failures,
        })  # fmt: skip
    total = "" if status.total is None else f" of {status.total}"
    title = (f"{status.study}: {status.finished}{total} finished, {status.count('running')} "
             f"running, {status.count('stalled')} stalled, {status.missing} missing")  # fmt: skip
    if not rows:
        return f"{title} (--all lists the finished runs)"
    return _table(title, rows, columns, figures=True)


@app.command()
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
) -> None:
    """Where a store's studies stand: finished, running (epoch, score, time left), stalled
    (its worker stopped: the next bench reruns it) and missing runs. Reads only."""
    with _clean_errors():
        from torch_rdrop.bench.engine.status import store_status, study_status
        from torch_rdrop.bench.engine.store import store_errors

        url, store = _open_existing(storage)
        chosen = _status_backend(backend)
        # piped into a file or a log, the tables keep whole lines instead of 80 columns
        out = console if console.is_terminal else Console(width=160, highlight=False)
        with store_errors(url):
            if study is None:
                out.print(_overview_table(store_status(store, chosen)))
                return
            names = [name.strip() for name in study.split(",")]
            if any(not name for name in names):
                raise CommandError(f"study: expected comma-separated names, got {study!r}")
            for name in names:
                out.print(_runs_table(study_status(store, name, chosen), all_runs))


@app.command()
def sweep(
    ctx: typer.Context,
    task: Annotated[
        str, typer.Option(help="The task to tune on (a name, DATASET-FAMILY or a task file).")
    ] = "digits-mlp",
    method: Annotated[str, typer.Option(help="The method to tune.")] = "rdrop",
    seeds: Annotated[str, typer.Option(help="Seeds each trial trains on.")] = "0-2",
    shots: Annotated[str, typer.Option(help="K per class (one value).")] = "16",
    trials: Annotated[int, typer.Option(help="Finished trials the study should hold.")] = 20,
    param: ParamOpt = None,
    storage: StorageOpt = "rdrop-sweep.db",
    study: Annotated[
        str | None, typer.Option(help="Study name [default: sweep-TASK-METHOD].")
    ] = None,
    backend: BackendOpt = DEFAULT_BACKEND,
    heartbeat_interval: HeartbeatOpt = 10,
    grace_period: GraceOpt = 30,
) -> None:
    """Tune a method's main hyper-parameters (TPE, median pruning on the per-epoch dev metric)."""
    from torch_rdrop.bench.engine.store import store_errors
    from torch_rdrop.bench.engine.sweep import SweepSummary, run_sweep

    with _clean_errors():
        chosen = _backend(backend, method)
        names = chosen.parse_tasks(task)
        if len(names) != 1:
            raise CommandError(f"task: a sweep tunes on one task, got {task!r}")
        task_name = names[0]
        k = parse_shots(shots)
        if len(k) != 1:
            raise CommandError(f"shots: a sweep takes one K, got {shots!r}")
        fixed: dict[str, Any] = {}
        for setting in parse_params(param or [], methods=_known_methods(chosen)):
            if len(setting.values) != 1 or setting.method not in (None, method):
                raise CommandError(
                    f"param: a sweep takes fixed NAME=VALUE for {method}, got {setting}"
                )
            if setting.values[0] == UNSET:
                raise CommandError(
                    f"param: a sweep searches every setting it is not given; leave "
                    f"{setting.name} out instead of setting it to {UNSET!r}"
                )
            fixed[setting.name] = setting.values[0]
        name = study or f"sweep-{task_name}-{method}"
        _check_data(chosen, (task_name,))
        _check_shots(chosen, (task_name,), k, fixed, use_dev=True)
        url = storage_url(storage)
        options = StoreOptions(heartbeat_interval=heartbeat_interval, grace_period=grace_period)

        def on_trial(summary: SweepSummary) -> None:
            best = "–" if summary.best_value is None else f"{summary.best_value:.4f}"
            console.print(
                f"trials: {summary.complete} complete, {summary.pruned} pruned; best dev {best}"
            )

        with store_errors(url):
            summary = run_sweep(
                open_storage(url, options),
                name,
                chosen,
                task=task_name,
                method=method,
                shots=k[0],
                seeds=parse_seeds(seeds),
                n_trials=trials,
                fixed=fixed,
                on_trial=on_trial,
                command=_command_line(ctx),
            )
        table = Table(title=f"sweep {name!r}: best trials (mean dev metric)", title_justify="left")
        for column in ("trial", "value", "params"):
            table.add_column(column)
        for number, value, params in summary.top:
            shown = " ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
            )
            table.add_row(str(number), f"{value:.4f}", shown)
        console.print(table)
        if summary.best_params:
            flags = " ".join(f"-p {method}.{k}={v:.4g}" for k, v in summary.best_params.items())
            console.print(f"benchmark the best: rdrop bench --methods none,{method} {flags}")


def _table(
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


@app.command()
def tasks(
    load: Annotated[bool, typer.Option(help="Read each data set for its size and classes.")] = True,
    tasks: Annotated[
        str | None,
        typer.Option(
            help="Show only these tasks (names, DATASET-FAMILY or task files), with their recipe."
        ),
    ] = None,
) -> None:
    """List what is registered: data sets, model families, tasks, methods and metrics."""
    with _clean_errors():
        from torch_rdrop.bench.tasks import DATASETS, FAMILIES, METHODS, METRICS, task_rows

        if tasks is not None:
            _show_tasks(load_backend(DEFAULT_BACKEND).parse_tasks(tasks), load)
            return
        datasets = [
            {"name": d.name, "kind": d.kind, "language": d.language, "metric": d.metric,
             "source": d.source.package if d.source else "-", "area": d.area}
            for d in DATASETS.values()
        ]  # fmt: skip
        console.print(_table("data sets", datasets, ("name", "kind", "language", "metric",
                                                     "source", "area")))  # fmt: skip
        families = [
            {"name": f.name, "model": f.description, "kinds": ", ".join(f.kinds),
             "reads": f.inputs + ("" if f.languages is None else f" ({', '.join(f.languages)})"),
             "recipe": "fit/predict" if not f.trainable else
             f"{f.epochs} epochs, batch {f.batch_size}, lr {f.lr:g}, dropout {f.dropout:g}"}
            for f in FAMILIES.values()
        ]  # fmt: skip
        console.print(_table("model families", families, ("name", "model", "kinds", "reads",
                                                          "recipe")))  # fmt: skip
        columns = ("name", "kind", "language", "model", "source", "size", "classes", "metric",
                   "licence")  # fmt: skip
        console.print(_table("benchmark tasks", task_rows(load=load), columns))
        console.print(
            "Any data set with a model family that reads it is a task too: DATASET-FAMILY "
            "(e.g. mr-lstm); `--tasks all` runs the tasks listed above."
        )
        from torch_rdrop.bench.tasks.recipes import recipe_rows

        if rows := recipe_rows():
            console.print(_table("recipes chosen on dev (used unless a run sets its own)",
                                 rows, tuple(rows[0])))  # fmt: skip
        methods = [
            {"name": m.name, "kinds": ", ".join(m.kinds), "description": m.description,
             "sweep searches": ", ".join(r.name for r in m.search_space)}
            for m in METHODS.values()
        ]  # fmt: skip
        console.print(_table("methods", methods, ("name", "kinds", "description",
                                                  "sweep searches")))  # fmt: skip
        metrics = [
            {"name": m.name, "better": "higher" if m.higher_is_better else "lower"}
            for m in METRICS.values()
        ]
        console.print(_table("metrics", metrics, ("name", "better")))


def _show_tasks(names: tuple[str, ...], load: bool) -> None:
    """The ``rdrop tasks --tasks ...`` table: each task's data, model, metric and recipe."""
    from torch_rdrop.bench.tasks import get_task, task_rows

    rows = task_rows(names, load=load)
    for row in rows:
        task = get_task(row["name"])
        row["recipe"] = (
            f"{task.epochs} epochs, batch {task.batch_size}, lr {task.lr:g}, "
            f"dropout {task.dropout:g}"
        )
        row["better"] = "higher" if task.higher_is_better else "lower"
        row["task file"] = task.origin or "-"
    columns = ("name", "kind", "language", "model", "source", "size", "classes", "metric",
               "better", "recipe", "task file")  # fmt: skip
    console.print(_table("tasks", rows, columns))


backbone_app = typer.Typer(
    help="Backbones pretrained here (a language model kept as a checkpoint folder): build, list.",
    no_args_is_help=True,
)
app.add_typer(backbone_app, name="backbone")


@backbone_app.command("build")
def backbone_build(
    name: Annotated[str, typer.Argument(help="The backbone (rdrop backbone list).")],
    epochs: Annotated[int | None, typer.Option(help="Epochs [default: the recipe's].")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate [default: the recipe's].")] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Batch size [default: the recipe's].")
    ] = None,
    dropout: Annotated[float | None, typer.Option(help="Dropout [default: the recipe's].")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the init and the dev slice.")] = None,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads [default: the recipe's].")
    ] = None,
    dev_lines: Annotated[
        int | None, typer.Option(help="Training lines held out for the dev perplexity.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder to write [default: the backbone's folder].")
    ] = None,
    snapshot: Annotated[
        Path | None,
        typer.Option(
            help="File where the training state is saved every 5 minutes of training; the same "
            "command run again after a stop resumes from it (removed once the backbone is "
            "trained)."
        ),
    ] = None,
) -> None:
    """Pretrain a backbone and write its checkpoint folder (model, tokenizer, provenance.json)."""
    with _clean_errors():
        import dataclasses

        from torch_rdrop.bench.tasks import check_data
        from torch_rdrop.bench.tasks.backbone import (
            backbone_dir,
            build_backbone,
            get_backbone,
            read_provenance,
        )

        backbone = get_backbone(name)
        given = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "dropout": dropout,
                 "seed": seed, "threads": threads, "dev_lines": dev_lines}  # fmt: skip
        recipe = dataclasses.replace(
            backbone.recipe, **{k: v for k, v in given.items() if v is not None}
        )
        folder = out if out is not None else backbone_dir(name)
        shown = ", ".join(f"{k} {v}" for k, v in dataclasses.asdict(recipe).items())
        console.print(f"pretraining {name} on {backbone.lm_task} ({shown}) -> {folder}")
        check_data(backbone.lm_task)

        def on_epoch(epoch: int, value: float, values: Any) -> None:
            console.print(f"epoch {epoch + 1}/{recipe.epochs}: dev perplexity {value:.2f}")

        written = build_backbone(name, recipe, out, on_epoch, snapshot)
        record = read_provenance(written) or {}
        console.print(
            f"dev perplexity untrained {record.get('dev_perplexity_untrained', float('nan')):.1f}, "
            f"best epoch {record.get('best_epoch')}; test perplexity "
            f"{record.get('test_perplexity', float('nan')):.2f}"
        )
        console.print(f"wrote {written}")


@backbone_app.command("list")
def backbone_list() -> None:
    """The backbones: folder, built or not, the perplexities recorded when they were built."""
    with _clean_errors():
        from torch_rdrop.bench.tasks.backbone import backbone_rows

        columns = ("name", "built", "dev perplexity", "test perplexity", "built on", "folder",
                   "tasks")  # fmt: skip
        console.print(_table("backbones", backbone_rows(), columns))


#: The demo's task: MR movie-review sentiment with the pretrained MiniLM-L6 at K = 16, with its
#: budget recipe chosen on dev (at most 15 epochs: ``recipe=budget``), next to TF-IDF + logistic
#: regression fitted on the same rows. (The MLP on the digits is as fast but only level with its
#: reference at K = 16.)
DEMO_TASKS = "mr-minilm"
DEMO_METHODS = ("none", "rdrop")
#: The demo's default number of worker processes (at most one per CPU thread): two one-thread
#: MiniLM runs side by side finish sooner than the same runs one after another on two threads.
DEMO_WORKERS = 2


@app.command()
def demo(
    storage: StorageOpt = "rdrop-demo.db",
    out: Annotated[Path, typer.Option(help="Folder for the report.")] = Path("demo-report"),
    tasks: Annotated[str, typer.Option(help="Comma-separated task names.")] = DEMO_TASKS,
    seeds: Annotated[str, typer.Option(help="Seeds.")] = "0-1",
    shots: Annotated[int, typer.Option(help="K examples per class (and K more for dev).")] = 16,
    epochs: Annotated[
        int | None, typer.Option(help="Training epochs per run (default: each task's recipe).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes sharing the CPU threads (default: 2, or 1 on 1 thread)."
        ),
    ] = None,
) -> None:
    """A real few-shot comparison of none and rdrop, next to each task's reference model.

    Each task trains with its recipe chosen on dev, under an epoch budget where one is recorded
    (K more examples per class form the dev split; the checkpoint with the best dev score is
    scored on test). The reference model of each data set (TF-IDF + logistic regression,
    logistic regression on the pixels, ...) is fitted on the same K-shot split, and the report's
    first table says whether each model beat it. The runs share the CPU threads torch was given
    between ``workers`` processes (this one and ``rdrop bench`` helpers on the same store).
    """
    with _clean_errors():
        import torch

        from torch_rdrop.bench.engine.workers import (
            finish_bench_workers,
            start_bench_workers,
            stop_bench_workers,
        )
        from torch_rdrop.bench.tasks.reference.score import reference_task

        backend = _backend(DEFAULT_BACKEND, ",".join(DEMO_METHODS))
        chosen = backend.parse_tasks(tasks)
        references = tuple(r for r in dict.fromkeys(map(reference_task, chosen)) if r not in chosen)
        threads = torch.get_num_threads()
        count = min(DEMO_WORKERS, threads) if workers is None else workers
        if count < 1:
            raise ValueError(f"--workers must be >= 1, got {count}")
        params = [f"threads={max(1, threads // count)}", "select=best", f"dev_shots={shots}"]
        params += ["recipe=budget"]
        params += [f"epochs={epochs}"] if epochs is not None else []
        grid = Grid(
            tasks=chosen + references,
            methods=DEMO_METHODS,
            seeds=parse_seeds(seeds),
            shots=parse_shots(str(shots)),
            params=parse_params(params),
            applies=backend.applies,
        )
        _check_data(backend, grid.tasks)
        _check_grid_shots(backend, grid)
        same_grid = ["--tasks", ",".join(grid.tasks), "--methods", ",".join(DEMO_METHODS),
                     "--seeds", seeds, "--shots", str(shots), "--storage", storage,
                     "--study", "demo"]  # fmt: skip
        same_grid += [arg for p in params for arg in ("--param", p)]
        helpers = start_bench_workers(same_grid, count - 1)
        try:
            _run_bench(backend, grid, storage, "demo", StoreOptions())
            finish_bench_workers(helpers)
        finally:
            stop_bench_workers(helpers)
        _write_report(storage, "demo", out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
