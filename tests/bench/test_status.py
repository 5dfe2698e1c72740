"""`rdrop status`: each grid point read back as finished, running, stalled (its worker stopped
sending heartbeats) or missing, with the epoch reached, the last score and the time left."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from typer.testing import CliRunner

from torch_rdrop.bench.engine.axes import parse_params
from torch_rdrop.bench.engine.grid import Grid
from torch_rdrop.bench.engine.runner import load_grid_study, snapshot_file
from torch_rdrop.bench.engine.spec import TrialBackend, TrialResult
from torch_rdrop.bench.engine.status import study_status
from torch_rdrop.bench.engine.store import open_storage, storage_url
from torch_rdrop.cli import app

runner = CliRunner()


def _never_runs(spec, on_epoch=None):  # the trials below are written by hand
    raise AssertionError("not run in these tests")


BACKEND = TrialBackend(
    "toy", ("toy", "tagger"), ("none", "mixup"), _never_runs,
    applies=lambda task, method: not (task == "tagger" and method == "mixup"),
)  # fmt: skip
GRID = Grid(("toy",), ("none",), (0, 1, 2, 3), (4,), parse_params(["epochs=6", "lr=0.01,0.1"]),
            applies=BACKEND.applies)  # fmt: skip


def _claim(study: optuna.Study, seed: int, lr: float = 0.01) -> optuna.trial.Trial:
    """A RUNNING trial that holds the point (seed, lr), as a worker's trial does."""
    values = {"task": "toy", "method": "none", "seed": seed, "shots": 4, "param:*.lr": lr}
    point = GRID.point(values)
    with warnings.catch_warnings():  # heartbeats come from optimize(); here they are written
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask()
    trial.set_user_attr("key", point.key)
    trial.set_user_attr("point", point.to_json())
    trial.set_user_attr("worker", f"host:{100 + seed}")
    return trial


def _age_heartbeat(url: str, trial: optuna.trial.Trial, hours: float) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("update trial_heartbeats set heartbeat = :t where trial_id = :id"),
            {"t": dt.datetime.now() - dt.timedelta(hours=hours), "id": trial._trial_id},
        )
    engine.dispose()


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, optuna.storages.RDBStorage]:
    """A study of 8 points: seed 0 finished, seed 1 running at epoch 2 of 6, seed 2 held by a
    dead worker after one failed try, seed 3 failed once and the lr 0.1 points never started:
    those five missing."""
    url = storage_url(str(tmp_path / "runs.db"))
    storage = open_storage(url)
    study = load_grid_study(storage, "s", GRID, BACKEND)
    done = _claim(study, 0)
    result = TrialResult("accuracy", {"accuracy": 0.75}, {"accuracy": [0.5, 0.75]}, 1.0, 0.0, {})
    done.set_user_attr("result", result.to_json())
    study.tell(done, 0.75)
    running = _claim(study, 1)
    for epoch, value in enumerate([0.3, 0.45]):
        running.report(value, epoch)
    storage.record_heartbeat(running._trial_id)
    failed = _claim(study, 2)
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    dead = _claim(study, 2)
    storage.record_heartbeat(dead._trial_id)
    _age_heartbeat(url, dead, hours=1)
    study.tell(_claim(study, 3), state=optuna.trial.TrialState.FAIL)  # failed, not retried yet
    return url, storage


def test_every_point_is_sorted_by_state(store) -> None:
    _, storage = store
    status = study_status(storage, "s", BACKEND)
    states = {run.label: run.state for run in status.runs}
    assert states["toy/none/K=4/seed=0 lr=0.01"] == "finished"
    assert states["toy/none/K=4/seed=1 lr=0.01"] == "running"
    assert states["toy/none/K=4/seed=2 lr=0.01"] == "stalled"
    assert states["toy/none/K=4/seed=3 lr=0.01"] == "missing"
    assert [status.count(s) for s in ("finished", "running", "stalled", "missing")] == [1, 1, 1, 5]
    assert status.total == 8 and status.failed_trials == 2
    assert next(r for r in status.runs if "seed=3 lr=0.01" in r.label).failures == 1
    assert [run.state for run in status.runs[:3]] == ["finished", "running", "stalled"]


def test_a_running_point_shows_its_epoch_score_and_time_left(store) -> None:
    _, storage = store
    study = optuna.load_study(study_name="s", storage=storage)
    start = next(t for t in study.get_trials() if t.number == 1).datetime_start
    status = study_status(storage, "s", BACKEND, now=start + dt.timedelta(minutes=10))
    run = next(r for r in status.runs if r.state == "running")
    assert (run.epoch, run.epochs, run.value, run.worker) == (2, 6, 0.45, "host:101")
    assert run.elapsed == pytest.approx(600.0)
    assert run.seconds_left == pytest.approx(1200.0)  # 4 epochs more at 5 minutes each
    finished = next(r for r in status.runs if r.state == "finished")
    assert finished.value == 0.75 and finished.seconds_left is None
    stalled = next(r for r in status.runs if r.state == "stalled")
    assert stalled.failures == 1 and stalled.worker == "host:102"


def _started_before_end(url: str, number: int, minutes: float) -> None:
    """Move finished trial ``number``'s start to ``minutes`` before its end."""
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        (end,) = connection.execute(
            sqlalchemy.text("select datetime_complete from trials where number = :n"),
            {"n": number},
        ).one()
        start = dt.datetime.fromisoformat(str(end)) - dt.timedelta(minutes=minutes)
        connection.execute(
            sqlalchemy.text("update trials set datetime_start = :t where number = :n"),
            {"t": start, "n": number},
        )
    engine.dispose()


def test_the_runs_left_are_paced_on_the_same_point_first(store) -> None:
    url, storage = store
    study = optuna.load_study(study_name="s", storage=storage)
    other = _claim(study, 0, lr=0.1)  # lr 0.1 runs take 5 minutes, lr 0.01 runs 20
    result = TrialResult("accuracy", {"accuracy": 0.7}, {}, 1.0, 0.0, {})
    other.set_user_attr("result", result.to_json())
    study.tell(other, 0.7)
    _started_before_end(url, 0, minutes=20)
    _started_before_end(url, other.number, minutes=5)
    start = next(t for t in study.get_trials() if t.number == 1).datetime_start
    status = study_status(storage, "s", BACKEND, now=start + dt.timedelta(minutes=10))
    # running: 2 of 6 epochs in 10 minutes, 20 left; stalled and seed 3 at lr 0.01: 20 each;
    # seeds 1-3 at lr 0.1: 5 each (not the 12.5 of every toy/none run)
    assert status.work_left().seconds == pytest.approx(60 * (20 + 20 + 20 + 3 * 5))
    assert status.work_left().unpaced == 0


def test_a_resumed_run_is_paced_on_the_epochs_it_trained_since(tmp_path: Path) -> None:
    storage = open_storage(storage_url(str(tmp_path / "runs.db")))
    study = load_grid_study(storage, "s", GRID, BACKEND)
    trial = _claim(study, 1)
    start = study.get_trials()[0].datetime_start
    for epoch in range(4):  # epochs 0-2 reported again from the snapshot, then epoch 3 trained
        trial.report(0.1 * epoch, epoch)
    resumed_at = start + dt.timedelta(seconds=30)
    trial.set_user_attr("resumed", {"epochs": 3, "at": resumed_at.isoformat()})
    storage.record_heartbeat(trial._trial_id)
    now = resumed_at + dt.timedelta(minutes=10)  # one epoch in 10 minutes since the resume
    run = next(r for r in study_status(storage, "s", BACKEND, now=now).runs if r.epoch)
    assert (run.state, run.epoch, run.epochs) == ("running", 4, 6)
    assert run.seconds_left == pytest.approx(2 * 600.0)  # not 2 epochs at (10.5 min / 4)


def test_a_run_just_resumed_counts_only_what_its_snapshot_leaves(store) -> None:
    url, storage = store
    study = optuna.load_study(study_name="s", storage=storage)
    _started_before_end(url, 0, minutes=20)  # seed 0 of the same point took 20 minutes
    running = next(t for t in study.get_trials() if t.number == 1)  # 2 of 6 epochs reported
    resumed_at = running.datetime_start + dt.timedelta(seconds=30)
    storage.set_trial_user_attr(running._trial_id, "resumed",
                                {"epochs": 2, "at": resumed_at.isoformat()})  # fmt: skip
    now = resumed_at + dt.timedelta(minutes=2)  # no epoch trained since the resume
    status = study_status(storage, "s", BACKEND, now=now)
    run = next(r for r in status.runs if r.state == "running")
    assert (run.resumed_epoch, run.seconds_left) == (2, None)
    # 4 of its 6 epochs at 20 minutes a run, less the 2 minutes since; the stalled run, seed 3
    # and the four lr 0.1 points count 20 minutes each
    assert status.work_left().seconds == pytest.approx(60 * (20 * 4 / 6 - 2 + 6 * 20))
    assert status.runs_left()[run.label] == pytest.approx(60 * (20 * 4 / 6 - 2))  # its row's


def test_the_engine_records_where_a_resumed_run_took_up(tmp_path: Path) -> None:
    from torch_rdrop.bench.engine.runner import run_grid
    from torch_rdrop.bench.engine.spec import REPLAYED

    def resumed(spec, on_epoch=None):
        on_epoch(0, 0.5, {"accuracy": 0.5, REPLAYED: 1.0})  # from the snapshot
        on_epoch(1, 0.6, {"accuracy": 0.6})
        return TrialResult("accuracy", {"accuracy": 0.6}, {}, 1.0, 0.0, {})

    storage = open_storage(storage_url(str(tmp_path / "runs.db")))
    grid = Grid(("toy",), ("none",), (0,), (4,))
    run_grid(storage, "s", grid, TrialBackend("toy", ("toy",), ("none",), resumed))
    (trial,) = optuna.load_study(study_name="s", storage=storage).get_trials()
    assert trial.user_attrs["resumed"]["epochs"] == 1
    took_up = dt.datetime.fromisoformat(trial.user_attrs["resumed"]["at"])
    assert trial.datetime_start <= took_up <= trial.datetime_complete
    last_epoch = dt.datetime.fromisoformat(trial.user_attrs["epoch_at"])  # epoch 1's report
    assert took_up <= last_epoch <= trial.datetime_complete


def test_the_time_left_runs_on_from_the_last_epoch_not_from_now(store) -> None:
    _, storage = store
    study = optuna.load_study(study_name="s", storage=storage)
    running = next(t for t in study.get_trials() if t.number == 1)  # 2 of 6 epochs reported
    start = running.datetime_start
    storage.set_trial_user_attr(running._trial_id, "epoch_at",
                                (start + dt.timedelta(minutes=10)).isoformat())  # fmt: skip
    left = []
    for minutes in (10, 14):  # at its second epoch's report, then 4 minutes into the third
        status = study_status(storage, "s", BACKEND, now=start + dt.timedelta(minutes=minutes))
        left.append(next(r for r in status.runs if r.state == "running").seconds_left)
    assert left == pytest.approx([60 * 20, 60 * 16])  # 5 minutes an epoch, 4 epochs left


def test_pairs_the_backend_skips_are_not_missing(tmp_path: Path) -> None:
    storage = open_storage(storage_url(str(tmp_path / "runs.db")))
    grid = Grid(("toy", "tagger"), ("none", "mixup"), (0,), (4,), applies=BACKEND.applies)
    load_grid_study(storage, "pairs", grid, BACKEND)
    assert study_status(storage, "pairs", BACKEND).total == 3  # mixup does not tag
    other = TrialBackend("other", BACKEND.tasks, BACKEND.methods, _never_runs,
                         applies=BACKEND.applies)  # fmt: skip
    assert study_status(storage, "pairs", other).total == 4  # not the study's backend


def test_a_run_without_epochs_in_its_params_takes_them_from_the_backend(tmp_path) -> None:
    storage = open_storage(storage_url(str(tmp_path / "runs.db")))
    planning = TrialBackend(
        "toy", BACKEND.tasks, BACKEND.methods, _never_runs,
        planned_epochs=lambda spec: 5 if spec.data_seed == 0 else None,
    )  # fmt: skip
    grid = Grid(("toy",), ("none",), (0, 1), (4,), parse_params(["lr=0.01"]))
    study = load_grid_study(storage, "recipe", grid, planning)
    trial = study.ask()
    point = grid.point({"task": "toy", "method": "none", "seed": 0, "shots": 4})
    trial.set_user_attr("key", point.key)
    trial.set_user_attr("point", point.to_json())
    trial.report(0.5, 0)
    start = study.get_trials()[0].datetime_start
    status = study_status(storage, "recipe", planning, now=start + dt.timedelta(minutes=3))
    running, missing = status.runs
    assert (running.epoch, running.epochs, missing.epochs) == (1, 5, None)
    assert running.seconds_left == pytest.approx(4 * 180.0)
    other = TrialBackend("other", BACKEND.tasks, BACKEND.methods, _never_runs,
                         planned_epochs=lambda spec: 5)  # fmt: skip
    assert study_status(storage, "recipe", other).runs[0].epochs is None  # not its study


def test_the_tasks_backend_plans_the_recorded_recipe() -> None:
    from torch_rdrop.bench.engine.spec import TrialSpec
    from torch_rdrop.bench.tasks.recipes import RECIPES
    from torch_rdrop.bench.tasks.trial import BACKEND as TASKS

    recipe = RECIPES[("mr-minilm", 16)]
    assert TASKS.planned_epochs(TrialSpec("mr-minilm", "rdrop", 16, 0, 0, {})) == recipe.epochs
    assert TASKS.planned_epochs(TrialSpec("mr-minilm", "none", 16, 0, 0, {"epochs": 3})) == 3
    assert TASKS.planned_epochs(TrialSpec("no-such-task", "none", 16, 0, 0, {})) is None


def test_a_task_the_backend_no_longer_knows_counts_as_run(tmp_path: Path) -> None:
    storage = open_storage(storage_url(str(tmp_path / "runs.db")))
    grid = Grid(("toy", "gone"), ("none", "mixup"), (0,), (4,))
    load_grid_study(storage, "old", grid, BACKEND)

    def applies(task: str, method: str) -> bool:
        if task == "gone":
            raise ValueError(f"unknown task {task!r}")
        return method != "mixup"

    forgetful = TrialBackend("toy", ("toy",), ("none", "mixup"), _never_runs, applies=applies)
    assert study_status(storage, "old", forgetful).total == 3  # toy/none, gone/none, gone/mixup


def test_the_command_lists_studies_and_the_runs_left(store) -> None:
    url, _ = store
    db = url[len("sqlite:///") :]
    overview = runner.invoke(app, ["status", "--storage", db, "--backend", "nowhere:X"])
    assert overview.exit_code == 0, overview.output
    line = next(x for x in overview.output.splitlines() if "│ s " in x)
    assert [c.strip() for c in line.split("│")[2:9]] == ["grid", "1", "8", "1", "1", "5", "2"]
    left = runner.invoke(app, ["status", "--storage", db, "--study", "s"])
    assert left.exit_code == 0, left.output
    assert "s: 1 of 8 finished, 1 running, 1 stalled, 5 missing; runs left:" in left.output
    assert "seed=0 lr=0.01" not in left.output and "seed=1 lr=0.01" in left.output
    assert "2/6" in left.output and "0.4500" in left.output
    # each unfinished run's row shows its share of the runs left, a missing run's too
    missing = [x.split("│") for x in left.output.splitlines() if "│ missing" in x]
    assert len(missing) == 5 and all(row[6].strip() not in ("-", "") for row in missing), missing
    every = runner.invoke(app, ["status", "--storage", db, "--study", "s", "--all"])
    assert "seed=0 lr=0.01" in every.output and "0.7500" in every.output


def test_bad_names_are_one_error_line(store, tmp_path: Path) -> None:
    url, _ = store
    db = url[len("sqlite:///") :]
    unknown = runner.invoke(app, ["status", "--storage", db, "--study", "nope"])
    assert unknown.exit_code == 1
    assert "study 'nope' is not in the storage; studies there: s" in unknown.stderr
    missing = runner.invoke(app, ["status", "--storage", str(tmp_path / "none.db")])
    assert missing.exit_code == 1 and "does not exist" in missing.stderr


def test_a_resumed_run_paces_the_others_with_its_whole_training_time() -> None:
    from torch_rdrop.bench.engine.status import RunStatus, StudyStatus

    # its wall time counts from its last start (10 s); it trained 500 s over its attempts
    resumed = RunStatus("a", "finished", elapsed=10.0, resumed_epoch=2, trained=500.0,
                        pace=("p",))  # fmt: skip
    missing = RunStatus("b", "missing", pace=("p",))
    status = StudyStatus("s", "grid", 2, (resumed, missing), 0, None)
    assert status.work_left().seconds == 500.0
    # stopped before its first evaluated epoch, it went on from its snapshot with no epoch to
    # replay, so nothing marks it resumed but its training time
    early = RunStatus("a", "finished", elapsed=10.0, trained=500.0, pace=("p",))
    assert StudyStatus("s", "grid", 2, (early, missing), 0, None).work_left().seconds == 500.0


def test_with_the_snapshot_folder_a_stalled_run_resumes_or_starts_over(store, tmp_path) -> None:
    url, storage = store
    study = optuna.load_study(study_name="s", storage=storage)
    dead = next(t for t in study.get_trials() if t.user_attrs.get("worker") == "host:102"
                and t.state == optuna.trial.TrialState.RUNNING)  # fmt: skip
    for epoch in range(3):  # the dead worker had evaluated 3 of its 6 epochs
        storage.set_trial_intermediate_value(dead._trial_id, epoch, 0.5)
    _started_before_end(url, 0, minutes=20)  # a finished run of the same point took 20 minutes
    folder = tmp_path / "snapshots"
    folder.mkdir()
    point = GRID.point({"task": "toy", "method": "none", "seed": 2, "shots": 4,
                        "param:*.lr": 0.01})  # fmt: skip
    start = next(t for t in study.get_trials() if t.number == 1).datetime_start
    now = start + dt.timedelta(minutes=10)

    def stalled_and_left(snapshots: Path | None) -> tuple[bool | None, float]:
        status = study_status(storage, "s", BACKEND, now=now, snapshots=snapshots)
        run = next(r for r in status.runs if r.state == "stalled")
        return run.snapshot, status.work_left().seconds

    # no folder given: not looked for, and the stalled run counts whole (20 minutes)
    unknown, whole = stalled_and_left(None)
    assert unknown is None
    assert stalled_and_left(folder) == (False, pytest.approx(whole))  # its snapshot is gone
    snapshot_file(folder, "s", point).path.write_bytes(b"state")
    kept, left = stalled_and_left(folder)
    assert kept is True and left == pytest.approx(whole - 10 * 60)  # 3 of its 6 epochs left
    db = url[len("sqlite:///") :]
    shown = runner.invoke(app, ["status", "--storage", db, "--study", "s", "--snapshots",
                                str(folder)])  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "stalled, resumes" in shown.output
    snapshot_file(folder, "s", point).path.unlink()
    gone = runner.invoke(app, ["status", "--storage", db, "--study", "s", "--snapshots",
                               str(folder)])  # fmt: skip
    assert "stalled, starts over" in gone.output
    plain = runner.invoke(app, ["status", "--storage", db, "--study", "s"])
    assert "stalled" in plain.output and "starts over" not in plain.output
    missing = [r for r in study_status(storage, "s", BACKEND).runs if r.state == "missing"]
    assert missing and "missing, resumes" not in gone.output
    for other in GRID.points():  # a run stopped midway whose trial was failed: it runs first
        snapshot_file(folder, "s", other).path.write_bytes(b"state")
    kept_all = runner.invoke(app, ["status", "--storage", db, "--study", "s", "--snapshots",
                                   str(folder), "--all"])  # fmt: skip
    assert kept_all.output.count("missing, resumes") == len(missing), kept_all.output


def test_a_missing_run_with_a_snapshot_counts_only_the_epochs_it_has_left(store, tmp_path) -> None:
    url, storage = store
    study = optuna.load_study(study_name="s", storage=storage)
    _started_before_end(url, 0, minutes=20)  # the finished run of the study took 20 minutes
    stopped = _claim(study, 0, lr=0.1)  # a run that evaluated 4 of its 6 epochs, then failed
    for epoch, value in enumerate([0.3, 0.4, 0.5, 0.55]):
        stopped.report(value, epoch)
    study.tell(stopped, state=optuna.trial.TrialState.FAIL)
    study.tell(_claim(study, 0, lr=0.1), state=optuna.trial.TrialState.FAIL)  # retry died at once
    label = "toy/none/K=4/seed=0 lr=0.1"
    folder = tmp_path / "snapshots"
    folder.mkdir()
    first = next(t for t in study.get_trials() if t.number == 1)
    now = first.datetime_start + dt.timedelta(hours=1)

    def run_and_left() -> tuple[tuple, float]:
        status = study_status(storage, "s", BACKEND, snapshots=folder, now=now)
        run = next(r for r in status.runs if r.label == label)
        return (run.state, run.snapshot, run.epoch, run.value), status.work_left().seconds

    (state, *read), whole = run_and_left()  # no snapshot: it starts over, 20 minutes
    assert (state, read) == ("missing", [False, None, None])
    point = GRID.point({"task": "toy", "method": "none", "seed": 0, "shots": 4,
                        "param:*.lr": 0.1})  # fmt: skip
    snapshot_file(folder, "s", point).path.write_bytes(b"state")
    shown, left = run_and_left()
    assert shown == ("missing", True, 4, 0.55)
    assert left == pytest.approx(whole - 20 * 60 * 4 / 6)  # 2 of its 6 epochs left
    db = url[len("sqlite:///") :]
    table = runner.invoke(app, ["status", "--storage", db, "--study", "s", "--snapshots",
                                str(folder)])  # fmt: skip
    assert "4/6" in next(line for line in table.output.splitlines() if "seed=0 lr=0.1" in line)
