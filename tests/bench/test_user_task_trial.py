"""A user task — a CSV, a task file and a local checkpoint — runs through the trial function.

The task file is registered with one call (``register_task_file``), as a Python user would; the
trial then finds it by name in the task registry like any built-in task.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.test_your_own_data_doc import QUEUES, write_rows
from bench.tiny_checkpoints import bert_checkpoint
from torch_rdrop.bench.engine.spec import TrialSpec
from torch_rdrop.bench.tasks import TASKS, get_task, register_task_file, register_user_task
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
