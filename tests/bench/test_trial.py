"""The trial backend trains real tasks with each method and measures them the same way."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch

from torch_rdrop.bench.engine.spec import TrialSpec
from torch_rdrop.bench.tasks import evaluation, trial
from torch_rdrop.bench.tasks.trial import BACKEND, METHODS_BY_KIND, run_trial
from torch_rdrop.wrapper import NoDropoutWarning


def _spec(task: str, method: str, shots: int = 4, **params) -> TrialSpec:
    return TrialSpec(task, method, shots, 0, 0, {"epochs": 2, **params})


def test_every_benchmark_task_is_offered() -> None:
    assert {"digits-mlp", "mr-cnn", "reviews-zh-lstm", "wsj-pos-lstm"} <= set(BACKEND.tasks)
    assert set(BACKEND.methods) == set(METHODS_BY_KIND["classification"])


@pytest.mark.parametrize("method", METHODS_BY_KIND["classification"])
def test_each_method_on_an_image_task(method) -> None:
    epochs: list[tuple[int, float]] = []
    result = run_trial(
        _spec("digits-mlp", method), on_epoch=lambda e, v, values: epochs.append((e, v))
    )
    assert result.metric == "accuracy" and 0.0 < result.value <= 1.0
    assert [e for e, _ in epochs] == [0, 1]
    assert result.curves["accuracy"] == [v for _, v in epochs]
    assert result.metrics["seconds_per_step"] > 0 and result.seconds > 0


@pytest.mark.parametrize("method", ["none", "rdrop", "mixup", "fgm"])
def test_methods_on_a_text_task(method) -> None:
    result = run_trial(_spec("mr-cnn", method, epochs=1))
    assert 0.0 < result.value <= 1.0 and math.isfinite(result.curves["train_loss"][0])


def test_tagging_task_reports_its_metric() -> None:
    result = run_trial(_spec("wsj-pos-lstm", "rdrop", shots=2, epochs=1))
    assert result.metric == "token_accuracy" and 0.0 <= result.value <= 1.0


def test_same_spec_gives_the_same_result() -> None:
    first = run_trial(_spec("digits-mlp", "rdrop"))
    second = run_trial(_spec("digits-mlp", "rdrop"))
    assert first.curves == second.curves
    other_seed = run_trial(TrialSpec("digits-mlp", "rdrop", 4, 1, 0, {"epochs": 2}))
    assert other_seed.curves["accuracy"] != first.curves["accuracy"]


def _scripted_evaluation(monkeypatch, dev_scores: list[float]) -> list[tuple[str, float]]:
    """Make ``trial.evaluate`` return ``dev_scores`` in turn on the dev split; record which split
    each call scored and a fingerprint of the weights it saw."""
    calls: list[tuple[str, float]] = []
    scores = iter(dev_scores)

    def evaluate(task, model, encoder, data, indices):
        weights = float(sum(p.detach().double().sum() for p in model.parameters()))
        on_test = set(indices.tolist()) == set(data.test.tolist())
        calls.append(("test" if on_test else "dev", weights))
        return 0.5 if on_test else next(scores)

    monkeypatch.setattr(trial, "evaluate", evaluate)
    return calls


def test_best_dev_checkpoint_is_scored_on_test_once(monkeypatch) -> None:
    calls = _scripted_evaluation(monkeypatch, [0.2, 0.9, 0.4])
    result = run_trial(_spec("digits-mlp", "none", epochs=3, select="best", dev_shots=4))
    assert [split for split, _ in calls] == ["dev", "dev", "dev", "test"]
    assert calls[-1][1] == calls[1][1] != calls[2][1]  # the weights of epoch 2, restored
    assert result.metrics["best_epoch"] == 2 and result.metrics["dev_accuracy"] == 0.9
    assert result.value == 0.5 and result.curves["dev_accuracy"] == [0.2, 0.9, 0.4]


def test_best_checkpoint_when_evaluated_every_other_epoch(monkeypatch) -> None:
    calls = _scripted_evaluation(monkeypatch, [0.3, 0.8, 0.5])
    spec = _spec("digits-mlp", "none", epochs=5, eval_every=2, select="best", dev_shots=4)
    result = run_trial(spec)
    assert result.metrics["best_epoch"] == 4 and result.metrics["dev_accuracy"] == 0.8
    assert calls[-1][1] == calls[1][1]


def test_best_checkpoint_of_a_lower_is_better_metric(monkeypatch) -> None:
    calls = _scripted_evaluation(monkeypatch, [50.0, 20.0, 30.0])
    spec = _spec("pd-lm-gpt2", "none", 8, epochs=3, batch_size=8, select="best", dev_shots=4)
    result = run_trial(spec)
    assert result.metrics["best_epoch"] == 2 and calls[-1][1] == calls[1][1]


@pytest.mark.parametrize("how", [{"score_on": "dev"}, {"use_dev": True}])
def test_dev_only_runs_never_score_the_test_split(monkeypatch, how) -> None:
    calls = _scripted_evaluation(monkeypatch, [0.3, 0.6])
    params = {"epochs": 2, "dev_shots": 4, **{k: v for k, v in how.items() if k != "use_dev"}}
    spec = TrialSpec("digits-mlp", "none", 4, 0, 0, params, use_dev="use_dev" in how)
    result = run_trial(spec)
    assert [split for split, _ in calls] == ["dev", "dev"]
    assert result.value == 0.6 and "best_epoch" not in result.metrics


def test_a_recorded_recipe_applies_unless_the_run_overrides_it(monkeypatch) -> None:
    from torch_rdrop.bench.tasks.recipes import RECIPES, Recipe

    monkeypatch.setitem(RECIPES, ("digits-mlp", 4), Recipe(lr=0.02, epochs=3, dev_shots=2))
    seen: list[int] = []
    result = run_trial(TrialSpec("digits-mlp", "none", 4, 0, 0), lambda e, v, d: seen.append(e))
    assert seen == [0, 1, 2] and "best_epoch" in result.metrics  # the recipe's epochs, best dev
    seen.clear()
    run_trial(
        TrialSpec("digits-mlp", "none", 4, 0, 0, {"epochs": 1}), lambda e, v, d: seen.append(e)
    )
    assert seen == [0]
    family = run_trial(TrialSpec("digits-mlp", "none", 4, 0, 0, {"recipe": "family", "epochs": 1}))
    assert "best_epoch" not in family.metrics


def test_a_budget_recipe_replaces_the_recorded_one_only_where_there_is_one(monkeypatch) -> None:
    from torch_rdrop.bench.tasks import recipes

    monkeypatch.setitem(recipes.RECIPES, ("digits-mlp", 4), recipes.Recipe(0.02, 3, 2))
    budget = ("digits-mlp", 4, 2, recipes.Recipe(0.02, 2, 2))
    monkeypatch.setattr(recipes, "BUDGETED", (*recipes.BUDGETED, budget))
    seen: list[int] = []
    spec = TrialSpec("digits-mlp", "none", 4, 0, 0, {"recipe": "budget"})
    run_trial(spec, lambda e, v, d: seen.append(e))
    assert seen == [0, 1]  # the budget recipe's 2 epochs, not the recorded 3
    seen.clear()
    run_trial(TrialSpec("digits-mlp", "none", 4, 1, 1, {"recipe": "budget"}),
              lambda e, v, d: seen.append(e))  # fmt: skip
    assert seen == [0, 1]
    monkeypatch.setattr(recipes, "BUDGETED", ())
    seen.clear()
    run_trial(spec, lambda e, v, d: seen.append(e))
    assert seen == [0, 1, 2]  # no budget recipe: the recorded one
    with pytest.raises(ValueError, match="param recipe must be one of .*, got 'short'"):
        run_trial(TrialSpec("digits-mlp", "none", 4, 0, 0, {"recipe": "short"}))


def test_eval_every_evaluates_after_the_last_epoch() -> None:
    seen: list[int] = []
    run_trial(_spec("digits-mlp", "none", epochs=5, eval_every=2), lambda e, v, d: seen.append(e))
    assert seen == [1, 3, 4]


def test_method_params_reach_the_method_and_bad_ones_are_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a split below the last dropout would warn: no-op
        cheap = run_trial(_spec("digits-mlp", "rdrop", duplicate_from="blocks.0"))
    assert 0.0 < cheap.value <= 1.0
    with pytest.warns(NoDropoutWarning):
        run_trial(_spec("digits-mlp", "rdrop", duplicate_from="head"))
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        run_trial(_spec("digits-mlp", "none", epochs=0))
    with pytest.raises(ValueError, match="does not apply to tagging task wsj-pos-lstm"):
        run_trial(_spec("wsj-pos-lstm", "mixup"))
    with pytest.raises(ValueError, match="shots|K"):
        run_trial(_spec("digits-mlp", "none", shots=5000))


@pytest.mark.parametrize(
    ("task", "method", "shots"),
    [("reviews-zh-cnn", "rdrop", 2), ("fashion-mnist-cnn", "fgm", 1), ("pd-ner-lstm", "none", 1)],
)
def test_chinese_text_images_and_chinese_ner_train(task, method, shots) -> None:
    seen: list[int] = []
    result = run_trial(_spec(task, method, shots, epochs=1), lambda e, v, d: seen.append(e))
    assert seen == [0] and 0.0 <= result.value <= 1.0
    assert math.isfinite(result.curves["train_loss"][0]) and result.greater_is_better


def test_language_model_is_scored_by_perplexity() -> None:
    result = run_trial(_spec("pd-lm-gpt2", "rdrop", shots=8, epochs=1, batch_size=8))
    assert result.metric == "perplexity" and not result.greater_is_better
    assert 1.0 < result.value < 1e6 and result.metrics["seconds_per_step"] > 0


def test_headline_model_is_scored_by_rouge_of_its_decoding() -> None:
    seen: list[float] = []
    spec = _spec("bbc-headlines-bart", "none", shots=8, epochs=2, batch_size=8)
    result = run_trial(spec, lambda e, v, d: seen.append(v))
    assert result.metric == "rouge_l" and len(seen) == 2 and 0.0 <= result.value <= 1.0
    with pytest.raises(ValueError, match="'fgm' does not apply to generation task"):
        run_trial(_spec("bbc-headlines-bart", "fgm"))


def test_training_runs_on_the_requested_threads_and_restores_them() -> None:
    before = torch.get_num_threads()
    seen: list[int] = []
    run_trial(
        _spec("digits-mlp", "none", epochs=1), lambda e, v, d: seen.append(torch.get_num_threads())
    )
    assert seen == [1] and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        run_trial(_spec("digits-mlp", "none", threads=0))


def test_semi_supervised_adds_a_ramped_consistency_on_unlabelled_batches(monkeypatch) -> None:
    weighted: list[float] = []
    original = trial._Unlabelled.loss

    def spy(self, model, encoder, data):
        loss = original(self, model, encoder, data)
        weighted.append(float(loss.detach()))
        return loss

    monkeypatch.setattr(trial._Unlabelled, "loss", spy)
    result = run_trial(_spec("digits-mlp", "none", epochs=3, semi_supervised=True, rampup=1.0))
    assert 0.0 < result.value <= 1.0
    assert len(weighted) == 3 * 2  # one unlabelled batch per step: 40 labelled, batches of 32
    assert all(w >= 0.0 for w in weighted) and weighted[-1] > 10 * weighted[0]  # ramped up
    with pytest.raises(ValueError, match="semi_supervised applies to classification tasks"):
        run_trial(_spec("wsj-pos-lstm", "none", semi_supervised=True))
    with pytest.raises(ValueError, match="rampup must lie in"):
        run_trial(_spec("digits-mlp", "none", semi_supervised=True, rampup=2.0))
    with pytest.raises(ValueError, match="unlabelled_ratio must be a positive integer, got 0"):
        run_trial(_spec("digits-mlp", "none", semi_supervised=True, unlabelled_ratio=0))


def test_unlabelled_batches_are_ratio_times_the_batch_size(monkeypatch) -> None:
    sizes: list[int] = []
    original = trial._Unlabelled.loss

    def spy(self, model, encoder, data):
        sizes.append(self.size)
        return original(self, model, encoder, data)

    monkeypatch.setattr(trial._Unlabelled, "loss", spy)
    settings = {"epochs": 1, "batch_size": 8, "semi_supervised": True, "unlabelled_ratio": 3}
    run_trial(_spec("digits-mlp", "none", **settings))
    assert sizes and set(sizes) == {24}


def test_train_rows_trains_on_that_many_rows_of_the_whole_split(monkeypatch) -> None:
    seen: list[int] = []
    original = trial.few_shot

    def spy(*args, **kwargs):
        split = original(*args, **kwargs)
        seen.append(len(split.train))
        return split

    monkeypatch.setattr(trial, "few_shot", spy)
    for task in ("digits-mlp", "digits-pixel-logreg"):
        result = run_trial(_spec(task, "none", None, epochs=1, train_rows=120, select="best"))
        assert result.value > 0.5, task  # 120 digits teach both models most of the classes
    assert seen == [120, 120]
    with pytest.raises(ValueError, match="param train_rows cuts a whole training split.*shots=4"):
        run_trial(_spec("digits-mlp", "none", train_rows=120))
    with pytest.raises(ValueError, match="param train_rows must be a positive .*, got 0"):
        run_trial(_spec("digits-mlp", "none", None, train_rows=0))


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux /proc only")
def test_peak_memory_is_the_trials_own() -> None:
    spike = torch.ones(100 * 2**20)  # 400 MiB resident before the trial, freed before it starts
    del spike
    before = trial._peak_memory_mb()
    result = run_trial(_spec("digits-mlp", "none", epochs=1))
    assert 0 < result.peak_memory_mb < before - 300


def test_predictions_come_back_in_the_order_of_the_indices(monkeypatch) -> None:
    """Evaluation batches run shortest first; the rows must still pair with their examples."""
    from types import SimpleNamespace

    texts = ["a much longer text", "b", "cc", "a long text", "ddd"]
    data = SimpleNamespace(inputs=texts, labels=torch.tensor([0, 1, 0, 1, 1]))
    seen: list[list[int]] = []

    class Encoder:
        def batch(self, data, idx):
            seen.append([int(i) for i in idx])
            return {"x": torch.as_tensor(idx), "labels": data.labels[torch.as_tensor(idx)]}

    class Model(torch.nn.Module):
        def forward(self, x):  # the example's own index modulo 2: every row is identifiable
            return torch.nn.functional.one_hot(x % 2, 2).float()

    monkeypatch.setattr(evaluation, "EVAL_BATCH", 2)
    indices = torch.tensor([0, 3, 4, 1]).numpy()
    got = evaluation.predict(Model(), Encoder(), data, indices)
    assert seen == [[1, 4], [3, 0]]  # shortest first
    assert got.labels == [0, 1, 0, 1] and got.gold == [0, 1, 1, 1]
