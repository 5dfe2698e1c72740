"""Your own data through `rdrop`: a task file runs, reports and fails like a built-in task.

Each test writes its data, a tiny checkpoint and a task file in ``tmp_path``; runs are 1-2
epochs on a few dozen rows with one thread.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from bench.test_your_own_data_doc import QUEUES, write_rows
from bench.tiny_checkpoints import bart_checkpoint, bert_checkpoint
from torch_rdrop.bench.tasks import TASKS
from torch_rdrop.cli import app, common

runner = CliRunner()
WORDS = [w for ws in QUEUES.values() for w in ws]
FAST = ["--param", "epochs=2", "--param", "batch_size=8", "--param", "threads=1"]


def rows(verbs: tuple[str, ...] = ("broken", "help", "today")) -> list[tuple[str, str]]:
    return [(f"{w} {v}", q) for q, ws in QUEUES.items() for w in ws for v in verbs]


@pytest.fixture(autouse=True)
def _forget_user_tasks():
    """Each test registers its task file's task; later tests must not see it."""
    before = set(TASKS.names())
    yield
    for name in set(TASKS.names()) - before:
        TASKS.remove(name)


def bench(task: Path, db: Path, *extra: str, shots: str = "4", study: str = "mine"):
    args = ["bench", "--tasks", str(task), "--methods", "none,rdrop", "--seeds", "0-1"]
    args += ["--shots", shots, *FAST, "--storage", str(db), "--study", study, *extra]
    return runner.invoke(app, args)


def report(db: Path, out: Path, study: str = "mine"):
    return runner.invoke(app, ["report", "--storage", str(db), "--study", study, "--out", str(out)])


def checkpoint_task(folder: Path, name: str = "tickets", **extra: str) -> Path:
    write_rows(folder / "train.csv", rows())
    bert_checkpoint(folder / "my-bert", [*WORDS, "broken", "help", "today"])
    lines = [f'name = "{name}"', 'kind = "classification"', 'model = "./my-bert"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    lines += ["[data]", 'train = "train.csv"', "test_fraction = 0.25", 'text = "body"']
    lines += ['label = "queue"', "[recipe]", "lr = 0.003"]
    (folder / "task.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "task.toml"


def read_runs(out: Path) -> list[dict[str, str]]:
    with (out / "runs.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_csv_and_a_checkpoint_give_a_report_of_none_and_rdrop(tmp_path: Path) -> None:
    task = checkpoint_task(tmp_path, metric="accuracy")
    db, out = tmp_path / "runs.db", tmp_path / "report"
    result = bench(task, db)
    assert result.exit_code == 0, result.output
    assert "grid: 4 runs (tickets x none, rdrop" in result.output
    # the report reads the stored runs only: the data and the task file may be gone
    for path in (task, tmp_path / "train.csv"):
        path.unlink()
    result = report(db, out)
    assert result.exit_code == 0, result.output
    assert "ranking (accuracy)" in result.output
    runs = read_runs(out)
    assert sorted((r["task"], r["method"], r["seed"], r["metric"]) for r in runs) == [
        ("tickets", m, s, "accuracy") for m in ("none", "rdrop") for s in ("0", "1")
    ]
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "paired" in text.lower() and "tickets" in text and "rdrop" in text
    study = optuna.load_study(study_name="mine", storage=f"sqlite:///{db}")
    (command,) = study.user_attrs["commands"]  # how to regenerate it: the task file is named
    assert f"--tasks {task}" in command


def test_a_jsonl_file_with_a_built_in_family_and_the_default_metric(tmp_path: Path) -> None:
    with (tmp_path / "reviews.jsonl").open("w", encoding="utf-8") as handle:
        for text, label in rows():
            handle.write(json.dumps({"review": text, "stars": label}) + "\n")
    (tmp_path / "task.yaml").write_text(
        "name: reviews\nkind: classification\nmodel: cnn\n"
        "data:\n  train: reviews.jsonl\n  text: review\n  label: stars\n",
        encoding="utf-8",
    )
    db, out = tmp_path / "runs.db", tmp_path / "report"
    result = bench(tmp_path / "task.yaml", db, shots="4,full")
    assert result.exit_code == 0, result.output
    assert "8 runs finished" in result.output
    result = report(db, out)
    assert result.exit_code == 0, result.output
    assert "ranking (macro_f1)" in result.output  # the default metric of classification
    runs = read_runs(out)
    assert {(r["method"], r["shots"], r["metric"]) for r in runs} == {
        (m, k, "macro_f1") for m in ("none", "rdrop") for k in ("4", "full")
    }


def test_a_lower_is_better_metric_keeps_its_direction_in_the_report(tmp_path: Path) -> None:
    """The task file's metric direction comes from the metric registry, is stored with every run
    and read back by the report (here perplexity of a tagger: lower is better)."""
    tags = {"printer": "NOUN", "login": "NOUN", "refund": "NOUN", "broken": "ADJ", "help": "VERB"}
    lines = [
        json.dumps({"tokens": [a, b], "tags": [tags.get(a, "NOUN"), tags.get(b, "VERB")]})
        for a in [*WORDS, *tags] for b in ("broken", "help")
    ]  # fmt: skip
    (tmp_path / "tags.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "task.toml").write_text(
        'name = "tagged"\nkind = "tagging"\nmodel = "lstm"\nmetric = "perplexity"\n'
        '[data]\ntrain = "tags.jsonl"\n',
        encoding="utf-8",
    )
    db, out = tmp_path / "runs.db", tmp_path / "report"
    result = bench(tmp_path / "task.toml", db, shots="2")
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="mine", storage=f"sqlite:///{db}")
    stored = [t.user_attrs["result"] for t in study.get_trials() if "result" in t.user_attrs]
    assert len(stored) == 4 and all(r["greater_is_better"] is False for r in stored)
    assert report(db, out).exit_code == 0
    assert "**perplexity** (lower is better)" in (out / "report.md").read_text(encoding="utf-8")


def test_rdrop_tasks_shows_a_task_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = checkpoint_task(tmp_path)
    monkeypatch.setattr(common.console, "_width", 400)  # one table row per line
    result = runner.invoke(app, ["tasks", "--tasks", str(task)])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "tickets" in line)
    assert "macro_f1" in line and "higher" in line and "5 epochs" in line and "lr 0.003" in line
    assert "bert checkpoint" in line and "sha256" in line and "72 (54 train / 18 test)" in line


def test_a_sweep_runs_on_a_task_file(tmp_path: Path) -> None:
    write_rows(tmp_path / "train.csv", rows(("broken", "help", "today", "now", "again")))
    (tmp_path / "task.toml").write_text(
        'name = "swept"\nkind = "classification"\nmodel = "cnn"\n'
        '[data]\ntrain = "train.csv"\ntext = "body"\nlabel = "queue"\n',
        encoding="utf-8",
    )
    args = ["sweep", "--task", str(tmp_path / "task.toml"), "--method", "rdrop", "--seeds", "0"]
    args += ["--shots", "4", "--trials", "2", "--param", "epochs=1", "--param", "dev_shots=2"]
    result = runner.invoke(app, [*args, "--storage", str(tmp_path / "s.db")])
    assert result.exit_code == 0, result.output
    assert "sweep 'sweep-swept-rdrop'" in result.output


def test_a_seq2seq_checkpoint_generates_through_its_tokenizer(tmp_path: Path) -> None:
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    pairs = [(f"{a} {b} {a}", f"{b} {a}") for a in words for b in words if a != b]
    with (tmp_path / "pairs.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("source", "target"), *pairs])
    bart_checkpoint(tmp_path / "bart", words)
    (tmp_path / "task.toml").write_text(
        'name = "swap"\nkind = "generation"\nmodel = "./bart"\n'
        '[data]\ntrain = "pairs.csv"\n[recipe]\nlr = 0.003\nmax_length = 16\n',
        encoding="utf-8",
    )
    db, out = tmp_path / "runs.db", tmp_path / "report"
    result = bench(tmp_path / "task.toml", db, shots="8")
    assert result.exit_code == 0, result.output
    assert report(db, out).exit_code == 0
    runs = read_runs(out)
    assert {(r["method"], r["metric"]) for r in runs} == {("none", "rouge_l"), ("rdrop", "rouge_l")}
    assert all(0.0 <= float(r["value"]) <= 1.0 for r in runs)


def _bad_inputs(folder: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (the bench arguments after --tasks, what the one error line says)."""
    good = checkpoint_task(folder)
    text = good.read_text(encoding="utf-8")

    def variant(name: str, new: str) -> str:
        path = folder / f"{name}.toml"
        path.write_text(new, encoding="utf-8")
        return str(path)

    broken = folder / "broken-bert"
    shutil.copytree(folder / "my-bert", broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    with (folder / "pairs.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("source", "target"), *rows()])
    seq2seq = text.replace('"classification"', '"generation"').replace("train.csv", "pairs.csv")
    seq2seq = seq2seq.replace('text = "body"\n', "").replace('label = "queue"\n', "")
    write_rows(folder / "test-new-label.csv", [("contract review", "legal")])
    unseen = text.replace("test_fraction = 0.25", 'test = "test-new-label.csv"')
    (folder / "not-a-model").mkdir()
    (folder / "not-a-model" / "config.json").write_text('{"model_type": "bert"}')
    (folder / "empty.csv").write_text("body,queue\n", encoding="utf-8")
    write_rows(folder / "one-class.csv", [(f"{w} x", "billing") for w in WORDS])
    return {
        "missing task file": ([str(folder / "nope.toml")], "does not exist"),
        "unknown key": ([variant("key", text.replace("lr =", "lrate ="))],
                        "unknown key 'lrate' in [recipe]"),
        "missing data file": ([variant("file", text.replace("train.csv", "trian.csv"))],
                              "trian.csv"),
        "misspelled column": ([variant("col", text.replace('"body"', '"bdy"'))],
                              "no column 'bdy' (the text column); columns found: body, queue"),
        "empty file": ([variant("empty", text.replace("train.csv", "empty.csv"))], "empty"),
        "one class": ([variant("one", text.replace("train.csv", "one-class.csv"))], "one"),
        "labels unseen in training": ([variant("unseen", unseen)], "legal"),
        "not a model": ([variant("model", text.replace("./my-bert", "./not-a-model"))],
                        "is not a model checkpoint: missing weights"),
        "weights that do not load": ([variant("weights", text.replace("my-bert", "broken-bert"))],
                                     "the checkpoint does not load as a classification model"),
        "an encoder for generation": ([variant("bert2gen", seq2seq)],
                                      "no decoder_start_token_id; is it an encoder-decoder"),
        "unknown family": ([variant("family", text.replace("./my-bert", "lstn"))],
                           "did you mean 'lstm'?"),
        "unknown metric": ([variant("metric", text.replace("[data]", 'metric = "f1"\n[data]'))],
                           "metric 'f1' is not one of"),
        "fewer than K": ([str(good), "--shots", "20"],
                         "shots=20 needs 20 training examples of every class"),
    }  # fmt: skip


def test_every_bad_input_is_one_line_and_stores_nothing(tmp_path: Path) -> None:
    for name, (args, message) in _bad_inputs(tmp_path).items():
        db = tmp_path / f"{name.replace(' ', '-')}.db"
        shots = args[2] if len(args) > 1 else "4"
        result = bench(Path(args[0]), db, shots=shots)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 1, (name, result.output)
        assert len(lines) == 1 and lines[0].startswith("error:"), (name, result.output)
        assert message in lines[0], (name, lines[0])
        assert not db.exists(), name


def test_a_package_ships_a_task_file_through_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README's package example: the entry point registers the task; `--tasks NAME` runs it."""
    import importlib.metadata

    from bench.test_your_own_data_doc import section
    from torch_rdrop.bench.tasks import registry

    (module,) = [
        b for b in re.findall(r"```python\n(.*?)```", section(), re.S) if "def register" in b
    ]
    package = tmp_path / "my_tickets"
    (package / "tasks").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "rdrop.py").write_text(module, encoding="utf-8")
    write_rows(package / "tasks" / "train.csv", rows())
    (package / "tasks" / "tickets.toml").write_text(
        'name = "shipped"\nkind = "classification"\nmodel = "cnn"\n'
        '[data]\ntrain = "train.csv"\ntext = "body"\nlabel = "queue"\n',
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    point = importlib.metadata.EntryPoint(
        "t", "my_tickets.rdrop:register", registry.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    registry.load_plugins(force=True)
    db, out = tmp_path / "runs.db", tmp_path / "report"
    args = ["bench", "--tasks", "shipped", "--methods", "none,rdrop", "--seeds", "0"]
    result = runner.invoke(app, [*args, "--shots", "4", *FAST, "--storage", str(db)])
    assert result.exit_code == 0, result.output
    assert report(db, out, study="bench").exit_code == 0
    assert {r["method"] for r in read_runs(out)} == {"none", "rdrop"}
