"""Training snapshots: a run stopped midway, between epochs or within one, resumes to the numbers
of an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from torch_rdrop.bench.engine.axes import parse_params
from torch_rdrop.bench.engine.grid import Grid
from torch_rdrop.bench.engine.runner import run_grid, snapshot_file
from torch_rdrop.bench.engine.spec import (
    REPLAYED,
    SnapshotFile,
    TrialBackend,
    TrialResult,
    TrialSpec,
)
from torch_rdrop.bench.engine.store import open_storage, storage_url
from torch_rdrop.bench.tasks.snapshot import load_snapshot, run_identity, save_snapshot
from torch_rdrop.bench.tasks.trial import run_trial


class StoppedError(Exception):
    """What the test raises to stop a run midway, as a kill would."""


def _stop_after(last_epoch: int):
    def on_epoch(epoch: int, value: float, values) -> None:
        if epoch == last_epoch:
            raise StoppedError

    return on_epoch


RUNS = {
    "rdrop, best dev checkpoint": TrialSpec(
        "digits-mlp", "rdrop", 8, 0, 0, {"epochs": 5, "select": "best", "dev_shots": 4}
    ),
    "mixup, its random pairs": TrialSpec("digits-mlp", "mixup", 8, 1, 1, {"epochs": 4}),
    "semi-supervised rdrop": TrialSpec(
        "digits-mlp", "rdrop", 8, 0, 2, {"epochs": 4, "semi_supervised": True, "rampup": 1.0}
    ),
    "language model, evaluated every other epoch": TrialSpec(
        "pd-lm-gpt2", "rdrop", 8, 0, 0, {"epochs": 5, "batch_size": 4, "eval_every": 2}
    ),
}


@pytest.mark.parametrize("spec", RUNS.values(), ids=RUNS.keys())
def test_a_run_stopped_midway_resumes_to_the_numbers_of_an_unstopped_one(tmp_path, spec) -> None:
    whole = run_trial(spec)
    snapshot = SnapshotFile(tmp_path / "run.pt", every_seconds=0)
    stop_at = 1 if spec.params.get("eval_every", 1) == 1 else 3
    with pytest.raises(StoppedError):
        run_trial(spec, _stop_after(stop_at), snapshot=snapshot)
    assert snapshot.path.exists()

    reported: list[tuple[int, float]] = []
    replayed: list[bool] = []

    def record(epoch: int, value: float, values) -> None:
        reported.append((epoch, value))
        replayed.append(REPLAYED in values)

    resumed = run_trial(spec, record, snapshot=snapshot)
    watched = next(name for name in whole.curves if name != "train_loss")
    assert resumed.curves == whole.curves
    drop_timing = {k: v for k, v in whole.metrics.items() if k != "seconds_per_step"}
    assert {k: resumed.metrics[k] for k in drop_timing} == drop_timing
    evaluated = [e for e, _ in reported]
    assert evaluated == sorted(set(evaluated)) and len(reported) == len(whole.curves[watched])
    assert [v for _, v in reported] == whole.curves[watched]  # earlier epochs reported again
    assert replayed == [e <= stop_at for e in evaluated] and any(replayed)  # marked as such


def test_the_best_checkpoint_from_before_the_stop_is_the_one_tested(tmp_path, monkeypatch) -> None:
    from torch_rdrop.bench.tasks import trial

    dev_scores = iter([0.2, 0.9, 0.4, 0.3])  # the best after epoch 2; stopped after epoch 2
    weights_seen: dict[str, float] = {}

    def evaluate(task, model, encoder, data, indices):
        weights = float(sum(p.detach().double().sum() for p in model.parameters()))
        if set(indices.tolist()) == set(data.test.tolist()):
            weights_seen["test"] = weights
            return 0.5
        value = next(dev_scores)
        weights_seen.setdefault(f"dev {value}", weights)
        return value

    monkeypatch.setattr(trial, "evaluate", evaluate)
    spec = TrialSpec("digits-mlp", "none", 4, 0, 0, {"epochs": 4, "select": "best"})
    snapshot = SnapshotFile(tmp_path / "run.pt", every_seconds=0)
    with pytest.raises(StoppedError):
        run_trial(spec, _stop_after(1), snapshot=snapshot)
    result = run_trial(spec, snapshot=snapshot)
    assert result.metrics["best_epoch"] == 2 and result.metrics["dev_accuracy"] == 0.9
    assert weights_seen["test"] == weights_seen["dev 0.9"]  # epoch 2's weights, restored


def test_the_method_counts_its_steps_on_from_the_snapshot(tmp_path, monkeypatch) -> None:
    from torch_rdrop.regularizers.rdrop import RDropRegularizer

    steps: list[int] = []
    original = RDropRegularizer.training_loss

    def counted(self, *args, **kwargs):
        steps.append(self.step)  # what an alpha schedule is evaluated at
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RDropRegularizer, "training_loss", counted)
    spec = TrialSpec("digits-mlp", "rdrop", 4, 0, 0, {"epochs": 4, "batch_size": 16})
    snapshot = SnapshotFile(tmp_path / "run.pt", every_seconds=0)
    with pytest.raises(StoppedError):
        run_trial(spec, _stop_after(1), snapshot=snapshot)
    steps.clear()
    run_trial(spec, snapshot=snapshot)
    assert steps == [6, 7, 8, 9, 10, 11]  # 40 examples in batches of 16: 3 steps an epoch


def test_without_a_file_the_run_starts_afresh_and_writes_one(tmp_path) -> None:
    spec = RUNS["mixup, its random pairs"]
    snapshot = SnapshotFile(tmp_path / "deep" / "run.pt", every_seconds=0)
    result = run_trial(spec, snapshot=snapshot)
    assert result.curves == run_trial(spec).curves
    state = load_snapshot(snapshot.path, run_identity(spec))
    assert state is not None and state["epoch"] == 4 and state["steps"] > 0


def _stop_within_epoch(monkeypatch, epoch: int, at_write: int) -> None:
    """Make the run stop (as a kill would) right after its ``at_write``-th snapshot written
    within epoch ``epoch`` (0-based)."""
    from torch_rdrop.bench.tasks import loop_state

    writes: list[int] = []

    def save_then_stop(path, run, state) -> None:
        save_snapshot(path, run, state)
        if state["unfinished"] is not None and state["epoch"] == epoch:
            writes.append(state["unfinished"]["at"])
            if len(writes) == at_write:
                raise StoppedError

    monkeypatch.setattr(loop_state, "save_snapshot", save_then_stop)


@pytest.mark.parametrize("spec", RUNS.values(), ids=RUNS.keys())
def test_a_run_stopped_within_an_epoch_resumes_to_the_numbers_of_an_unstopped_one(
    tmp_path, monkeypatch, spec
) -> None:
    whole = run_trial(spec)
    snapshot = SnapshotFile(tmp_path / "run.pt", every_seconds=0)
    with monkeypatch.context() as patched:
        _stop_within_epoch(patched, epoch=2, at_write=1)
        with pytest.raises(StoppedError):
            run_trial(spec, snapshot=snapshot)
    state = load_snapshot(snapshot.path, run_identity(spec))
    assert state["epoch"] == 2 and state["unfinished"]["at"] > 0  # stopped after a step of it
    resumed = run_trial(spec, snapshot=snapshot)
    assert resumed.curves == whole.curves
    drop_timing = {k: v for k, v in whole.metrics.items() if k != "seconds_per_step"}
    assert {k: resumed.metrics[k] for k in drop_timing} == drop_timing


def test_a_snapshot_written_before_epochs_had_progress_still_resumes(tmp_path) -> None:
    spec = RUNS["rdrop, best dev checkpoint"]
    whole = run_trial(spec)
    snapshot = SnapshotFile(tmp_path / "run.pt", every_seconds=0)
    with pytest.raises(StoppedError):
        run_trial(spec, _stop_after(1), snapshot=snapshot)
    saved = torch.load(snapshot.path, weights_only=True)
    assert saved["state"].pop("unfinished") is None  # written at the end of epoch 1
    torch.save({**saved, "format": 1}, snapshot.path)  # as layout 1 wrote it
    assert run_trial(spec, snapshot=snapshot).curves == whole.curves


def test_snapshots_are_written_no_more_often_than_asked(tmp_path, monkeypatch) -> None:
    from torch_rdrop.bench.tasks import loop_state

    written: list[tuple[int, int | None]] = []

    def record(path, run, state) -> None:
        unfinished = state["unfinished"]
        written.append((state["epoch"], None if unfinished is None else unfinished["at"]))

    monkeypatch.setattr(loop_state, "save_snapshot", record)
    spec = TrialSpec("digits-mlp", "mixup", 8, 1, 1, {"epochs": 2, "batch_size": 32})
    run_trial(spec, snapshot=SnapshotFile(tmp_path / "a.pt", every_seconds=0))
    # 80 training rows in batches of 32: within each epoch after its 1st and 2nd step, then at
    # its end (the epoch counts as done).
    assert written == [(0, 32), (0, 64), (1, None), (1, 32), (1, 64), (2, None)]
    written.clear()
    run_trial(spec, snapshot=SnapshotFile(tmp_path / "b.pt", every_seconds=3600))
    assert written == [(2, None)]  # the last epoch's only


def test_a_snapshot_of_another_run_or_layout_is_refused(tmp_path) -> None:
    spec = RUNS["mixup, its random pairs"]
    path = tmp_path / "run.pt"
    save_snapshot(path, run_identity(spec), {"epoch": 1})
    other = TrialSpec(spec.task, spec.method, spec.shots, 5, 5, spec.params)
    with pytest.raises(ValueError, match=r"belongs to run .*\"data_seed\": 1.*not to"):
        run_trial(other, snapshot=SnapshotFile(path, 0))
    torch.save({"format": 0, "run": run_identity(spec), "state": {}}, path)
    with pytest.raises(ValueError, match=r"has layout 0, not one of \(1, 2\); remove it"):
        load_snapshot(path, run_identity(spec))


def test_a_killed_write_leaves_the_previous_snapshot_whole(tmp_path, monkeypatch) -> None:
    path = tmp_path / "run.pt"
    save_snapshot(path, "r", {"epoch": 1})

    def killed(obj, target) -> None:
        Path(target).write_bytes(b"half a fi")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        save_snapshot(path, "r", {"epoch": 2})
    monkeypatch.undo()
    assert load_snapshot(path, "r") == {"epoch": 1}


# The engine: a resumable backend gets one file per point, kept until the result is stored.


def _toy_backend(calls: list[tuple[int, bool]], fail_seed: int | None) -> TrialBackend:
    def run(spec: TrialSpec, on_epoch=None, *, snapshot: SnapshotFile) -> TrialResult:
        calls.append((spec.data_seed, snapshot.path.exists()))
        snapshot.path.write_text(spec.method)
        if spec.data_seed == fail_seed:
            raise RuntimeError("stopped midway")
        return TrialResult("score", {"score": 0.5}, {}, 0.0, 0.0, {})

    return TrialBackend("toy", ("toy",), ("none",), run, resumable=True)


def test_the_engine_gives_each_run_its_snapshot_and_removes_it_once_stored(tmp_path) -> None:
    storage = open_storage(storage_url(str(tmp_path / "runs.db")))
    grid = Grid(("toy",), ("none",), (0, 1, 2), (4,), parse_params([]))
    snapshots = tmp_path / "snapshots"
    calls: list[tuple[int, bool]] = []
    with pytest.raises(RuntimeError, match="stopped midway"):
        run_grid(storage, "s", grid, _toy_backend(calls, fail_seed=1), snapshots=snapshots)
    left = sorted(p.name for p in snapshots.iterdir())
    seed_1 = next(point for point in grid.points() if point.seed == 1)
    stopped = snapshot_file(snapshots, "s", seed_1).path
    assert left == [stopped.name]  # the finished run's file is gone, the stopped one's kept

    calls.clear()
    runs = run_grid(storage, "s", grid, _toy_backend(calls, fail_seed=None), snapshots=snapshots)
    assert len(runs) == 3 and (1, True) in calls  # the stopped run found its snapshot
    assert all(not found for seed, found in calls if seed != 1)
    assert list(snapshots.iterdir()) == []


def test_a_worker_resumes_the_runs_left_half_done_before_starting_new_ones(tmp_path) -> None:
    storage = open_storage(storage_url(str(tmp_path / "runs.db")))
    grid = Grid(("toy",), ("none",), tuple(range(12)), (4,), parse_params([]))
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    for point in grid.points():
        if point.seed in (3, 7):  # what a worker killed midway leaves behind
            snapshot_file(snapshots, "s", point).path.write_text("half done")
    calls: list[tuple[int, bool]] = []
    backend = _toy_backend(calls, fail_seed=None)
    runs = run_grid(storage, "s", grid, backend, snapshots=snapshots, max_runs=2)
    assert sorted(calls) == [(3, True), (7, True)] and len(runs) == 2
    assert list(snapshots.iterdir()) == []
    calls.clear()
    assert len(run_grid(storage, "s", grid, backend, snapshots=snapshots, max_runs=1)) == 3
    assert len(calls) == 1 and calls[0][0] not in (3, 7)  # then new points, one as asked


def test_a_half_done_run_resumes_before_runs_queued_earlier(tmp_path) -> None:
    from torch_rdrop.bench.engine.runner import _values, load_grid_study

    storage = open_storage(storage_url(str(tmp_path / "runs.db")))
    grid = Grid(("toy",), ("none",), tuple(range(6)), (4,), parse_params([]))
    calls: list[tuple[int, bool]] = []
    backend = _toy_backend(calls, fail_seed=None)
    study = load_grid_study(storage, "s", grid, backend)
    points = {point.seed: point for point in grid.points()}
    study.enqueue_trial(_values(grid, points[1]))  # queued earlier, e.g. a retry with no snapshot
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    snapshot_file(snapshots, "s", points[4]).path.write_text("half done")
    assert len(run_grid(storage, "s", grid, backend, snapshots=snapshots, max_runs=1)) == 1
    assert calls == [(4, True)]  # the half-done run, not the one queued before it
    run_grid(storage, "s", grid, backend, snapshots=snapshots, max_runs=1)
    assert calls[1] == (1, False)  # the queued one still runs, next


def test_of_two_half_done_runs_the_one_further_along_resumes_first(tmp_path) -> None:
    import warnings

    import optuna

    from torch_rdrop.bench.engine.runner import load_grid_study

    storage = open_storage(storage_url(str(tmp_path / "runs.db")))
    grid = Grid(("toy",), ("none",), tuple(range(6)), (4,), parse_params([]))
    backend = _toy_backend([], fail_seed=None)
    study = load_grid_study(storage, "s", grid, backend)
    points = {point.seed: point for point in grid.points()}
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    for seed, epochs in ((1, 1), (4, 3)):  # seed 1 stopped after 1 epoch, seed 4 after 3
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a trial asked outside optimize
            trial = study.ask()
        trial.set_user_attr("key", points[seed].key)
        for epoch in range(epochs):
            trial.report(0.5, epoch)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        snapshot_file(snapshots, "s", points[seed]).path.write_text("half done")
    calls: list[tuple[int, bool]] = []
    run_grid(storage, "s", grid, _toy_backend(calls, None), snapshots=snapshots, max_runs=1)
    assert calls == [(4, True)]  # grid order (or queue order) would take seed 1 first
    run_grid(storage, "s", grid, _toy_backend(calls, None), snapshots=snapshots, max_runs=1)
    assert calls[1] == (1, True)  # then the other half-done run, before any new one


def test_a_stalled_run_with_a_snapshot_resumes_once_and_leaves_nothing_queued(tmp_path) -> None:
    import datetime as dt
    import warnings

    import optuna
    import sqlalchemy

    from torch_rdrop.bench.engine.runner import _values, load_grid_study

    url = storage_url(str(tmp_path / "runs.db"))
    storage = open_storage(url)
    grid = Grid(("toy",), ("none",), tuple(range(6)), (4,), parse_params([]))
    backend = _toy_backend([], fail_seed=None)
    study = load_grid_study(storage, "s", grid, backend)
    stalled = next(point for point in grid.points() if point.seed == 4)
    study.enqueue_trial(_values(grid, stalled))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask()  # a worker's trial, then the worker died
    for name, choices in grid.search_space().items():
        trial.suggest_categorical(name, choices)
    trial.set_user_attr("key", stalled.key)
    trial.set_user_attr("point", stalled.to_json())
    storage.record_heartbeat(trial._trial_id)
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("update trial_heartbeats set heartbeat = :t where trial_id = :id"),
            {"t": dt.datetime.now() - dt.timedelta(hours=1), "id": trial._trial_id},
        )
    engine.dispose()
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    snapshot_file(snapshots, "s", stalled).path.write_text("half done")
    calls: list[tuple[int, bool]] = []
    runs = run_grid(storage, "s", grid, _toy_backend(calls, None), snapshots=snapshots, max_runs=1)
    assert calls == [(4, True)] and [r.point.seed for r in runs] == [4]
    states = [t.state for t in optuna.load_study(study_name="s", storage=storage).get_trials()]
    assert optuna.trial.TrialState.WAITING not in states, states  # no second copy queued


def test_a_queued_trial_taken_by_the_grid_sampler_lets_the_grid_finish(tmp_path) -> None:
    # A trial left queued in the store (a dead worker's retry, a stopped fill loop) is taken by
    # the grid sampler first; with one grid point then left unvisited, optuna's grid sampler
    # before 5.1 raised a KeyError (hence the floor on optuna).
    from torch_rdrop.bench.engine.runner import _values, load_grid_study

    storage = open_storage(storage_url(str(tmp_path / "runs.db")))
    grid = Grid(("toy",), ("none",), (0, 1), (4,), parse_params([]))
    calls: list[tuple[int, bool]] = []
    backend = _toy_backend(calls, fail_seed=None)
    first = run_grid(storage, "s", grid, backend, snapshots=tmp_path / "snaps", max_runs=1)
    done = first[0].point
    load_grid_study(storage, "s", grid, backend).enqueue_trial(_values(grid, done))
    runs = run_grid(storage, "s", grid, backend, snapshots=tmp_path / "snaps")
    assert sorted(r.point.seed for r in runs) == [0, 1]
    assert [seed for seed, _ in calls] == [done.seed, 1 - done.seed]  # the queued copy not rerun


def test_snapshots_need_a_backend_that_can_resume(tmp_path) -> None:
    storage = open_storage(storage_url(str(tmp_path / "runs.db")))
    backend = TrialBackend("plain", ("toy",), ("none",), lambda spec, on_epoch=None: None)
    grid = Grid(("toy",), ("none",), (0,), (4,), parse_params([]))
    with pytest.raises(ValueError, match="backend 'plain' cannot resume a run"):
        run_grid(storage, "s", grid, backend, snapshots=tmp_path)


def test_bench_with_snapshots_leaves_none_behind(tmp_path) -> None:
    from typer.testing import CliRunner

    from torch_rdrop.cli import app

    args = ["bench", "--tasks", "digits-mlp", "--methods", "none,rdrop", "--seeds", "0",
            "--shots", "4", "-p", "epochs=2", "--storage", str(tmp_path / "runs.db"),
            "--snapshots", str(tmp_path / "snaps"), "--snapshot-minutes", "0"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 runs finished" in result.output and list((tmp_path / "snaps").iterdir()) == []
