"""A user task — a CSV, a task file and a local checkpoint — runs through the trial function.

The task file is registered with one call (``register_task_file``), as a Python user would; the
trial then finds it by name in the task registry like any built-in task.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.test_your_own_data_doc import QUEUES, write_rows
from bench.tiny_checkpoints import bert_checkpoint
from torch_rdrop.bench.engine.spec import SnapshotFile, TrialSpec
from torch_rdrop.bench.tasks import TASKS, get_task, register_task_file, register_user_task
from torch_rdrop.bench.tasks.data.sources import sha256_of
from torch_rdrop.bench.tasks.provenance import weights_fingerprint
from torch_rdrop.bench.tasks.task_file import load_task_file
from torch_rdrop.bench.tasks.trial import check_task_shots, run_trial


def write_task(folder: Path, name: str) -> Path:
    rows = [(f"{word} {verb}", queue) for queue, words in QUEUES.items() for word in words
            for verb in ("broken", "help", "today")]  # fmt: skip
    write_rows(folder / "train.csv", rows)
    bert_checkpoint(folder / "bert", [w for ws in QUEUES.values() for w in ws])
    (folder / "task.toml").write_text(
        f'name = "{name}"\nkind = "classification"\nmodel = "./bert"\n'
        '[data]\ntrain = "train.csv"\ntest_fraction = 0.25\ntext = "body"\nlabel = "queue"\n'
        "[recipe]\nepochs = 2\nbatch_size = 8\nlr = 0.003\n"
    )
    return folder / "task.toml"


@pytest.mark.parametrize("method", ["none", "rdrop"])
def test_a_registered_task_file_runs_as_a_trial(tmp_path: Path, method: str) -> None:
    name = f"user-trial-{method}"
    task = register_task_file(write_task(tmp_path, name))
    try:
        assert get_task(name) is task and task.origin == str(tmp_path / "task.toml")
        assert (task.epochs, task.batch_size, task.lr, task.dropout) == (2, 8, 0.003, 0.1)
        result = run_trial(TrialSpec(name, method, 4, 0, 0))
    finally:
        TASKS.remove(name)
    assert result.metric == "macro_f1" and len(result.curves["macro_f1"]) == 2
    assert 0.0 <= result.metrics["macro_f1"] <= 1.0 and result.greater_is_better
    assert result.curves["train_loss"][0] > 0
    # the run names what it started from: the user's file (by its SHA-256) and the checkpoint
    digest = sha256_of(tmp_path / "train.csv")[:12]
    assert result.versions["data"] == f"{tmp_path / 'train.csv'} sha256 {digest}"
    assert result.versions["weights"] == weights_fingerprint(tmp_path / "bert")


def _change_weights(folder: Path) -> None:
    """Overwrite the checkpoint's weights with other valid ones (one tensor shifted)."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / "model.safetensors")
    name = next(iter(tensors))
    save_file({**tensors, name: tensors[name] + 1.0}, folder / "model.safetensors")


class StoppedError(Exception):
    """What the test raises to stop a run after its first epoch, as a kill would."""


def test_a_run_stores_the_weights_it_started_from_even_if_they_change(tmp_path: Path) -> None:
    name = "user-trial-changed"
    register_task_file(write_task(tmp_path, name))
    folder = tmp_path / "bert"
    started = weights_fingerprint(folder)
    snapshot = SnapshotFile(tmp_path / "run.pt", every_seconds=0)

    def change_then_stop(epoch: int, value: float, values: object) -> None:
        _change_weights(folder)  # overwritten while the run trains ...
        raise StoppedError  # ... and the run killed

    try:
        with pytest.raises(StoppedError):
            run_trial(TrialSpec(name, "none", 4, 0, 0), change_then_stop, snapshot=snapshot)
        changed = weights_fingerprint(folder)
        resumed = run_trial(TrialSpec(name, "none", 4, 0, 0), snapshot=snapshot)
        fresh = run_trial(TrialSpec(name, "none", 4, 0, 1))
    finally:
        TASKS.remove(name)
    assert changed != started
    assert resumed.versions["weights"] == started  # the resumed run's weights came from there
    assert fresh.versions["weights"] == changed


def test_register_user_task_from_a_spec_and_the_k_check(tmp_path: Path) -> None:
    spec = load_task_file(write_task(tmp_path, "user-spec"))
    task = register_user_task(spec)
    try:
        assert get_task("user-spec") is task and task.model_family.name == str(tmp_path / "bert")
        check_task_shots("user-spec", 18)  # 24 rows per queue, a quarter held out: 18 train
        with pytest.raises(ValueError, match=r"shots=19 needs 19 training examples"):
            check_task_shots("user-spec", 19)
        with pytest.raises(ValueError, match=r"needs 20 .* \(\+4 for the dev split\)"):
            check_task_shots("user-spec", 16, use_dev=True)  # dev_shots defaults to 4
    finally:
        TASKS.remove("user-spec")


def test_a_task_name_taken_by_another_task_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'mr-cnn', which is already registered"):
        register_task_file(write_task(tmp_path, "mr-cnn"))


def test_a_task_file_read_again_runs_on_its_new_content(tmp_path: Path) -> None:
    """The trial prepares data per task, not per name: an edited task file is not served stale."""
    task = register_task_file(write_task(tmp_path, "edited"))
    try:
        assert run_trial(TrialSpec("edited", "none", 4, 0, 0)).metric == "macro_f1"
        lines = [json.dumps({"tokens": [w, "broken"], "tags": ["NOUN", "ADJ"]})
                 for ws in QUEUES.values() for w in ws]  # fmt: skip
        (tmp_path / "tags.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (tmp_path / "task.toml").write_text(
            'name = "edited"\nkind = "tagging"\nmodel = "lstm"\n[data]\ntrain = "tags.jsonl"\n'
            "[recipe]\nepochs = 1\n"
        )
        again = register_task_file(tmp_path / "task.toml")
        assert again is not task and again.kind == "tagging"
        result = run_trial(TrialSpec("edited", "none", 2, 0, 0))
    finally:
        TASKS.remove("edited")
    assert result.metric == "token_accuracy" and 0.0 <= result.metrics["token_accuracy"] <= 1.0


def test_a_task_file_with_pooling_mean_trains_a_head_on_the_mean(tmp_path: Path) -> None:
    """``pooling = "mean"`` reaches the model the trial trains: the head reads every token."""
    from torch_rdrop.bench.tasks.pooling import MeanPooledClassifier

    path = write_task(tmp_path, "user-mean")
    path.write_text(
        path.read_text().replace('model = "./bert"\n', 'model = "./bert"\npooling = "mean"\n')
    )
    task = register_task_file(path)
    try:
        assert task.model_family.description.endswith("a head on the mean of the token states")
        data = task.load()
        encoder = task.model_family.encoder(data)
        model = task.model_family.model(data, encoder, 0.1)
        assert isinstance(model, MeanPooledClassifier)
        result = run_trial(TrialSpec("user-mean", "rdrop", 4, 0, 0))
    finally:
        TASKS.remove("user-mean")
    losses = result.curves["train_loss"]
    assert result.metric == "macro_f1" and len(losses) == 2 and losses[0] > 0
