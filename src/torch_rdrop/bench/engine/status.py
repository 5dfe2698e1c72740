"""Where the studies of a store stand: finished, running, stalled and missing runs.

A study can take hours or days to fill, over several machines and sittings. This module reads the
store (never writes it) and says, per grid point, whether it has a result, is being run by a live
worker (with the epoch it reached, its last score and an estimate of the time left), is held by a
worker that stopped sending heartbeats (*stalled*: ``rdrop bench`` runs it again, from its last
snapshot when it has one) or has not started.

>>> import tempfile
>>> from torch_rdrop.bench.engine.runner import run_grid
>>> from torch_rdrop.bench.engine.axes import parse_params
>>> from torch_rdrop.bench.engine.grid import Grid
>>> from torch_rdrop.bench.engine.spec import TrialBackend, TrialResult
>>> from torch_rdrop.bench.engine.store import open_storage, storage_url
>>> def toy(spec, on_epoch=None):
...     return TrialResult("score", {"score": spec.data_seed / 10}, {}, 0.0, 0.0, {})
>>> backend = TrialBackend("toy", ("toy",), ("none", "rdrop"), toy)
>>> storage = open_storage(storage_url(tempfile.mkdtemp() + "/runs.db"))
>>> _ = run_grid(storage, "demo", Grid(("toy",), ("none",), (0, 1), (4,)), backend)
>>> status = study_status(storage, "demo")
>>> status.kind, status.finished, status.total, status.missing
('grid', 2, 2, 0)
>>> [(run.label, run.state, run.value) for run in status.runs]
[('toy/none/K=4/seed=0', 'finished', 0.0), ('toy/none/K=4/seed=1', 'finished', 0.1)]
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch_rdrop.bench.engine.grid import GridPoint
from torch_rdrop.bench.engine.runner import finished_runs, grid_from_record, snapshot_file
from torch_rdrop.bench.engine.spec import TrialBackend
from torch_rdrop.bench.engine.store import import_optuna, load_existing_study

if TYPE_CHECKING:
    import optuna

__all__ = ["RUN_STATES", "RunStatus", "StudyStatus", "WorkLeft", "store_status", "study_status"]

RUN_STATES = ("finished", "running", "stalled", "missing")
"""What a grid point can be: a result stored; run by a live worker; held by a worker without a
heartbeat (run again by the next ``rdrop bench``); not started (or only failed attempts)."""


@dataclass(frozen=True)
class RunStatus:
    """One grid point, or one trial of a sweep: its state and how far its latest trial got."""

    label: str
    state: str
    trial: int | None = None
    worker: str | None = None
    started: dt.datetime | None = None
    elapsed: float | None = None
    epoch: int | None = None  # epochs done at the last evaluation (1 = the first)
    epochs: int | None = None
    value: float | None = None
    failures: int = 0
    resumed_epoch: int | None = None  # epochs a resumed run had done before its last start
    resumed_elapsed: float | None = None  # seconds into the trial when it had reported them
    pace: tuple[str, ...] = ()  # keys of the runs that pace it, the closest first
    trained: float | None = None  # a finished run's training seconds, over all its attempts
    snapshot: bool | None = None  # an unfinished run's snapshot is there (None: not looked for)
    epoch_elapsed: float | None = None  # seconds into the trial when it reported its last epoch

    @property
    def seconds_left(self) -> float | None:
        """Time left for a running run, from its pace so far (known only when its number of
        epochs is, from its parameters or its backend, and it has trained one). A run resumed
        from a snapshot is paced on the epochs it trained since (the first of them may have
        been part-done, so the estimate can run a little short). When the time of its last
        epoch is known, the pace runs up to it and the time since counts as done.

        >>> RunStatus("a", "running", elapsed=600.0, epoch=2, epochs=6).seconds_left
        1200.0
        >>> RunStatus("a", "running", elapsed=600.0, epoch=2, epochs=6, epoch_elapsed=400.0
        ...           ).seconds_left  # 200 s an epoch, 200 s into the third
        600.0
        >>> RunStatus("a", "running", elapsed=600.0, epoch=2).seconds_left is None
        True
        >>> resumed = dict(resumed_epoch=3, resumed_elapsed=20.0)
        >>> RunStatus("a", "running", elapsed=620.0, epoch=5, epochs=6, **resumed).seconds_left
        300.0
        >>> just_resumed = RunStatus("a", "running", elapsed=30.0, epoch=3, epochs=6, **resumed)
        >>> just_resumed.seconds_left is None  # no epoch trained since
        True
        """
        if self.state != "running" or self.elapsed is None or not self.epoch:
            return None
        if self.epochs is None:
            return None
        paced = self.elapsed if self.epoch_elapsed is None else self.epoch_elapsed
        done, spent = self.epoch, paced
        if self.resumed_epoch is not None and self.resumed_elapsed is not None:
            done, spent = done - self.resumed_epoch, spent - self.resumed_elapsed
        if done <= 0:
            return None
        return max(spent / done * max(self.epochs - self.epoch, 0) - (self.elapsed - paced), 0.0)


@dataclass(frozen=True)
class WorkLeft:
    """The runs' time left in a study: ``seconds`` of runs (spread over the workers that run
    them) and the ``unpaced`` runs left out of it, with no finished run to go by."""

    seconds: float
    unpaced: int


@dataclass(frozen=True)
class StudyStatus:
    """A study's runs sorted by state; ``total`` is ``None`` for a sweep (no fixed grid)."""

    study: str
    kind: str
    total: int | None
    runs: tuple[RunStatus, ...]
    failed_trials: int
    last_activity: dt.datetime | None

    def count(self, state: str) -> int:
        """How many runs are in ``state`` (one of :data:`RUN_STATES`)."""
        if state not in RUN_STATES:
            raise ValueError(f"state must be one of {RUN_STATES}, got {state!r}")
        return sum(run.state == state for run in self.runs)

    @property
    def finished(self) -> int:
        """Runs with a result."""
        return self.count("finished")

    @property
    def missing(self) -> int:
        """Grid points neither finished nor held by a worker (0 for a sweep)."""
        return self.count("missing")

    def work_left(self) -> WorkLeft:
        """The time the unfinished runs still need: a running run's own estimate, else the
        median time of this study's finished runs of the same point but for the seed, else of
        the same task and method. A finished run counts its wall time, or its training time over
        all its attempts when longer (a resumed run's wall time counts from its last start). A
        stalled run whose snapshot is there counts only the epochs after its last evaluated one,
        and so does a missing one (its trial failed since) after the last its attempts reported,
        and a running one resumed from its snapshot that has not finished an epoch since.

        >>> done = [RunStatus(f"s{i}", "finished", elapsed=60.0 * i, pace=("a", "t")) for i in
        ...         (1, 2, 3)]
        >>> left = [RunStatus("s4", "missing", pace=("a", "t")),
        ...         RunStatus("s5", "running", elapsed=30.0, pace=("b", "t")),
        ...         RunStatus("s6", "missing", pace=("c", "u"))]
        >>> StudyStatus("x", "grid", 6, tuple(done + left), 0, None).work_left()
        WorkLeft(seconds=210.0, unpaced=1)
        >>> kept = RunStatus("s4", "stalled", epoch=1, epochs=4, pace=("a",), snapshot=True)
        >>> StudyStatus("x", "grid", 4, (*done, kept), 0, None).work_left()  # 3/4 of 120 s
        WorkLeft(seconds=90.0, unpaced=0)
        >>> back = RunStatus("s4", "running", elapsed=25.0, epoch=3, epochs=4, pace=("a",),
        ...                  resumed_epoch=3, resumed_elapsed=10.0)  # 15 s since its resume
        >>> StudyStatus("x", "grid", 4, (*done, back), 0, None).work_left()  # 1/4 of 120 s - 15
        WorkLeft(seconds=15.0, unpaced=0)
        """
        left = self.runs_left()
        known = [seconds for seconds in left.values() if seconds is not None]
        return WorkLeft(sum(known, 0.0), len(left) - len(known))

    def runs_left(self) -> dict[str, float | None]:
        """Each unfinished run's time left, by label, as :meth:`work_left` counts it (``None``:
        nothing to go by).

        >>> done = RunStatus("s1", "finished", elapsed=120.0, pace=("a",))
        >>> fresh = RunStatus("s2", "running", elapsed=30.0, epochs=4, pace=("a",))
        >>> StudyStatus("x", "grid", 2, (done, fresh), 0, None).runs_left()  # 120 s - 30
        {'s2': 90.0}
        """
        paces: dict[str, list[float]] = defaultdict(list)
        for run in self.runs:
            took = _time_taken(run)
            if run.state == "finished" and took is not None:
                for key in run.pace:
                    paces[key].append(took)
        left = {}
        for run in self.runs:
            if run.state != "finished":
                median = next((statistics.median(paces[k]) for k in run.pace if paces[k]), None)
                left[run.label] = _time_left(run, median)
        return left


def _time_taken(run: RunStatus) -> float | None:
    """A finished run's time: its wall time, or its training time over all its attempts when
    that is longer (a run resumed from its snapshot, whose wall time counts from its last start,
    even one that stopped before its first evaluated epoch and so left no ``resumed_epoch``).

    >>> _time_taken(RunStatus("a", "finished", elapsed=60.0, trained=50.0))  # in one go
    60.0
    >>> _time_taken(RunStatus("a", "finished", elapsed=60.0, trained=500.0))  # resumed
    500.0
    """
    known = [t for t in (run.elapsed, run.trained) if t is not None]
    return max(known) if known else None


def _time_left(run: RunStatus, median: float | None) -> float | None:
    """An unfinished run's time left: its own estimate when it has one, else ``median``, the
    time of the finished runs that pace it, less what it did (``None`` with neither)."""
    if run.state == "running" and run.seconds_left is not None:
        return run.seconds_left
    if median is None:
        return None
    if run.state in ("stalled", "missing") and run.snapshot and run.epoch and run.epochs:
        return median * max(run.epochs - run.epoch, 0) / run.epochs
    spent = run.elapsed if run.state == "running" and run.elapsed is not None else 0.0
    if run.state == "running" and run.resumed_epoch and run.epochs:
        # resumed, no epoch trained since: what its snapshot leaves, less the time since
        spent -= run.resumed_elapsed or 0.0
        median *= max(run.epochs - run.resumed_epoch, 0) / run.epochs
    return max(median - spent, 0.0)


def _stale_ids(storage: optuna.storages.BaseStorage, study: optuna.Study) -> set[int]:
    """Trial ids whose heartbeat is older than the grace period (what ``fail_stale_trials``
    would fail), read without failing them."""
    interval = getattr(storage, "get_heartbeat_interval", None)
    if interval is None or interval() is None:
        return set()
    return set(storage._get_stale_trial_ids(study._study_id))  # read-only part of the protocol


def _elapsed(trial: optuna.trial.FrozenTrial, now: dt.datetime) -> float | None:
    if trial.datetime_start is None:
        return None
    end = trial.datetime_complete or now
    return (end - trial.datetime_start).total_seconds()


def _short_label(point: GridPoint, axes: set[str]) -> str:
    """The point's label with only the settings that vary in its grid (the others are the same
    for every run of the study).

    >>> point = GridPoint.make("lm", "rdrop", None, 0, {"alpha": 2, "epochs": 6})
    >>> _short_label(point, {"alpha"})
    'lm/rdrop/K=full/seed=0 alpha=2'
    """
    kept = {name: value for name, value in point.params if name in axes}
    return GridPoint.make(point.task, point.method, point.shots, point.seed, kept).label


def _planned_epochs(point: GridPoint) -> int | None:
    epochs = dict(point.params).get("epochs")
    return epochs if isinstance(epochs, int) else None


def _trial_run(
    label: str, state: str, trial: optuna.trial.FrozenTrial, now: dt.datetime, **extra: Any
) -> RunStatus:
    steps = trial.intermediate_values  # by 0-based epoch index
    last = max(steps) if steps else None
    value = extra.pop("value", None)
    resumed = trial.user_attrs.get("resumed")
    if resumed is not None and trial.datetime_start is not None:
        at = dt.datetime.fromisoformat(resumed["at"])
        extra.update(resumed_epoch=resumed["epochs"],
                     resumed_elapsed=(at - trial.datetime_start).total_seconds())  # fmt: skip
    epoch_at = trial.user_attrs.get("epoch_at")
    if epoch_at is not None and trial.datetime_start is not None and state == "running":
        at = dt.datetime.fromisoformat(epoch_at)
        extra["epoch_elapsed"] = (at - trial.datetime_start).total_seconds()
    return RunStatus(
        label,
        state,
        trial=trial.number,
        worker=trial.user_attrs.get("worker"),
        started=trial.datetime_start,
        elapsed=_elapsed(trial, now),
        epoch=None if last is None else last + 1,
        value=steps[last] if value is None and last is not None else value,
        **extra,
    )


def _tolerant(applies: Callable[[str, str], bool] | None) -> Callable[[str, str], bool] | None:
    """``applies``, taking a pair it cannot judge (a task this version does not know, or a task
    file no longer there) as run: status reads any store, whatever filled it."""
    if applies is None:
        return None

    def judged(task: str, method: str) -> bool:
        try:
            return applies(task, method)
        except (KeyError, ValueError, OSError):
            return True

    return judged


def _grid_runs(
    study: optuna.Study,
    trials: Sequence[optuna.trial.FrozenTrial],
    stale: set[int],
    backend: TrialBackend | None,
    now: dt.datetime,
    snapshots: Path | None = None,
) -> tuple[int, list[RunStatus]]:
    optuna = import_optuna()
    applies = None if backend is None else _tolerant(backend.applies)
    planned = None if backend is None else backend.planned_epochs
    grid = grid_from_record(study.user_attrs["grid"], applies)
    points = grid.points()
    axes = {setting.name for setting in grid.params if len(setting.values) > 1}
    finished = finished_runs(trials)
    by_number = {t.number: t for t in trials}
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    failures = Counter(t.user_attrs.get("key") for t in failed)
    stopped = {t.user_attrs.get("key"): t for t in failed if t.intermediate_values}  # the latest
    holders: dict[str, optuna.trial.FrozenTrial] = {}
    for trial in trials:  # the latest RUNNING trial of each point holds it
        key = trial.user_attrs.get("key")
        if trial.state == optuna.trial.TrialState.RUNNING and key is not None:
            holders[key] = trial
    runs = []
    for point in points:
        label = _short_label(point, axes)
        epochs = _planned_epochs(point)
        if epochs is None and planned is not None:
            epochs = planned(point.spec())
        unseeded = GridPoint.make(point.task, point.method, point.shots, 0, dict(point.params))
        pace = (unseeded.key, f"{point.task}/{point.method}")
        extra = {"epochs": epochs, "failures": failures[point.key], "pace": pace}
        if point.key in finished:
            record = finished[point.key]
            trial = by_number[record.trial_number]
            runs.append(_trial_run(label, "finished", trial, now, value=record.result.value,
                                   trained=record.result.seconds, **extra))  # fmt: skip
        else:
            if snapshots is not None:  # a run stopped midway, held or not, resumes from it
                extra["snapshot"] = snapshot_file(snapshots, study.study_name, point).path.exists()
            if point.key in holders:
                trial = holders[point.key]
                state = "stalled" if trial._trial_id in stale else "running"
                runs.append(_trial_run(label, state, trial, now, **extra))
            elif extra.get("snapshot") and point.key in stopped:  # resumes where it stopped
                steps = stopped[point.key].intermediate_values
                last = max(steps)
                runs.append(RunStatus(label, "missing", epoch=last + 1, value=steps[last], **extra))
            else:
                runs.append(RunStatus(label, "missing", **extra))
    return len(points), runs


def _sweep_runs(
    trials: Sequence[optuna.trial.FrozenTrial], stale: set[int], now: dt.datetime
) -> list[RunStatus]:
    optuna = import_optuna()
    runs = []
    for trial in trials:
        if trial.state == optuna.trial.TrialState.COMPLETE:
            runs.append(_trial_run(f"trial {trial.number}", "finished", trial, now,
                                   value=trial.value))  # fmt: skip
        elif trial.state == optuna.trial.TrialState.RUNNING:
            state = "stalled" if trial._trial_id in stale else "running"
            runs.append(_trial_run(f"trial {trial.number}", state, trial, now))
    return runs


def _last_activity(trials: Sequence[optuna.trial.FrozenTrial]) -> dt.datetime | None:
    times = [t.datetime_complete or t.datetime_start for t in trials]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def study_status(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    backend: TrialBackend | None = None,
    now: dt.datetime | None = None,
    snapshots: Path | None = None,
) -> StudyStatus:
    """Read ``study_name`` once and sort its runs into :data:`RUN_STATES`.

    ``backend``, when it is the one that filled the study (same name), tells which
    (task, method) pairs its grid skips, so that they do not count as missing, and how many
    epochs a run will train when its parameters do not say. ``snapshots``, the folder given to
    ``rdrop bench --snapshots``, tells for each unfinished run held by a worker whether its
    snapshot is there (a stalled run then resumes from it; without it, it starts over). ``now``
    (local time, as Optuna stores it) is for tests.
    """
    optuna = import_optuna()
    study = load_existing_study(storage, study_name)
    owner = study.user_attrs.get("backend")
    backend = backend if backend is not None and backend.name == owner else None
    trials = study.get_trials(deepcopy=False)
    stale = _stale_ids(storage, study)
    now = now or dt.datetime.now()
    kind = study.user_attrs.get("kind", "grid")
    if kind == "grid" and "grid" in study.user_attrs:
        total, runs = _grid_runs(study, trials, stale, backend, now, snapshots)
    else:
        total, runs = None, _sweep_runs(trials, stale, now)
    order = {state: i for i, state in enumerate(RUN_STATES)}
    runs.sort(key=lambda run: order[run.state])  # stable: grid order within a state
    failed = sum(t.state == optuna.trial.TrialState.FAIL for t in trials)
    return StudyStatus(study_name, kind, total, tuple(runs), failed, _last_activity(trials))


def store_status(
    storage: optuna.storages.BaseStorage,
    backend: TrialBackend | None = None,
    snapshots: Path | None = None,
) -> list[StudyStatus]:
    """:func:`study_status` of every study in ``storage``, by name."""
    names = sorted(s.study_name for s in storage.get_all_studies())
    return [study_status(storage, name, backend, snapshots=snapshots) for name in names]
