"""The report of a recipe study: dev runs of ``none`` over learning rates, and what they chose.

A study whose runs all scored the dev split only (``score_on=dev``) is a recipe study: its section
shows, per (task, K), each learning rate's seed-mean best dev score, the learning rate and
epochs :func:`torch_rdrop.bench.tasks.recipes.choose_recipe` picks from them, whether the
training loss had flattened, and whether the recipe recorded in the task definitions is that
choice; and what the rule picks under the epoch budget of any budget recipe of those tasks.
A reference model run in the same study (it is fitted, not trained: no curve to choose from) is
shown beside the (task, K) of its data set, its seed-mean score on the same dev rows.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from torch_rdrop.bench.engine.axes import shots_label
from torch_rdrop.bench.engine.runner import RunRecord
from torch_rdrop.bench.report.gate import is_reference_task, reference_runs, reference_task_of
from torch_rdrop.bench.tasks.recipes import (
    BUDGETED,
    DevRun,
    RecipeChoice,
    choose_recipe,
    recorded_recipe,
)

__all__ = ["dev_runs", "is_recipe_study", "recipe_choices", "recipe_markdown"]


def is_recipe_study(records: Sequence[RunRecord]) -> bool:
    """Whether ``records`` are runs of ``none`` that scored the dev split only (``score_on=dev``)
    over set learning rates."""
    return bool(records) and all(
        r.point.method == "none"
        and dict(r.point.params).get("score_on") == "dev"
        and "lr" in dict(r.point.params)
        for r in records
    )


def dev_runs(records: Sequence[RunRecord]) -> list[DevRun]:
    """The dev curves of ``records`` as :class:`~torch_rdrop.bench.tasks.recipes.DevRun`
    (reference models, which are fitted rather than trained, have none and are left out)."""
    runs = []
    for record in records:
        if is_reference_task(record.point.task):
            continue
        result, point = record.result, record.point
        curve = result.curves.get(f"dev_{result.metric}") or result.curves[result.metric]
        params = dict(point.params)
        lr = float(params["lr"])
        dropout = None if params.get("dropout") is None else float(params["dropout"])
        loss = list(result.curves["train_loss"])
        runs.append(DevRun(point.task, point.shots, lr, point.seed, list(curve), loss,
                           result.greater_is_better, dropout))  # fmt: skip
    return runs


def recipe_choices(records: Sequence[RunRecord]) -> list[RecipeChoice]:
    """What the recipe rule picks for every (task, K) of a recipe study, in task order."""
    chosen = choose_recipe(dev_runs(records))
    return [chosen[key] for key in sorted(chosen, key=lambda k: (k[0], k[1] or 1 << 62))]


def _reference_on_dev(
    choice: RecipeChoice, references: Mapping[tuple[str, str], Mapping[int, RunRecord]]
) -> str:
    """The reference model of ``choice``'s data set: its seed-mean score on the same dev rows.

    ``references`` is :func:`reference_runs` of the section's records, looked up once.
    """
    reference = reference_task_of(choice.task)
    runs = references.get((reference, shots_label(choice.shots)), {})
    scores = [run.result.value for run in runs.values()]
    if not scores:
        return "not run"
    seeds = f"{len(scores)} seed" + ("s" if len(scores) > 1 else "")
    return f"`{reference}` {statistics.fmean(scores):.4f} ({seeds})"


def _recorded(choice: RecipeChoice) -> str:
    recipe = recorded_recipe(choice.task, choice.shots)
    if recipe is None:
        return "not recorded"
    if (recipe.lr, recipe.epochs, recipe.dropout) == (choice.lr, choice.epochs, choice.dropout):
        return "recorded"
    return f"differs: recorded lr {_setting(recipe.lr, recipe.dropout)}, {recipe.epochs} epochs"


def _setting(lr: float, dropout: float | None) -> str:
    """A learning rate, and the dropout where the runs set one.

    >>> _setting(5e-4, None), _setting(5e-4, 0.3)
    ('0.0005', '0.0005, dropout 0.3')
    """
    return f"{lr:g}" + ("" if dropout is None else f", dropout {dropout:g}")


def recipe_markdown(records: Sequence[RunRecord]) -> list[str]:
    """The section's table: one row per (task, K)."""
    lines = [
        "Dev runs of `none` (the test split was never scored). Per learning rate (and dropout, "
        "where the runs set one): the seed-mean of each run's best dev score. The chosen epochs "
        "are the epoch at which the chosen setting's seed-mean dev curve first peaks, times "
        "1.25 (rounded up, at most the epochs run); *flattened* means the seed-mean training "
        "loss fell by less than 5 % of its first-epoch value over the last fifth of those "
        "epochs. The reference model of the data set, where the study ran it, is scored on the "
        "same dev rows.",
        "",
        "| task | K | seeds | dev score by learning rate | lr (dropout) | epochs (of) "
        "| loss flattened "
        "| reference model on dev | in the task definitions |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    references = reference_runs(records)
    for c in recipe_choices(records):
        by_lr = "; ".join(
            f"{_setting(lr, dropout)}: {score:.4f}"
            for (lr, dropout), score in c.dev_by_setting.items()
        )
        flat = "yes" if c.flattened else f"no (fell {c.loss_drop:.1%})"
        lines.append(
            f"| {c.task} | {shots_label(c.shots)} | {c.seeds} | {by_lr} | "
            f"{_setting(c.lr, c.dropout)} | "
            f"{c.epochs} ({c.grid_epochs}) | {flat} | {_reference_on_dev(c, references)} | "
            f"{_recorded(c)} |"
        )
    return [*lines, "", *_budget_lines(records)]


def _budget_lines(records: Sequence[RunRecord]) -> list[str]:
    """One sentence per budget recipe chosen from these runs (``recipe=budget``)."""
    lines = []
    for task, shots, budget, recipe in BUDGETED:
        found = choose_recipe(dev_runs(records), max_epochs=budget).get((task, shots))
        if found is None:
            continue
        same = (recipe.lr, recipe.epochs) == (found.lr, found.epochs)
        lines.append(
            f"Under a budget of {budget} epochs (`recipe=budget`, the demo's), the same rule on "
            f"the first {budget} epochs of these runs picks lr {found.lr:g} for {found.epochs} "
            f"epochs for {task} at K = {shots_label(shots)} (seed-mean best dev "
            f"{found.dev_score:.4f}); the budget recipe in the task definitions is "
            + ("that choice." if same else f"lr {recipe.lr:g}, {recipe.epochs} epochs: it differs.")
        )
    return [*lines, ""] if lines else []
