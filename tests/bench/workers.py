"""Helpers for the engine tests: start `rdrop bench` worker processes and read a study back."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import optuna

from torch_rdrop.bench.engine.runner import finished_runs
from torch_rdrop.bench.engine.store import open_storage

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

GRID_ARGS = [
    "--tasks", "digits",
    "--methods", "none,rdrop",
    "--seeds", "0-2",
    "--shots", "4",
    "--param", "epochs=2",
    "--heartbeat-interval", "1",
    "--grace-period", "3",
]  # fmt: skip
GRID_SIZE = 6


def start_worker(storage: str, study: str, backend: str, log: Path) -> subprocess.Popen:
    """Start `rdrop bench` on the grid above in a new process, output to ``log``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT / "src")])
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch_rdrop.cli", "bench", *GRID_ARGS]
    command += ["--storage", storage, "--study", study, "--backend", backend]
    with log.open("w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def trials(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    """Every trial of the study (empty if it does not exist yet)."""
    store = open_storage(storage)
    if study not in [s.study_name for s in store.get_all_studies()]:
        return []
    return optuna.load_study(study_name=study, storage=store).get_trials(deepcopy=False)


def complete_counts(all_trials: list[optuna.trial.FrozenTrial]) -> Counter:
    """How many COMPLETE trials each point key has."""
    done = optuna.trial.TrialState.COMPLETE
    return Counter(t.user_attrs["key"] for t in all_trials if t.state == done)


def check_grid_done_once(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    """Assert every point of the grid finished exactly once; return the trials."""
    all_trials = trials(storage, study)
    counts = complete_counts(all_trials)
    assert len(counts) == GRID_SIZE, counts
    assert set(counts.values()) == {1}, counts
    assert len(finished_runs(all_trials)) == GRID_SIZE
    return all_trials
