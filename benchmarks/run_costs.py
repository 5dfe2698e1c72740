"""Per-run cost of the evidence: wall seconds of each finished run, by study, task and method.

Reads the evidence store (trial start and end times, as the workers recorded them; two workers
shared the 2 cores, so a run's wall time includes that sharing) and writes
``benchmarks/results/run_costs.md``: the median and total wall time per (study, task, method).
These are the figures the budget of the evidence is planned from.

A run whose worker stopped (the end of a sitting, a kill) is finished by a later attempt, which
resumes it from its last snapshot. Its wall time is the sum over its attempts: a stopped attempt
counts from its start to its worker's last heartbeat.

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
from collections.abc import Mapping
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
    seconds: tuple[float, ...]  # per run, summed over its attempts
    resumed: int  # runs that took more than one attempt

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


def study_costs(
    study: optuna.Study, heartbeats: Mapping[tuple[str, int], dt.datetime]
) -> list[RunCost]:
    """The cost rows of one study: its finished runs grouped by (task, method)."""
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
    resumed: dict[tuple[str, str], int] = defaultdict(int)
    for trial in trials:
        point = trial.user_attrs.get("point")
        if trial.state != optuna.trial.TrialState.COMPLETE or not point:
            continue
        with warnings.catch_warnings():  # retry_history is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            earlier = optuna.storages.RetryFailedTrialCallback.retry_history(trial)
        attempts = [by_number[n] for n in earlier if n in by_number] + [trial]
        key = (point["task"], point["method"])
        seconds[key].append(
            sum(attempt_seconds(a, heartbeats.get((study.study_name, a.number))) for a in attempts)
        )
        resumed[key] += len(attempts) > 1
    return [
        RunCost(study.study_name, task, method, tuple(values), resumed[(task, method)])
        for (task, method), values in sorted(seconds.items())
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
        "heartbeat.",
        "",
        "| study | task | method | runs | resumed | median s per run | total s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r.study} | {r.task} | {r.method} | {len(r.seconds)} | {r.resumed} | {r.median:.0f} "
        f"| {r.total:.0f} |"
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
