"""The grid runner: resume, duplicates, dead workers and concurrent workers on one SQLite store."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest

from bench.digits import BACKEND
from bench.engine_backends import RENDEZVOUS
from bench.workers import GRID_SIZE, check_grid_done_once, start_worker, trials
from torch_rdrop.bench.engine.axes import parse_params
from torch_rdrop.bench.engine.grid import Grid
from torch_rdrop.bench.engine.runner import finished_runs, grid_progress, load_grid_study, run_grid
from torch_rdrop.bench.engine.store import open_storage, storage_url

State = optuna.trial.TrialState


def _grid(seeds: tuple[int, ...] = (0, 1)) -> Grid:
    return Grid(("digits",), ("none", "rdrop"), seeds, (4,), parse_params(["epochs=2"]))


@pytest.fixture
def storage(tmp_path: Path) -> optuna.storages.RDBStorage:
    return open_storage(storage_url(str(tmp_path / "runs.db")))


def test_runs_every_point_and_records_what_it_ran(storage) -> None:
    seen: list[int] = []
    runs = run_grid(storage, "g", _grid(), BACKEND, on_progress=lambda p: seen.append(p.done))
    assert [r.point.label for r in runs] == [
        "digits/none/K=4/seed=0 epochs=2",
        "digits/none/K=4/seed=1 epochs=2",
        "digits/rdrop/K=4/seed=0 epochs=2",
        "digits/rdrop/K=4/seed=1 epochs=2",
    ]
    assert seen[0] == 0 and seen[-1] == 4 and seen == sorted(seen)
    study = optuna.load_study(study_name="g", storage=storage)
    for trial in study.get_trials():
        assert trial.state == State.COMPLETE
        assert trial.user_attrs["point"]["params"] == {"epochs": 2}
        curve = trial.user_attrs["result"]["curves"]["accuracy"]
        assert list(trial.intermediate_values.values()) == curve  # trial.report per epoch
        assert trial.value == pytest.approx(curve[-1])
    assert study.user_attrs["kind"] == "grid" and study.user_attrs["backend"] == "digits"


def test_rerunning_a_finished_grid_runs_nothing(storage) -> None:
    first = run_grid(storage, "g", _grid(), BACKEND)
    again = run_grid(storage, "g", _grid(), BACKEND)
    assert len(optuna.load_study(study_name="g", storage=storage).get_trials()) == 4
    assert [r.trial_number for r in again] == [r.trial_number for r in first]
    assert [r.result for r in again] == [r.result for r in first]


def test_another_grid_under_the_same_study_name_is_refused(storage) -> None:
    run_grid(storage, "g", _grid((0,)), BACKEND)
    with pytest.raises(ValueError, match=r"holds a different grid \(seeds \[0\] -> \[0, 1, 2\]\)"):
        run_grid(storage, "g", _grid((0, 1, 2)), BACKEND)
    assert len(optuna.load_study(study_name="g", storage=storage).get_trials()) == 2


def test_the_order_of_param_options_does_not_change_the_grid(storage) -> None:
    def grid(options: list[str]) -> Grid:
        return Grid(("digits",), ("none", "rdrop"), (0,), (4,), parse_params(options))

    first = run_grid(storage, "g", grid(["epochs=2", "rdrop.alpha=1,4"]), BACKEND)
    again = run_grid(storage, "g", grid(["rdrop.alpha=1,4", "epochs=2"]), BACKEND)
    assert len(optuna.load_study(study_name="g", storage=storage).get_trials()) == 3
    assert [r.trial_number for r in again] == [r.trial_number for r in first]
    with pytest.raises(ValueError, match="holds a different grid"):
        run_grid(storage, "g", grid(["rdrop.alpha=1,2", "epochs=2"]), BACKEND)


def test_a_point_sampled_again_is_pruned_as_a_duplicate(storage) -> None:
    run_grid(storage, "g", _grid((0,)), BACKEND)
    study = load_grid_study(storage, "g", _grid((0,)), BACKEND)
    # what GridSampler does under concurrency: hand out a point that is already finished
    study.enqueue_trial({"task": "digits", "method": "rdrop", "seed": 0, "shots": 4})
    from torch_rdrop.bench.engine.runner import _objective

    study.optimize(_objective(_grid((0,)), BACKEND), n_trials=1)
    last = study.get_trials()[-1]
    assert last.state == State.PRUNED
    first = next(t for t in study.get_trials() if t.user_attrs["key"] == last.user_attrs["key"])
    assert last.user_attrs["duplicate_of"] == first.number
    assert len(finished_runs(study.get_trials())) == 2


def test_an_older_trial_yields_to_a_newer_one_already_running_its_point(storage) -> None:
    from torch_rdrop.bench.engine.runner import _claimed_elsewhere

    study = optuna.create_study(study_name="race", storage=storage)
    older, newer = study.ask(), study.ask()  # both handed the same point by the sampler
    newer.set_user_attr("key", "p")  # the newer one wrote its key and looked first: it runs
    older.set_user_attr("key", "p")
    assert _claimed_elsewhere(study, older.number, "p") == newer.number
    assert _claimed_elsewhere(study, older.number, "other") is None


def test_the_report_keeps_the_first_of_two_complete_trials(storage) -> None:
    run_grid(storage, "g", _grid((0,)), BACKEND)
    study = optuna.load_study(study_name="g", storage=storage)
    original = study.get_trials()[0]
    study.add_trial(  # a duplicate that finished anyway (two workers racing)
        optuna.create_trial(
            params=original.params,
            distributions=original.distributions,
            value=0.0,
            user_attrs={**original.user_attrs, "result": {**original.user_attrs["result"]}},
        )
    )
    runs = finished_runs(study.get_trials())
    assert len(runs) == 2
    assert runs[original.user_attrs["key"]].trial_number == original.number


def test_trial_errors_propagate_with_their_message(storage) -> None:
    grid = Grid(("digits",), ("none",), (0,), (500,))
    with pytest.raises(ValueError, match="shots=500 is more than class 0 of digits has"):
        run_grid(storage, "g", grid, BACKEND)


def test_a_study_of_another_backend_is_refused(storage) -> None:
    from bench.engine_backends import OTHER

    run_grid(storage, "g", _grid((0,)), BACKEND)
    with pytest.raises(ValueError, match="holds runs of backend 'digits', not 'other'"):
        run_grid(storage, "g", _grid((0,)), OTHER)


def test_progress_counts_only_points_of_the_grid(storage) -> None:
    run_grid(storage, "g", _grid((0, 1)), BACKEND)
    study = optuna.load_study(study_name="g", storage=storage)
    progress = grid_progress(study, _grid((1, 2)).points())
    assert (progress.total, progress.done, len(progress.missing)) == (4, 2, 2)


def _wait_for(predicate, worker: subprocess.Popen, timeout: float = 240.0) -> None:
    """Poll ``predicate`` while ``worker`` runs (generous: CI machines may be loaded)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited ({worker.returncode}) before the condition")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s")
        time.sleep(0.05)


def test_resume_after_a_worker_is_killed_mid_grid(tmp_path: Path) -> None:
    url = storage_url(str(tmp_path / "runs.db"))
    worker = start_worker(url, "kill", "bench.engine_backends:HELD", tmp_path / "first.log")
    try:

        def two_done_one_running() -> bool:
            found = trials(url, "kill")
            done = [t for t in found if t.state == State.COMPLETE]
            # a run holding its point: a trial just created has no point yet, and killed then,
            # it holds none, so the next worker would not have to wait for it
            held = [t for t in found if t.state == State.RUNNING and "key" in t.user_attrs]
            return len(done) >= 2 and bool(held)

        _wait_for(two_done_one_running, worker)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    before = {
        t.number: t.user_attrs["result"] for t in trials(url, "kill") if t.state.is_finished()
    }
    assert worker.returncode == -signal.SIGKILL
    assert 2 <= len(before) < GRID_SIZE
    assert any(t.state == State.RUNNING for t in trials(url, "kill"))  # the run it was killed in

    again = start_worker(url, "kill", "bench.engine_backends:SLOW", tmp_path / "second.log")
    assert again.wait(timeout=90) == 0, (tmp_path / "second.log").read_text()[-3000:]
    after = check_grid_done_once(url, "kill")
    kept = {t.number: t.user_attrs["result"] for t in after if t.number in before}
    assert kept == before  # nothing finished before the kill was lost or redone
    assert not any(t.state == State.RUNNING for t in after)
    assert "6 runs finished" in (tmp_path / "second.log").read_text()


def test_two_workers_share_one_sqlite_store(tmp_path: Path, monkeypatch) -> None:
    url = storage_url(str(tmp_path / "runs.db"))
    (tmp_path / "rendezvous").mkdir()
    monkeypatch.setenv(RENDEZVOUS, str(tmp_path / "rendezvous"))
    workers = [
        start_worker(url, "pair", "bench.engine_backends:PAIRED", tmp_path / f"w{i}.log")
        for i in (0, 1)
    ]
    for i, worker in enumerate(workers):
        assert worker.wait(timeout=180) == 0, (tmp_path / f"w{i}.log").read_text()
    all_trials = check_grid_done_once(url, "pair")
    ran = [t for t in all_trials if t.state == State.COMPLETE]
    assert len(ran) == GRID_SIZE
    # both processes did work: the finished runs were run by the two worker processes
    assert {t.user_attrs["worker"].split(":")[-1] for t in ran} == {str(w.pid) for w in workers}
    logs = [(tmp_path / f"w{i}.log").read_text() for i in (0, 1)]
    assert all("6 runs finished in the study" in log for log in logs), logs


def test_pairs_the_backend_refuses_are_skipped_not_run(storage) -> None:
    grid = Grid(
        ("digits",), ("none", "rdrop", "mixup"), (0, 1), (4,), parse_params(["epochs=2"]),
        applies=lambda task, method: method != "mixup",
    )  # fmt: skip
    assert {p.method for p in grid.points()} == {"none", "rdrop"}
    records = run_grid(storage, "g", grid, BACKEND)
    assert sorted((r.point.method, r.point.seed) for r in records) == [
        ("none", 0), ("none", 1), ("rdrop", 0), ("rdrop", 1),
    ]  # fmt: skip
    study = optuna.load_study(study_name="g", storage=storage)
    skipped = [t for t in study.trials if "skipped" in t.user_attrs]
    assert skipped and all(t.state == optuna.trial.TrialState.PRUNED for t in skipped)
    with pytest.raises(ValueError, match="none of the methods mixup applies to the tasks digits"):
        Grid(("digits",), ("mixup",), (0,), (4,), applies=lambda task, method: False)


def test_max_runs_starts_that_many_and_leaves_the_rest(storage) -> None:
    first = run_grid(storage, "g", _grid(), BACKEND, max_runs=1)
    study = optuna.load_study(study_name="g", storage=storage)
    assert len(first) == 1 and [t.state for t in study.get_trials()] == [State.COMPLETE]
    second = run_grid(storage, "g", _grid(), BACKEND, max_runs=2)
    assert len(second) == 3 and {r.point.key for r in first} <= {r.point.key for r in second}
    assert len(run_grid(storage, "g", _grid(), BACKEND)) == 4
    assert len(optuna.load_study(study_name="g", storage=storage).get_trials()) == 4
    with pytest.raises(ValueError, match="max_runs must be >= 1 or None, got 0"):
        run_grid(storage, "g", _grid(), BACKEND, max_runs=0)
