"""Run a benchmark grid as an Optuna study: resumable, shared by any number of workers.

A :class:`~torch_rdrop.bench.engine.grid.Grid` becomes a study driven by ``GridSampler`` over its
axes (task, method, seed, shots, and hyper-parameters given several values). Each trial stores the
:class:`~torch_rdrop.bench.engine.grid.GridPoint` it ran (``key``), its fixed hyper-parameters and
the :class:`~torch_rdrop.bench.engine.spec.TrialResult`; per-epoch values go through
``trial.report`` so ``optuna-dashboard`` draws the learning curves.

Guarantees, whatever the number of workers and however often the command is re-run:

- a point with a COMPLETE trial is never run again (re-running a finished grid runs nothing);
- a point that another live worker is running is not started twice (``GridSampler`` can hand the
  same point to two workers: the later trial is pruned, marked ``duplicate_of``);
- a point whose worker died is run again once its heartbeat is older than the grace period;
- :func:`finished_runs` keeps one COMPLETE trial per point (the first), so nothing counts twice;
- with ``snapshots`` (a directory) and a resumable backend, a point run again after its worker
  died resumes from the last snapshot of its training state instead of from scratch.

>>> import tempfile
>>> from torch_rdrop.bench.engine.axes import parse_params
>>> from torch_rdrop.bench.engine.grid import Grid
>>> from torch_rdrop.bench.engine.spec import TrialBackend, TrialResult
>>> from torch_rdrop.bench.engine.store import open_storage, storage_url
>>> def toy(spec, on_epoch=None):  # any trial function: here, a score made of the seed
...     return TrialResult("score", {"score": spec.data_seed / 10}, {}, 0.0, 0.0, {})
>>> backend = TrialBackend("toy", ("toy",), ("none", "rdrop"), toy)
>>> storage = open_storage(storage_url(tempfile.mkdtemp() + "/runs.db"))
>>> grid = Grid(("toy",), ("none", "rdrop"), (0, 1), (4,), parse_params(["epochs=1"]))
>>> runs = run_grid(storage, "doc", grid, backend)
>>> [(r.point.label, r.result.value) for r in runs][:2]
[('toy/none/K=4/seed=0 epochs=1', 0.0), ('toy/none/K=4/seed=1 epochs=1', 0.1)]
>>> len(run_grid(storage, "doc", grid, backend))  # resumed: nothing runs again
4
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import socket
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch_rdrop.bench.engine.axes import ParamSetting, shots_label
from torch_rdrop.bench.engine.grid import Grid, GridPoint
from torch_rdrop.bench.engine.spec import REPLAYED, SnapshotFile, TrialBackend, TrialResult
from torch_rdrop.bench.engine.store import import_optuna, remember_command

if TYPE_CHECKING:
    import optuna

__all__ = [
    "GridProgress",
    "RunRecord",
    "finished_runs",
    "grid_from_record",
    "grid_progress",
    "load_grid_study",
    "run_grid",
    "snapshot_file",
]


@dataclass(frozen=True)
class RunRecord:
    """One finished grid point as read back from the store."""

    point: GridPoint
    trial_number: int
    result: TrialResult


@dataclass(frozen=True)
class GridProgress:
    """Where a grid stands: finished runs, points running somewhere, points not started."""

    total: int
    finished: Mapping[str, RunRecord]
    running: frozenset[str]
    missing: tuple[GridPoint, ...] = field(default=())

    @property
    def done(self) -> int:
        """How many points of the grid have a result."""
        return len(self.finished)


def finished_runs(trials: Iterable[optuna.trial.FrozenTrial]) -> dict[str, RunRecord]:
    """The first COMPLETE trial of every point, by point key (later duplicates are ignored)."""
    optuna = import_optuna()
    out: dict[str, RunRecord] = {}
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    for trial in sorted(complete, key=lambda t: t.number):
        attrs = trial.user_attrs
        key = attrs.get("key")
        if key is None or "result" not in attrs or key in out:
            continue
        point = GridPoint.from_json(attrs["point"])
        out[key] = RunRecord(point, trial.number, TrialResult.from_json(attrs["result"]))
    return out


def grid_progress(study: optuna.Study, points: Sequence[GridPoint]) -> GridProgress:
    """Read the study once and sort the grid's points into finished / running / missing."""
    optuna = import_optuna()
    trials = study.get_trials(deepcopy=False)
    wanted = {p.key for p in points}
    finished = {k: r for k, r in finished_runs(trials).items() if k in wanted}
    running = frozenset(
        t.user_attrs["key"]
        for t in trials
        if t.state == optuna.trial.TrialState.RUNNING and t.user_attrs.get("key") in wanted
    )
    missing = tuple(p for p in points if p.key not in finished)
    return GridProgress(len(points), finished, running, missing)


def _claimed_elsewhere(study: optuna.Study, number: int, key: str) -> int | None:
    """The number of another trial that finished ``key`` or is running it, else ``None``.

    Every trial writes its key before it looks, and yields to any other that holds the key, so
    two workers handed the same point never both run it: for both to run, each would have to
    look before the other wrote. (Both may yield; the point is then still missing and is queued
    again.) Yielding only to older trials left that window open: a newer trial that looked
    before the older one wrote its key ran beside it.
    """
    optuna = import_optuna()
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING)
    for trial in study.get_trials(deepcopy=False, states=states):
        if trial.number != number and trial.user_attrs.get("key") == key:
            return trial.number
    return None


def _unordered_params(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` with its ``-p`` settings sorted: their order on the command line changes no run.

    >>> a = {"seeds": [0], "params": [{"method": None, "name": "lr", "values": [1]},
    ...                               {"method": "rdrop", "name": "alpha", "values": [4]}]}
    >>> b = {"seeds": [0], "params": a["params"][::-1]}
    >>> _unordered_params(a) == _unordered_params(b)
    True
    """
    params = record.get("params", [])
    return {**record, "params": sorted(params, key=lambda s: (s["method"] or "", s["name"]))}


def _grid_record(grid: Grid) -> dict[str, Any]:
    return {
        "tasks": list(grid.tasks),
        "methods": list(grid.methods),
        "seeds": list(grid.seeds),
        "shots": [shots_label(s) for s in grid.shots],
        "params": [
            {"method": s.method, "name": s.name, "values": list(s.values)} for s in grid.params
        ],
    }


def grid_from_record(
    record: Mapping[str, Any], applies: Callable[[str, str], bool] | None = None
) -> Grid:
    """The :class:`Grid` a study stored when it was created (its ``grid`` attribute).

    >>> record = {"tasks": ["digits-mlp"], "methods": ["none", "rdrop"], "seeds": [0, 1],
    ...           "shots": ["full", 16], "params": [
    ...               {"method": "rdrop", "name": "alpha", "values": [1, 4]}]}
    >>> len(grid_from_record(record).points())  # none: 2 seeds x 2 K; rdrop: x 2 alphas
    12
    """
    shots = tuple(None if s == "full" else int(s) for s in record["shots"])
    params = tuple(
        ParamSetting(p["name"], tuple(p["values"]), p["method"]) for p in record["params"]
    )
    return Grid(
        tuple(record["tasks"]),
        tuple(record["methods"]),
        tuple(record["seeds"]),
        shots,
        params,
        applies=applies,
    )


def load_grid_study(
    storage: optuna.storages.BaseStorage, study_name: str, grid: Grid, backend: TrialBackend
) -> optuna.Study:
    """Create the grid study, or load it, checking it holds the same grid of the same backend.

    A new study minimises when every task's metric is lower-is-better (``backend``'s
    ``greater_is_better``), else maximises (the grid sampler ignores it; the dashboard shows it).
    (Optuna fixes each parameter's choices per study, so a grid cannot grow in place: a larger
    grid is a new study, and the report reads one study.)
    """
    optuna = import_optuna()
    sampler = optuna.samplers.GridSampler(grid.search_space(), seed=0)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        sampler=sampler,
        direction="maximize" if any(map(backend.higher_is_better, grid.tasks)) else "minimize",
        load_if_exists=True,
    )
    attrs = study.user_attrs
    kind, owner = attrs.get("kind", "grid"), attrs.get("backend", backend.name)
    if kind != "grid":
        raise ValueError(f"study {study_name!r} is a {kind} study, not a benchmark grid")
    if owner != backend.name:
        raise ValueError(
            f"study {study_name!r} holds runs of backend {owner!r}, not {backend.name!r}; "
            "choose another --study"
        )
    if "kind" not in attrs:
        study.set_user_attr("kind", "grid")
        study.set_user_attr("backend", backend.name)
    record = _grid_record(grid)
    stored = attrs.get("grid")
    if stored is None:
        study.set_user_attr("grid", record)
    elif _unordered_params(stored) != _unordered_params(record):
        changed = ", ".join(
            f"{name} {stored.get(name)} -> {record[name]}"
            for name in record
            if stored.get(name) != record[name]
        )
        raise ValueError(
            f"study {study_name!r} holds a different grid ({changed}); repeat the options it was "
            "started with to resume it, or choose a new --study"
        )
    return study


def _values(grid: Grid, point: GridPoint) -> dict[str, Any]:
    """A search-space assignment that yields ``point`` (for enqueueing it)."""
    values: dict[str, Any] = {
        "task": point.task,
        "method": point.method,
        "seed": point.seed,
        "shots": shots_label(point.shots) if point.shots is None else point.shots,
    }
    params = dict(point.params)
    for setting in grid.params:
        if len(setting.values) > 1:
            own = setting.applies_to(point.method) and setting.name in params
            values[setting.axis] = params[setting.name] if own else setting.values[0]
    return values


def worker_id() -> str:
    """Who runs a trial: ``host:pid``, stored with each trial (which worker did what)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def snapshot_file(
    directory: Path, study_name: str, point: GridPoint, every_seconds: float = 300.0
) -> SnapshotFile:
    """The snapshot of ``point``'s run in ``study_name``: one file per (study, point) under
    ``directory``, named by the study and a digest of the point.

    >>> from torch_rdrop.bench.engine.grid import GridPoint
    >>> snapshot_file(Path("snaps"), "my study", GridPoint("digits", "none", 0, 16)).path.name
    'my_study-17bb726d1a295aa6.pt'
    """
    digest = hashlib.sha256(point.key.encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", study_name)
    return SnapshotFile(directory / f"{name}-{digest}.pt", every_seconds)


def _suggested_point(trial: optuna.trial.Trial, grid: Grid) -> tuple[dict[str, Any], GridPoint]:
    """The axis values ``trial`` draws from ``grid``'s search space, and their grid point."""
    space = grid.search_space()
    values = {name: trial.suggest_categorical(name, choices) for name, choices in space.items()}
    return values, grid.point(values)


def _objective(
    grid: Grid,
    backend: TrialBackend,
    snapshots: Callable[[GridPoint], SnapshotFile] | None = None,
    started: list[GridPoint] | None = None,
) -> Callable[[optuna.trial.Trial], float]:
    optuna = import_optuna()

    def objective(trial: optuna.trial.Trial) -> float:
        _, point = _suggested_point(trial, grid)
        if not grid.includes(point):
            trial.set_user_attr("skipped", point.label)
            raise optuna.TrialPruned(f"{point.method} does not apply to {point.task}")
        trial.set_user_attr("key", point.key)
        trial.set_user_attr("point", point.to_json())
        trial.set_user_attr("worker", worker_id())
        other = _claimed_elsewhere(trial.study, trial.number, point.key)
        if other is not None:
            trial.set_user_attr("duplicate_of", other)
            raise optuna.TrialPruned(f"{point.label} is finished or running in trial {other}")

        def on_epoch(epoch: int, value: float, values: Mapping[str, float]) -> None:
            trial.report(float(value), epoch)
            now = dt.datetime.now().isoformat()
            trial.set_user_attr("epoch_at", now)  # status paces the run up to its last epoch
            if REPLAYED in values:  # trained before a stop: status paces the run after it
                trial.set_user_attr("resumed", {"epochs": epoch + 1, "at": now})

        if started is not None:
            started.append(point)
        snapshot = None if snapshots is None else snapshots(point)
        if snapshot is None:
            result = backend.run(point.spec(), on_epoch)
        else:
            result = backend.run(point.spec(), on_epoch, snapshot=snapshot)  # type: ignore[call-arg]
        trial.set_user_attr("result", result.to_json())
        if snapshot is not None:  # the result is stored: nothing left to resume
            snapshot.path.unlink(missing_ok=True)
        return result.value

    return objective


def _deferring(
    objective: Callable[[optuna.trial.Trial], float],
    grid: Grid,
    queue: optuna.Study,
    wanted: set[str],
) -> Callable[[optuna.trial.Trial], float]:
    """``objective`` for the points whose keys are ``wanted``; a trial for any other point is
    pruned (marked ``deferred``) and its point queued again at the end of ``queue``."""
    optuna = import_optuna()

    def first_wanted(trial: optuna.trial.Trial) -> float:
        values, point = _suggested_point(trial, grid)
        if point.key not in wanted:
            trial.set_user_attr("deferred", point.label)
            queue.enqueue_trial(values, skip_if_exists=False)
            raise optuna.TrialPruned(f"{point.label} waits for the runs left half done")
        return objective(trial)

    return first_wanted


def _waiting(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The study's queued trials (enqueued, or a failed trial queued again by the store)."""
    optuna = import_optuna()
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))


def _queued_keys(study: optuna.Study) -> set[str | None]:
    """The point keys of the queued trials (a retried trial keeps its failed one's key; an
    enqueued one has none until it runs)."""
    return {t.user_attrs.get("key") for t in _waiting(study)}


def _furthest_along(study: optuna.Study, keys: set[str]) -> set[str]:
    """Those of ``keys`` whose earlier attempts reported the most epochs (all of them when none
    reported any): the half-done runs a worker resumes first, so that fewer stay half done."""
    reached = dict.fromkeys(keys, 0)
    for trial in study.get_trials(deepcopy=False):
        key = trial.user_attrs.get("key")
        if key in reached and trial.intermediate_values:
            reached[key] = max(reached[key], max(trial.intermediate_values) + 1)
    most = max(reached.values(), default=0)
    return {key for key, epochs in reached.items() if epochs == most}


def _fail_stale(study: optuna.Study) -> None:
    """Mark FAIL the RUNNING trials whose worker stopped beating (died), so they run again."""
    optuna = import_optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def run_grid(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    grid: Grid,
    backend: TrialBackend,
    *,
    on_progress: Callable[[GridProgress], None] | None = None,
    poll_seconds: float = 1.0,
    command: str | None = None,
    snapshots: Path | None = None,
    snapshot_seconds: float = 300.0,
    max_runs: int | None = None,
) -> list[RunRecord]:
    """Run every point of ``grid`` not finished yet; return the finished runs, sorted.

    Returns once every point has a result, waiting (polling every ``poll_seconds``) for points
    that other workers are running, and re-running those whose worker died. Exceptions of the
    trial function (``ValueError`` for a spec the data cannot serve) propagate. ``command``, the
    command line being run, is remembered in the study for the report. ``snapshots``, a
    directory, makes every run of a resumable backend save its training state there (at most
    once per ``snapshot_seconds`` of training) and resume from it when run again; the runs
    found there half done (their worker died) are resumed before any new run starts, the one whose
    earlier attempts reported the most epochs first. ``max_runs`` caps the runs this call starts:
    once it has run that many it returns the runs finished so far, without starting another or
    waiting for other workers (the rest of the grid is left to them, or to a later call).
    """
    if max_runs is not None and max_runs < 1:
        raise ValueError(f"max_runs must be >= 1 or None, got {max_runs}")
    optuna = import_optuna()
    if snapshots is not None:
        if not backend.resumable:
            raise ValueError(
                f"snapshots: backend {backend.name!r} cannot resume a run; run without snapshots"
            )
        snapshots.mkdir(parents=True, exist_ok=True)
    points = grid.points()
    study = load_grid_study(storage, study_name, grid, backend)
    remember_command(study, command)
    snapshot_of = (
        None
        if snapshots is None
        else lambda point: snapshot_file(snapshots, study_name, point, snapshot_seconds)
    )
    started: list[GridPoint] = []
    objective = _objective(grid, backend, snapshot_of, started)

    def capped() -> bool:
        return max_runs is not None and len(started) >= max_runs

    def report(run_study: optuna.Study | None = None, _trial: Any = None) -> None:
        if on_progress is not None:
            on_progress(grid_progress(study, points))
        if run_study is not None and capped():
            run_study.stop()  # after this trial: no other starts in this call

    callbacks = [report]
    # Enqueued trials fix every parameter, so the sampler is idle for them; they run under a
    # sampler of their own (GridSampler takes the ones it finds queued, from optuna 5.1 on).
    filler = optuna.load_study(
        study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler()
    )
    if snapshot_of is not None:  # runs a dead worker left half done resume before new ones start
        _fail_stale(study)  # the store queues a failed trial again (its retry callback)

        def interrupted() -> set[str]:
            progress = grid_progress(study, points)
            return {
                p.key for p in progress.missing
                if p.key not in progress.running and snapshot_of(p).path.exists()
            }  # fmt: skip

        half_done, queued = interrupted(), _queued_keys(study)
        for point in points:
            if point.key in half_done and point.key not in queued:
                filler.enqueue_trial(_values(grid, point), skip_if_exists=False)
        # The queue runs oldest first: a trial queued for another point (or for a half-done run
        # less far along) goes back; each resumed run may pass over every queued trial once.
        for _ in range((len(_waiting(study)) + 1) * (len(half_done) + 1)):
            half_done = interrupted()
            if not half_done or capped():
                break
            wanted = _furthest_along(study, half_done)
            resume_first = _deferring(objective, grid, filler, wanted)
            filler.optimize(resume_first, n_trials=1, callbacks=callbacks)
    progress = grid_progress(study, points)
    report()
    unclaimed = [p for p in progress.missing if p.key not in progress.running]
    if unclaimed and not capped():  # GridSampler does the bulk of the work and stops itself
        study.optimize(objective, n_trials=len(unclaimed), callbacks=callbacks)
    while not capped():  # then fill what concurrency, pruned duplicates and dead workers left open
        _fail_stale(study)
        progress = grid_progress(study, points)
        if not progress.missing:
            break
        queued = _queued_keys(study)
        todo = [p for p in progress.missing if p.key not in progress.running | queued]
        for point in todo:
            filler.enqueue_trial(_values(grid, point), skip_if_exists=False)
        waiting = len(_waiting(study))  # those just enqueued among them
        if waiting:
            filler.optimize(objective, n_trials=waiting, callbacks=callbacks)
        else:
            report()
            time.sleep(poll_seconds)
    progress = grid_progress(study, points)
    report()
    return sorted(progress.finished.values(), key=lambda r: r.point.sort_key())
