"""The registries: one call registers a data set, a family or a task; every consumer reads them."""

from __future__ import annotations

import importlib.metadata
import time
from pathlib import Path

import numpy as np
import pytest

from bench import toy_tasks
from torch_rdrop.bench.engine.spec import TrialSpec
from torch_rdrop.bench.tasks import (
    METHODS,
    TASKS,
    ModelFamily,
    get_metric,
    get_task,
    load_plugins,
    register_task,
    register_task_file_reader,
    resolve_task,
    task_names,
)
from torch_rdrop.bench.tasks import registry as registry_module
from torch_rdrop.bench.tasks.catalog import Task
from torch_rdrop.bench.tasks.metrics import Predictions, entity_f1, macro_f1
from torch_rdrop.bench.tasks.trial import BACKEND, applies, run_trial


@pytest.fixture
def toy():
    toy_tasks.register()
    yield toy_tasks.TASK
    toy_tasks.unregister()


def test_a_task_registered_after_import_runs_through_the_backend(toy: str) -> None:
    assert toy in BACKEND.tasks and BACKEND.parse_tasks(toy) == (toy,)  # not frozen at import
    assert applies(toy, "none") and not applies(toy, "rdrop")  # fit/predict: method none only
    result = run_trial(TrialSpec(toy, "none", None, 0, 0))  # fitted on 15 "a", 30 "b"
    assert result.metric == "accuracy" and result.value == pytest.approx(10 / 15)
    with pytest.raises(ValueError, match="does not apply to fit/predict task toy-majority"):
        run_trial(TrialSpec(toy, "rdrop", 5, 0, 0))


class _FitsWhenItPredicts:
    """The majority class, counted (slowly) on each prediction, as the reference models refit."""

    def __init__(self, train: np.ndarray) -> None:
        self.train = train

    def predict(self, data, indices: np.ndarray) -> Predictions:
        time.sleep(0.3)
        return toy_tasks.fit_majority(data, self.train).predict(data, indices)


def test_a_model_that_fits_when_it_predicts_counts_that_in_its_training_time(toy: str) -> None:
    family = ModelFamily("lazy-majority", "majority, fitted on predicting", ("classification",),
                         fit=lambda data, train: _FitsWhenItPredicts(train))  # fmt: skip
    task = register_task("toy", family, name="toy-lazy-majority")
    try:
        result = run_trial(TrialSpec(task.name, "none", None, 0, 0))
    finally:
        TASKS.remove(task.name)
    assert result.value == pytest.approx(10 / 15)
    assert 0.3 <= result.seconds < 0.6  # its first prediction; not the second (the test score)


def test_dataset_family_pairs_are_tasks_and_bad_pairs_say_why() -> None:
    task = get_task("tweets-cnn")  # not registered, composed
    assert (task.dataset.name, task.model_family.name, task.metric) == ("tweets", "cnn", "macro_f1")
    assert "tweets-cnn" not in task_names() and BACKEND.parse_tasks("tweets-cnn") == ("tweets-cnn",)
    with pytest.raises(ValueError, match="it reads en, not 'zh'"):
        get_task("pd-ner-minilm")
    with pytest.raises(ValueError, match="it learns generation tasks, not classification"):
        get_task("mr-gpt2")
    with pytest.raises(ValueError, match="unknown task 'mr-xyz'; known tasks: bbc-cnn"):
        get_task("mr-xyz")


def test_the_builtin_names_keep_their_data_set_family_and_recipe() -> None:
    assert len(task_names()) == 21  # two of them on the pd-charlm backbone (two heads)
    assert get_task("reviews-zh-pd-charlm-mean").model_family.name == "pd-charlm-mean"
    fashion = get_task("fashion-mnist-cnn")
    assert fashion.model_family.name == "image-cnn"
    assert (fashion.epochs, fashion.dropout) == (10, 0.3)
    assert get_task("reviews-zh-cnn").model_name.startswith("text CNN")
    assert get_task("wsj-pos-lstm").rare == "all" and get_task("pd-ner-lstm").rare == "error"


@pytest.mark.parametrize(("family", "layers", "width"), [("gpt2", 2, 128), ("gpt2-wide", 4, 256)])
def test_the_character_lm_families_build_their_own_size(family: str, layers: int, width: int):
    from torch_rdrop.bench.tasks.data.base import GenerationData
    from torch_rdrop.bench.tasks.families import get_family

    texts = GenerationData("toy-lm", ("一二三", "二三四"), None, [0], [1], None, "zh")
    made = get_family(family)
    model = made.model(texts, made.encoder(texts), 0.2)
    assert (model.config.n_layer, model.config.n_embd, model.config.resid_pdrop) == (
        layers, width, 0.2,
    )  # fmt: skip
    pairs = GenerationData("toy-pairs", ("一二", "三四"), ("一", "三"), [0], [1], None, "zh")
    with pytest.raises(ValueError, match=f"model family {family} is a language model; toy-pairs"):
        made.model(pairs, made.encoder(texts), 0.2)


def test_packages_provide_tasks_through_the_entry_point_group(monkeypatch) -> None:
    point = importlib.metadata.EntryPoint("toy", "bench.toy_tasks:register", "torch_rdrop.tasks")

    def entry_points(group: str):
        return [point] if group == "torch_rdrop.tasks" else []

    monkeypatch.setattr(registry_module, "entry_points", entry_points)
    try:
        assert toy_tasks.TASK not in task_names()
        load_plugins(force=True)
        assert toy_tasks.TASK in task_names()
        assert get_task(toy_tasks.TASK).model_family.name == "majority"
    finally:
        toy_tasks.unregister()
    broken = importlib.metadata.EntryPoint("bad", "bench.toy_tasks:nothing", "torch_rdrop.tasks")
    monkeypatch.setattr(registry_module, "entry_points", lambda group: [broken])
    with pytest.raises(ValueError, match="entry point 'bad' .* failed: AttributeError"):
        load_plugins(force=True)


def test_task_files_are_read_by_the_reader_of_their_suffix(tmp_path: Path) -> None:
    path = tmp_path / "mine.toy"
    path.write_text("tweets cnn\n")

    def reader(file: Path) -> Task:
        pair = get_task("-".join(file.read_text().split()))
        return Task("my-task", pair.dataset, pair.model_family, epochs=3, origin=str(file))

    with pytest.raises(ValueError, match="no reader for '.toy' files is registered"):
        resolve_task(str(path))
    register_task_file_reader(".toy", reader)
    try:
        assert BACKEND.parse_tasks(str(path)) == ("my-task",)
        assert get_task("my-task").epochs == 3 and resolve_task(str(path)) == "my-task"
    finally:
        TASKS.remove("my-task")


def test_every_method_builds_and_searches_its_own_options() -> None:
    for method in METHODS.values():
        options = method.defaults()
        for r in method.search_space:
            assert r.name == "dropout" or r.name in options, (method.name, r.name, options)
        assert method.regularizer().name == method.name


def test_metrics_follow_the_field_libraries_and_know_their_direction() -> None:
    # macro-F1 averages per class: class 2 is never right, so it differs from accuracy (4/6)
    pred, gold = [0, 0, 1, 1, 0, 1], [0, 0, 1, 1, 2, 2]
    assert macro_f1(pred, gold, 3) == pytest.approx((0.8 + 0.8 + 0.0) / 3)
    names = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
    # a stray I-LOC starts an entity (CoNLL scheme): gold LOC at 1..2 found, PER at 0 missed
    assert entity_f1([[0, 4, 4]], [[1, 3, 4]], names) == pytest.approx(2 * 1 / (1 + 2))
    assert get_metric("perplexity").higher_is_better is False
    assert get_task("pd-lm-gpt2").higher_is_better is False
    score = get_metric("token_accuracy").score(Predictions([[1, 2], [0]], [[1, 1], [-100]]))
    assert score == 0.5


def test_the_readme_example_adds_a_method_a_metric_and_a_data_set_that_run() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Tasks, and adding to the benchmark", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    from torch_rdrop.bench.tasks import DATASETS, METRICS

    try:
        exec(compile(block, "README developer example", "exec"), {})
        assert "even-digits-mlp" in BACKEND.tasks
        spec = TrialSpec("even-digits-mlp", "rdrop-strong", 4, 0, 0, {"epochs": 1})
        result = run_trial(spec)
        assert result.metric == "balanced_accuracy" and 0.0 <= result.value <= 1.0
        assert applies("even-digits-mlp", "rdrop-strong") and not applies(
            "wsj-pos-lstm", "rdrop-strong"
        )
    finally:
        TASKS.remove("even-digits-mlp")
        DATASETS.remove("even-digits")
        METRICS.remove("balanced_accuracy")
        METHODS.remove("rdrop-strong")
