"""Task files: TOML and YAML to one spec, paths against the file's folder, every bad key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from torch_rdrop.bench.tasks.checkpoint import CheckpointError
from torch_rdrop.bench.tasks.data.base import ClassificationData
from torch_rdrop.bench.tasks.data.user_files import UserDataError
from torch_rdrop.bench.tasks.task_file import (
    Recipe,
    TaskFileError,
    UserTaskSpec,
    default_metric,
    load_task_file,
    load_user_task,
)

TOML = """
name = "tickets"
kind = "classification"
language = "en"
model = "minilm"
metric = "macro_f1"

[data]
train = "data/train.csv"
test = "data/test.csv"
seed = 2
text = "body"
label = "queue"

[recipe]
epochs = 5
lr = 5e-5
batch_size = 16
dropout = 0.1
max_length = 64
"""
YAML = """
name: tickets
kind: classification
language: en
model: minilm
metric: macro_f1
data:
  train: data/train.csv
  test: data/test.csv
  seed: 2
  text: body
  label: queue
recipe:
  epochs: 5
  lr: 5e-5          # YAML 1.1 reads this as a string; the number is meant
  batch_size: 16
  dropout: 0.1
  max_length: 64
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def minimal(folder: Path, extra: str = "", data: str = "", name: str = "task.toml") -> Path:
    body = f'name = "t"\nkind = "classification"\nmodel = "cnn"\n{extra}\n[data]\n'
    return write(folder, name, body + 'train = "t.csv"\n' + data)


def test_toml_and_yaml_give_the_same_spec_with_paths_from_the_file_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path.parent)  # not the task file's folder
    from_toml = load_task_file(write(tmp_path, "task.toml", TOML))
    from_yaml = load_task_file(write(tmp_path, "task.yaml", YAML))
    expected = UserTaskSpec(
        name="tickets",
        kind="classification",
        train_file=tmp_path.resolve() / "data" / "train.csv",
        columns=("body", "queue"),
        model="minilm",
        test_file=tmp_path.resolve() / "data" / "test.csv",
        seed=2,
        metric="macro_f1",
        recipe=Recipe(epochs=5, lr=5e-5, batch_size=16, dropout=0.1, max_length=64),
        origin=tmp_path.resolve() / "task.toml",
    )
    assert from_toml == expected
    assert from_yaml == UserTaskSpec(**{**vars(expected), "origin": from_yaml.origin})
    assert from_toml.recipe.overrides()["lr"] == 5e-5 and from_toml.checkpoint is None


def test_defaults(tmp_path: Path) -> None:
    spec = load_task_file(minimal(tmp_path))
    assert spec.columns == ("text", "label") and spec.language == "en"
    assert spec.test_file is None and spec.test_fraction == 0.2 and spec.seed == 0
    assert spec.recipe.overrides() == {} and spec.metric is None


@pytest.mark.parametrize(
    ("extra", "data", "message"),
    [
        ('modle = "x"', "", r"unknown key 'modle'; accepted keys: name, kind, language, model, "
         r"pooling, metric, data, recipe; did you mean 'model'\?"),
        ("", 'txt = "body"', r"unknown key 'txt' in \[data\]; accepted keys: train, test, "
         r"test_fraction, seed, text, label; did you mean 'text'\?"),
        ("", 'tokens = "words"', r"unknown key 'tokens' in \[data\]"),  # a tagging role
        ("[recipe]\nwarmup = 3", "", r"unknown key 'warmup' in \[recipe\]; accepted keys: epochs, "
         r"lr, batch_size, dropout, max_length$"),
    ],
)  # fmt: skip
def test_unknown_keys_name_the_accepted_keys(
    tmp_path: Path, extra: str, data: str, message: str
) -> None:
    if extra.startswith("[recipe]"):  # a table must come after the top-level keys
        path = write(tmp_path, "t.toml", 'name = "t"\nkind = "classification"\nmodel = "cnn"\n'
                     '[data]\ntrain = "t.csv"\n' + extra + "\n")  # fmt: skip
    else:
        path = minimal(tmp_path, extra, data)
    with pytest.raises(TaskFileError, match=message) as error:
        load_task_file(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


@pytest.mark.parametrize(
    ("data", "recipe", "message"),
    [
        ("", "epochs = '5'", r"recipe\.epochs must be an integer >= 1, got '5' \(str\)"),
        ("", "epochs = 0", r"recipe\.epochs must be an integer >= 1, got 0"),
        ("", "dropout = 1.5", r"recipe\.dropout must be a number in \[0\.0, 1\.0\), got 1\.5"),
        ("", "lr = 'fast'", r"recipe\.lr must be a number, got 'fast' \(str\)"),
        ("", "batch_size = true", r"recipe\.batch_size must be an integer >= 1, got True"),
        ("seed = -1", "", r"data\.seed must be an integer >= 0, got -1"),
        ("test_fraction = 1", "", r"data\.test_fraction must be a number in \(0\.0, 1\.0\)"),
        ("label = 3", "", r"data\.label must be a non-empty string, got 3 \(int\)"),
        ('test = "x.csv"\ntest_fraction = 0.3', "", "give data.test .* or data.test_fraction"),
    ],
)
def test_wrong_types_and_values(tmp_path: Path, data: str, recipe: str, message: str) -> None:
    path = minimal(tmp_path, data=data + "\n[recipe]\n" + recipe)
    with pytest.raises(TaskFileError, match=message):
        load_task_file(path)


def test_bad_name_kind_and_missing_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "a.toml", 'name = "my task"\nkind = "classification"\nmodel = "x"\n')
    with pytest.raises(TaskFileError, match=r"name 'my task' must be letters, digits"):
        load_task_file(path)
    path = write(tmp_path, "b.toml", 'name = "t"\nkind = "clasification"\nmodel = "x"\n')
    with pytest.raises(TaskFileError, match=r"kind 'clasification' is not one of classification, "
                       r"tagging, generation; did you mean 'classification'\?"):  # fmt: skip
        load_task_file(path)
    path = write(tmp_path, "c.toml", 'name = "t"\nkind = "tagging"\n[data]\ntrain = "x"\n')
    with pytest.raises(TaskFileError, match=r"c\.toml: missing key 'model'$"):
        load_task_file(path)
    path = write(tmp_path, "d.toml", 'name = "t"\nkind = "tagging"\nmodel = "lstm"\n')
    with pytest.raises(TaskFileError, match=r"missing key 'data\.train'$"):
        load_task_file(path)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match=r"nope\.toml: no such task file"):
        load_task_file(tmp_path / "nope.toml")
    with pytest.raises(TaskFileError, match=r"task\.json: a task file ends in \.toml, \.yaml"):
        load_task_file(write(tmp_path, "task.json", "{}"))
    with pytest.raises(TaskFileError, match=r"bad\.toml: not valid TOML"):
        load_task_file(write(tmp_path, "bad.toml", "name = \n"))
    with pytest.raises(TaskFileError, match=r"list\.yaml: the file must hold a mapping of keys"):
        load_task_file(write(tmp_path, "list.yaml", "- a\n- b\n"))


def test_model_is_a_family_or_a_folder(tmp_path: Path) -> None:
    (tmp_path / "models" / "bert").mkdir(parents=True)
    spec = load_task_file(minimal(tmp_path))
    assert spec.model == "cnn" and spec.checkpoint is None
    path = write(tmp_path, "ck.toml", 'name = "t"\nkind = "tagging"\nmodel = "./models/bert"\n'
                 '[data]\ntrain = "x.jsonl"\n')  # fmt: skip
    assert load_task_file(path).checkpoint == (tmp_path / "models" / "bert").resolve()
    path.write_text(path.read_text().replace("./models/bert", "./models/bret"))
    with pytest.raises(TaskFileError, match=r"model folder .*models/bret does not exist"):
        load_task_file(path)
    with pytest.raises(TaskFileError, match=r"model 'cnn' is not one of lstm, minilm$"):
        load_task_file(minimal(tmp_path), families=("lstm", "minilm"))
    metric = minimal(tmp_path, 'metric = "acuracy"', name="m.toml")
    with pytest.raises(TaskFileError, match=r"metric 'acuracy' is .*did you mean 'accuracy'\?"):
        load_task_file(metric, metrics=("accuracy", "macro_f1"))


def test_load_user_task_reads_the_data_and_checks_the_checkpoint(tmp_path: Path) -> None:
    rows = "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(10))
    (tmp_path / "t.csv").write_text("text,label\n" + rows)
    spec, data = load_user_task(minimal(tmp_path))
    assert spec.name == data.name == "t" and spec.kind == "classification"
    assert isinstance(data, ClassificationData) and len(data.test) == 2
    assert default_metric(data) == "macro_f1"
    (tmp_path / "empty-model").mkdir()
    path = write(tmp_path, "ck.toml", 'name = "t"\nkind = "classification"\n'
                 'model = "./empty-model"\n[data]\ntrain = "missing.csv"\n')  # fmt: skip
    with pytest.raises(CheckpointError, match="empty-model is not a model checkpoint: missing"):
        load_user_task(path)  # the model is checked before the data is read
    (tmp_path / "t.csv").write_text("text,label\n")
    with pytest.raises(UserDataError, match=r"t\.csv: the file is empty"):
        load_user_task(minimal(tmp_path))


def test_a_checkpoint_family_with_the_recipes_max_length(tmp_path: Path) -> None:
    from bench.tiny_checkpoints import bert_checkpoint

    bert_checkpoint(tmp_path / "bert", ["a", "b"])
    path = minimal(tmp_path, data="[recipe]\nmax_length = 40")
    path.write_text(path.read_text().replace('"cnn"', '"./bert"'))
    family = load_task_file(path).checkpoint_family()
    assert family.path == (tmp_path / "bert").resolve() and family.max_length == 40
    assert load_task_file(minimal(tmp_path)).checkpoint_family() is None


def test_pooling_picks_a_checkpoint_classifiers_head(tmp_path: Path) -> None:
    (tmp_path / "bert").mkdir()
    assert load_task_file(minimal(tmp_path)).pooling == "head"  # the default

    def checkpoint_task(kind: str, pooling: str) -> Path:
        body = f'name = "t"\nkind = "{kind}"\nmodel = "./bert"\npooling = "{pooling}"\n'
        return write(tmp_path, f"{kind}-{pooling}.toml", body + '[data]\ntrain = "t.csv"\n')

    assert load_task_file(checkpoint_task("classification", "mean")).pooling == "mean"
    assert load_task_file(checkpoint_task("tagging", "head")).pooling == "head"
    with pytest.raises(TaskFileError, match=r"pooling 'maen' is not one of head, mean; did you"):
        load_task_file(checkpoint_task("classification", "maen"))
    with pytest.raises(TaskFileError, match=r"pooling 'mean' is a classification head; a tagging"):
        load_task_file(checkpoint_task("tagging", "mean"))
    with pytest.raises(TaskFileError, match=r"pooling applies to a checkpoint folder; .* 'cnn'"):
        load_task_file(minimal(tmp_path, 'pooling = "mean"', name="family.toml"))


def test_a_mean_pooled_checkpoint_family(tmp_path: Path) -> None:
    from bench.tiny_checkpoints import bert_checkpoint

    bert_checkpoint(tmp_path / "bert", ["a", "b"])
    path = minimal(tmp_path, 'pooling = "mean"', data="[recipe]\nmax_length = 40")
    path.write_text(path.read_text().replace('"cnn"', '"./bert"'))
    family = load_task_file(path).checkpoint_family()
    assert (family.pooling, family.max_length) == ("mean", 40)
    path.write_text(path.read_text().replace("[recipe]\nmax_length = 40", ""))
    assert load_task_file(path).checkpoint_family().pooling == "mean"
