"""Recipes are chosen on dev by a stated rule, and the recorded ones are what the evidence chose."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from torch_rdrop.bench.tasks.recipes import (
    BUDGETED,
    RECIPES,
    DevRun,
    Recipe,
    choose_recipe,
    register_recipe,
)

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "docs" / "results" / "evidence.db"


def _runs(lr_curves: dict[float, list[float]], loss: list[float], greater: bool = True):
    return [
        DevRun("t", None, lr, seed, curve, loss, greater)
        for seed in (0, 1)
        for lr, curve in lr_curves.items()
    ]


def test_the_best_learning_rate_and_the_first_peak_with_headroom_are_chosen() -> None:
    runs = _runs(
        {1e-3: [0.5, 0.6, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7], 1e-2: [0.7, 0.75, 0.7, 0.6] * 2},
        [1.0, 0.6, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3],
    )
    choice = choose_recipe(runs)[("t", None)]
    assert choice.lr == 1e-3 and choice.epochs == 4  # peak at epoch 3, x1.25 rounded up
    assert choice.dev_by_lr == {1e-3: 0.8, 1e-2: 0.75} and choice.seeds == 2


def test_a_lower_is_better_metric_picks_the_lowest_dev_score() -> None:
    runs = _runs({1e-3: [50.0, 40.0, 45.0], 3e-3: [60.0, 30.0, 35.0]}, [5.0, 4.0, 3.99], False)
    choice = choose_recipe(runs)[("t", None)]
    assert choice.lr == 3e-3 and choice.epochs == 3 and choice.dev_score == 30.0


@pytest.mark.parametrize("greater", [True, False])
def test_a_tie_in_dev_score_goes_to_the_smaller_learning_rate(greater: bool) -> None:
    # the rule BBC at K = 16 was recorded under: all three rates reached the same dev score
    best, worse = (0.9, 0.5) if greater else (0.1, 0.5)
    curves = {3e-5: [worse, best], 1e-5: [worse, best], 1e-4: [best, best]}
    choice = choose_recipe(_runs(curves, [1.0, 0.5], greater))[("t", None)]
    assert choice.lr == 1e-5 and len(set(choice.dev_by_lr.values())) == 1


def test_dropout_set_by_the_runs_is_a_setting_of_its_own() -> None:
    # at the same learning rate, dropout 0.3 reaches the lower perplexity: the pair is chosen,
    # its epochs read off its own curve, and its dev score is not mixed with dropout 0.1's
    loss = [5.0, 4.0, 3.9, 3.89]
    runs = [
        DevRun("t", None, 5e-4, 0, curve, loss, False, dropout)
        for dropout, curve in ((0.1, [150.0, 140.0, 145.0, 150.0]), (0.3, [160, 140, 130, 128]))
    ]
    choice = choose_recipe(runs)[("t", None)]
    assert (choice.lr, choice.dropout, choice.epochs, choice.seeds) == (5e-4, 0.3, 4, 1)
    assert choice.dev_by_setting == {(5e-4, 0.1): 140.0, (5e-4, 0.3): 128.0}
    assert Recipe(choice.lr, choice.epochs, 500, dropout=choice.dropout).params()["dropout"] == 0.3
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\) or be None, got 1.0"):
        Recipe(lr=1e-3, epochs=3, dev_shots=4, dropout=1.0)


def test_a_loss_still_falling_is_not_flattened() -> None:
    falling = _runs({1e-3: [0.1 * i for i in range(10)]}, [1.0 - 0.1 * i for i in range(10)])
    flat = _runs({1e-3: [0.1 * i for i in range(10)]}, [1.0, 0.5] + [0.4] * 8)
    assert not choose_recipe(falling)[("t", None)].flattened
    assert choose_recipe(flat)[("t", None)].flattened


def test_a_recipe_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got 0"):
        Recipe(lr=0, epochs=3, dev_shots=4)
    with pytest.raises(ValueError, match="select must be one of"):
        Recipe(lr=1e-3, epochs=3, dev_shots=4, select="first")
    with pytest.raises(ValueError, match="train_rows must be a positive integer or None, got 0"):
        Recipe(lr=1e-3, epochs=3, dev_shots=4, train_rows=0)
    with pytest.raises(ValueError, match="recipe of t: train_rows cuts a whole training split"):
        register_recipe("t", 16, Recipe(lr=1e-3, epochs=3, dev_shots=4, train_rows=300))


def _recipe_studies() -> list[str]:
    script = (ROOT / "benchmarks" / "evidence.sh").read_text()
    return re.search(r"^RECIPES=(\S+)$", script, re.M).group(1).split(",")


@pytest.mark.skipif(not STORE.exists(), reason="no evidence store in this checkout")
def test_every_recorded_recipe_is_what_its_dev_runs_choose() -> None:
    from torch_rdrop.bench.engine.store import open_storage, storage_url
    from torch_rdrop.bench.report.book import load_section
    from torch_rdrop.bench.report.recipes import recipe_choices

    store = open_storage(storage_url(str(STORE)))
    chosen = {}
    for study in _recipe_studies():
        records = load_section(store, study).records
        assert records, f"recipe study {study} has no finished runs"
        for choice in recipe_choices(records):
            dev_shots = {dict(r.point.params)["dev_shots"] for r in records}
            rows = {dict(r.point.params).get("train_rows") for r in records}
            precisions = {dict(r.point.params).get("precision", "fp32") for r in records}
            model_runs = [r for r in records if r.point.task == choice.task]
            warm = {(dict(r.point.params).get("new_lr"), dict(r.point.params).get("max_length"))
                    for r in model_runs}  # fmt: skip
            chosen[(choice.task, choice.shots)] = (choice, study, dev_shots, rows, precisions,
                                                   warm)  # fmt: skip
    recorded = {key: r for key, r in RECIPES.items() if r.evidence}
    assert recorded, "no recipe is recorded from the evidence"
    assert set(chosen) == set(recorded), "recipe studies and recorded recipes differ"
    for key, recipe in recorded.items():
        choice, study, dev_shots, rows, precisions, warm = chosen[key]
        assert (recipe.lr, recipe.epochs, recipe.evidence) == (choice.lr, choice.epochs, study), key
        assert recipe.dropout == choice.dropout, key
        assert dev_shots == {recipe.dev_shots}, key
        assert rows == {recipe.train_rows}, key  # a recipe chosen on a subsample trains on it
        assert precisions == {recipe.precision}, key  # and in the precision it was chosen in
        assert warm == {(recipe.new_lr, recipe.max_length)}, key  # new weights' rate, input bound


@pytest.mark.skipif(not STORE.exists(), reason="no evidence store in this checkout")
def test_every_budget_recipe_is_what_its_dev_runs_choose_under_the_budget() -> None:
    from torch_rdrop.bench.engine.store import open_storage, storage_url
    from torch_rdrop.bench.report.book import load_section
    from torch_rdrop.bench.report.recipes import dev_runs, recipe_markdown

    store = open_storage(storage_url(str(STORE)))
    assert BUDGETED, "no budget recipe is recorded (the demo uses one)"
    for task, shots, budget, recipe in BUDGETED:
        assert recipe.evidence in _recipe_studies(), recipe.evidence
        records = load_section(store, recipe.evidence).records
        runs = dev_runs(records)
        choice = choose_recipe(runs, max_epochs=budget)[(task, shots)]
        assert (recipe.lr, recipe.epochs) == (choice.lr, choice.epochs), (task, shots)
        assert recipe.epochs <= budget and choice.flattened, (task, shots)
        assert (recipe.lr, recipe.epochs) != (
            RECIPES[(task, shots)].lr,
            RECIPES[(task, shots)].epochs,
        )
        report = "\n".join(recipe_markdown(records))  # the report states the budget choice
        assert f"picks lr {recipe.lr:g} for {recipe.epochs} epochs for {task}" in report
        assert "in the task definitions is that choice." in report


@pytest.mark.skipif(not STORE.exists(), reason="no evidence store in this checkout")
def test_a_recipe_study_shows_its_reference_model_on_the_same_dev_rows() -> None:
    from torch_rdrop.bench.engine.store import open_storage, storage_url
    from torch_rdrop.bench.report.book import load_section
    from torch_rdrop.bench.report.recipes import dev_runs, recipe_markdown

    # the headline dev run sits beside lead-N, which is fitted, not trained: it has no curve
    records = load_section(open_storage(storage_url(str(STORE))), "recipe-full-headlines").records
    model, reference = "bbc-headlines-minilm2minilm", "bbc-headlines-lead-n"
    assert {r.point.task for r in records} == {model, reference}
    assert {run.task for run in dev_runs(records)} == {model}
    row = next(line for line in recipe_markdown(records) if f"| {model} |" in line)
    assert "| `bbc-headlines-lead-n` 0.2081 (1 seed) |" in row, row
    assert "5e-05: 0.0798" in row, row
