"""Per-run cost of the evidence: wall seconds of each finished run, by study, task and method.

Reads the evidence store (trial start and end times, as the workers recorded them; two workers
shared the 2 cores, so a run's wall time includes that sharing) and writes
``benchmarks/results/run_costs.md``: the median and total wall time per (study, task, method).
These are the figures the budget of the evidence is planned from.

A run whose worker stopped (the end of a sitting, a kill) is finished by a later attempt, which
resumes it from its last snapshot. Its wall time is the sum over its attempts (the trials of its
grid point): a stopped attempt counts from its start to its worker's last heartbeat. An attempt
that started over, its snapshot lost with a machine, discards the work before it, and so the
attempts before it do not count.

    python benchmarks/run_costs.py [--storage docs/results/evidence.db] [--study a,b]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sqlite3
import statistics
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RunCost:
    """Wall time of the finished runs of one (study, task, method)."""

    study: str
    task: str
    method: str
    seconds: tuple[float, ...]  # per run, summed over its attempts since it last started over
    resumed: int  # runs whose counted attempts are more than one
    started_over: int  # runs with an attempt that started over (their snapshot lost)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def total(self) -> float:
        return sum(self.seconds)


def last_heartbeats(path: Path) -> dict[tuple[str, int], dt.datetime]:
    """(study name, trial number) -> the last heartbeat its worker wrote."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "select s.study_name, t.number, h.heartbeat from trial_heartbeats h "
            "join trials t on t.trial_id = h.trial_id join studies s on s.study_id = t.study_id"
        ).fetchall()
    return {(study, number): dt.datetime.fromisoformat(beat) for study, number, beat in rows}


def attempt_seconds(trial: optuna.trial.FrozenTrial, heartbeat: dt.datetime | None) -> float:
    """Wall seconds of one attempt: to its end, or to its last heartbeat if it failed.

    A stopped worker's trial is marked failed only when a later worker finds it stale, which may
    be a sitting later; its last heartbeat is when it last ran.
    """
    if trial.datetime_start is None:
        return 0.0
    end = trial.datetime_complete or heartbeat
    if trial.state == optuna.trial.TrialState.FAIL and heartbeat is not None and end is not None:
        end = min(end, heartbeat)
    return 0.0 if end is None else max(0.0, (end - trial.datetime_start).total_seconds())


def attempts_of(
    trial: optuna.trial.FrozenTrial,
    trials: list[optuna.trial.FrozenTrial],
    wall: Callable[[optuna.trial.FrozenTrial], float],
) -> tuple[list[optuna.trial.FrozenTrial], bool]:
    """The attempts a finished ``trial`` took, oldest first, and whether one started over.

    Its attempts are the failed trials of its grid point since the point last finished (the
    trials its retries recorded, and those of a run resumed in a new trial), then itself. An
    attempt started over, its snapshot lost, when an earlier one had reported epochs and it
    replayed none (user attribute ``resumed``), and its run's training time fits in the wall
    time (``wall``) of the attempts from it on: the attempts before it are dropped. (Runs from
    before that attribute existed carry no mark of a resume; their training time tells.)
    """
    with warnings.catch_warnings():  # retry_history is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retried = set(optuna.storages.RetryFailedTrialCallback.retry_history(trial))
    key = trial.user_attrs.get("key")
    done, failed = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL
    mine = {t.number: t.state for t in trials if t.number < trial.number
            and key is not None and t.user_attrs.get("key") == key}  # fmt: skip
    after = max((n for n, state in mine.items() if state == done), default=-1)  # done twice
    attempts = [
        t for t in trials
        if t.state == failed and (t.number in retried or (t.number in mine and t.number > after))
    ] + [trial]  # fmt: skip
    trained = (trial.user_attrs.get("result") or {}).get("seconds", 0.0)
    starts = [
        i for i, attempt in enumerate(attempts)
        if "resumed" not in attempt.user_attrs
        and any(earlier.intermediate_values for earlier in attempts[:i])
        and trained <= sum(wall(later) for later in attempts[i:])
    ]  # fmt: skip
    return (attempts[starts[-1] :], True) if starts else (attempts, False)


def study_costs(
    study: optuna.Study, heartbeats: Mapping[tuple[str, int], dt.datetime]
) -> list[RunCost]:
    """The cost rows of one study: its finished runs grouped by (task, method)."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)

    def wall(attempt: optuna.trial.FrozenTrial) -> float:
        return attempt_seconds(attempt, heartbeats.get((study.study_name, attempt.number)))

    seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
    resumed: dict[tuple[str, str], int] = defaultdict(int)
    started_over: dict[tuple[str, str], int] = defaultdict(int)
    for trial in trials:
        point = trial.user_attrs.get("point")
        if trial.state != optuna.trial.TrialState.COMPLETE or not point:
            continue
        attempts, over = attempts_of(trial, trials, wall)
        key = (point["task"], point["method"])
        seconds[key].append(sum(wall(a) for a in attempts))
        resumed[key] += len(attempts) > 1
        started_over[key] += over
    return [
        RunCost(study.study_name, *key, tuple(values), resumed[key], started_over[key])
        for key, values in sorted(seconds.items())
    ]


def run_costs(path: Path, studies: list[str]) -> list[RunCost]:
    """The cost rows of ``studies`` in the SQLite store at ``path``, in that order."""
    heartbeats = last_heartbeats(path)
    storage = f"sqlite:///{path}"
    rows: list[RunCost] = []
    for name in studies:
        rows += study_costs(optuna.load_study(study_name=name, storage=storage), heartbeats)
    return rows


def render(rows: list[RunCost], studies: list[str]) -> str:
    """The Markdown page of ``rows``."""
    lines = [
        "# Per-run cost of the evidence",
        "",
        f"Command: `python benchmarks/run_costs.py --study {','.join(studies)}`. Wall seconds per "
        "finished run (trial start to end, evaluation included), two workers sharing 2 cores, "
        "one thread each. A run finished by more than one attempt (*resumed*, from its snapshot, "
        "after its worker stopped) counts the wall time of all its attempts, each to its last "
        "heartbeat; a run that *started over* (its snapshot lost with a machine) counts them from "
        "that attempt on, as the work before it was lost.",
        "",
        "| study | task | method | runs | resumed | started over | median s per run | total s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r.study} | {r.task} | {r.method} | {len(r.seconds)} | {r.resumed} "
        f"| {r.started_over} | {r.median:.0f} | {r.total:.0f} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=str(ROOT / "docs" / "results" / "evidence.db"))
    parser.add_argument("--study", default="")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "run_costs.md"))
    args = parser.parse_args()
    path = Path(args.storage)
    studies = [s for s in args.study.split(",") if s] or [
        s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{path}")
    ]
    text = render(run_costs(path, studies), studies)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
