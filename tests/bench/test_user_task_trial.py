"""A user task — a CSV, a task file and a local checkpoint — runs through the trial function.

The task is put into the task table for the test only; it shows that the data set, the
checkpoint family and the default metric fit the benchmark's trial as they are.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from torch_rdrop.bench.spec import TrialSpec

from bench.test_your_own_data_doc import QUEUES, write_rows
from bench.tiny_checkpoints import bert_checkpoint
from torch_rdrop.bench import tasks
from torch_rdrop.bench.tasks import Task
from torch_rdrop.bench.tasks.task_file import UserTaskSpec, default_metric, load_user_task
from torch_rdrop.bench.tasks.trial import run_trial


def as_task(spec: UserTaskSpec, data) -> Task:
    family = spec.checkpoint_family()
    return Task(
        spec.name, "your own data", spec.language, spec.kind, f"checkpoint {family.path.name}",
        data.source, lambda: data, family.encoder, lambda d, _e, p: family.model(d, p),
        spec.metric or default_metric(data), epochs=2, batch_size=8, lr=3e-3, dropout=0.1,
    )  # fmt: skip


@pytest.mark.parametrize("method", ["none", "rdrop"])
def test_a_user_task_runs_as_a_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    rows = [(f"{word} {verb}", queue) for queue, words in QUEUES.items() for word in words
            for verb in ("broken", "help", "today")]  # fmt: skip
    write_rows(tmp_path / "train.csv", rows)
    bert_checkpoint(tmp_path / "bert", [w for ws in QUEUES.values() for w in ws])
    name = f"user-trial-{method}"
    (tmp_path / "task.toml").write_text(
        f'name = "{name}"\nkind = "classification"\nmodel = "./bert"\n'
        '[data]\ntrain = "train.csv"\ntest_fraction = 0.25\ntext = "body"\nlabel = "queue"\n'
    )
    spec, data = load_user_task(tmp_path / "task.toml")
    monkeypatch.setitem(tasks.TASKS, name, as_task(spec, data))
    result = run_trial(TrialSpec(name, method, 4, 0, 0, {"epochs": 2}))
    assert result.metric == "macro_f1" and len(result.curves["macro_f1"]) == 2
    assert 0.0 <= result.metrics["macro_f1"] <= 1.0
    assert result.curves["train_loss"][0] > 0
