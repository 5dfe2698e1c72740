"""benchmarks/run_costs.py: a resumed run's wall time sums its attempts, each to its last beat."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sqlite3
import sys
from pathlib import Path

import optuna
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run_costs.py"


@pytest.fixture(scope="module")
def run_costs():
    spec = importlib.util.spec_from_file_location("run_costs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_costs"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def _trial(state, start: dt.datetime, seconds: float, task: str, system_attrs=None,
           key: str | None = None, epochs: int = 0, resumed: bool = False,
           trained: float | None = None):  # fmt: skip
    attrs = {"point": {"task": task, "method": "none"}} | ({"key": key} if key else {})
    attrs |= {} if trained is None else {"result": {"seconds": trained}}
    return optuna.trial.FrozenTrial(
        number=0, trial_id=0, state=state, values=None,
        value=0.5 if state == optuna.trial.TrialState.COMPLETE else None,
        datetime_start=start, datetime_complete=start + dt.timedelta(seconds=seconds),
        params={}, distributions={}, intermediate_values={e: 0.5 for e in range(epochs)},
        user_attrs=attrs | ({"resumed": {"epochs": epochs}} if resumed else {}),
        system_attrs=system_attrs or {},
    )  # fmt: skip


def test_a_resumed_run_counts_each_attempt_to_its_last_heartbeat(tmp_path, run_costs):
    path = tmp_path / "store.db"
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{path}")
    t0 = dt.datetime(2026, 12, 1, 10, 0, 0)
    fail, done = optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE
    # attempt 0 ran 1000 s, then its worker stopped; it was marked failed 3 hours later
    study.add_trial(_trial(fail, t0, 3 * 3600, "a"))
    study.add_trial(_trial(done, t0 + dt.timedelta(hours=3), 500, "a",
                           {"failed_trial": 0, "retry_history": [0]}))  # fmt: skip
    study.add_trial(_trial(done, t0, 300, "a"))  # never stopped
    study.add_trial(_trial(done, t0, 40, "b"))
    with sqlite3.connect(path) as db:
        (trial_id,) = db.execute("select trial_id from trials where number = 0").fetchone()
        beat = (t0 + dt.timedelta(seconds=1000)).isoformat(sep=" ")
        db.execute("insert into trial_heartbeats (trial_id, heartbeat) values (?, ?)",
                   (trial_id, beat))  # fmt: skip

    rows = run_costs.run_costs(path, ["s"])

    a, b = rows
    assert (a.task, sorted(a.seconds), a.resumed) == ("a", [300.0, 1500.0], 1)
    assert (a.median, a.total) == (900.0, 1800.0)
    assert (b.task, b.seconds, b.resumed) == ("b", (40.0,), 0)
    page = run_costs.render(rows, ["s"])
    assert "| s | a | none | 2 | 1 | 0 | 900 | 1800 |" in page


def test_a_run_that_started_over_counts_its_attempts_from_there(tmp_path, run_costs):
    """Attempts are found by grid point too (a half-done run resumes in a new trial, outside
    its retry history), and those before an attempt that started over are dropped."""
    path = tmp_path / "store.db"
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{path}")
    t0 = dt.datetime(2026, 12, 1, 10, 0, 0)
    fail, done = optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE
    add = study.add_trial
    # run a: 3 epochs in 1000 s, then its snapshot was lost; it started over (2 epochs in 200 s,
    # not resumed), and went on from that attempt's snapshot in a new trial (300 s, resumed)
    add(_trial(fail, t0, 1000, "a", key="a", epochs=3))
    add(_trial(fail, t0, 200, "a", key="a", epochs=2))
    add(_trial(done, t0, 300, "a", key="a", epochs=4, resumed=True, trained=450))
    # run b: stopped within its first epoch (no epoch reported), then resumed: both count
    add(_trial(fail, t0, 100, "b", key="b"))
    add(_trial(done, t0, 50, "b", key="b", epochs=1))
    # run c, finished twice (a duplicate): each counts the attempts since the one before
    for failed, finished in ((70, 30), (40, 60)):
        add(_trial(fail, t0, failed, "c", key="c"))
        add(_trial(done, t0, finished, "c", key="c", epochs=1))

    # run d, from before resumes were marked: 3 epochs, then 2 more in a second attempt that
    # went on from its snapshot, which only its training time (1200 s, not 400) tells
    add(_trial(fail, t0, 1000, "d", key="d", epochs=3))
    add(_trial(done, t0, 400, "d", key="d", epochs=2, trained=1200))

    a, b, c, d = run_costs.run_costs(path, ["s"])

    assert (a.seconds, a.resumed, a.started_over) == ((500.0,), 1, 1)
    assert (b.seconds, b.resumed, b.started_over) == ((150.0,), 1, 0)
    assert c.seconds == (100.0, 100.0)
    assert (d.seconds, d.resumed, d.started_over) == ((1400.0,), 1, 0)
    assert "| s | a | none | 1 | 1 | 1 | 500 | 500 |" in run_costs.render([a, b], ["s"])
