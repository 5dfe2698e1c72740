"""The "did it learn?" gate: each group's ``none`` next to its data set's reference model.

A regulariser can only be judged on a model that has learned. For a group (task, K) with a
``none`` arm, the gate finds the runs of the reference model of the task's data set
(``<dataset>-<reference family>``, e.g. ``mr-tfidf-logreg`` for ``mr-cnn``) on the same K and
seeds, and compares: *learned* when ``none``'s mean is better in the metric's direction, *did not
learn* otherwise, *no reference run* when the reference did not run on every seed of ``none``.

>>> [reference_task_of(t) for t in ("mr-cnn", "pd-lm-gpt2", "mr-tfidf-logreg")]
['mr-tfidf-logreg', 'pd-lm-char-ngram', None]
>>> is_reference_task("digits-pixel-logreg"), is_reference_task("digits-mlp")
(True, False)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from torch_rdrop.bench.engine.axes import shots_label
from torch_rdrop.bench.engine.runner import RunRecord
from torch_rdrop.bench.report.stats import Paired, paired_comparison

__all__ = [
    "DID_NOT_LEARN",
    "LEARNED",
    "NO_REFERENCE",
    "LearningCheck",
    "ReferenceRuns",
    "check_learning",
    "is_reference_task",
    "reference_runs",
    "reference_task_of",
]

LEARNED = "learned"
DID_NOT_LEARN = "did not learn"
NO_REFERENCE = "no reference run"

#: (reference task, K label) -> seed -> the reference run
ReferenceRuns = Mapping[tuple[str, str], Mapping[int, RunRecord]]


_KNOWN: dict[str, tuple[str, str]] = {}  # task -> (family, reference task), once found


def _family_and_reference(task: str) -> tuple[str, str | None]:
    """The task's model family and its data set's reference task; ``("", None)`` when the task is
    not in the catalog (a report of runs whose tasks are no longer registered still works)."""
    from torch_rdrop.bench.tasks import get_task
    from torch_rdrop.bench.tasks.reference.score import reference_task

    if task not in _KNOWN:
        try:
            found = get_task(task)
        except (KeyError, ValueError):
            return "", None  # not remembered: the task may be registered later
        reference = reference_task(found)
        _KNOWN[task] = (found.model_family.name, reference)
    return _KNOWN[task]


def is_reference_task(task: str) -> bool:
    """Whether ``task`` runs a reference model (its family is one of the reference models)."""
    from torch_rdrop.bench.tasks.reference.score import REFERENCE_MODELS

    return _family_and_reference(task)[0] in REFERENCE_MODELS


def reference_task_of(task: str) -> str | None:
    """The reference task of ``task``'s data set; None for a reference task or an unknown one."""
    if is_reference_task(task):
        return None
    return _family_and_reference(task)[1]


def reference_runs(records: Iterable[RunRecord]) -> dict[tuple[str, str], dict[int, RunRecord]]:
    """The runs of reference tasks among ``records`` by (task, K label) and seed (first kept)."""
    found: dict[tuple[str, str], dict[int, RunRecord]] = {}
    for record in records:
        if is_reference_task(record.point.task):
            key = (record.point.task, shots_label(record.point.shots))
            found.setdefault(key, {}).setdefault(record.point.seed, record)
    return found


@dataclass(frozen=True)
class LearningCheck:
    """One ``none`` arm of a group against its reference model on the same K and seeds.

    ``paired`` is ``none`` minus the reference, seed by seed; NaN means without a reference.
    ``train_loss`` is ``none``'s mean training loss in its last epoch (NaN when not recorded): a
    high one says the recipe stopped before the model fitted its training rows.
    """

    arm: str
    reference: str | None
    none_mean: float
    reference_mean: float
    paired: Paired | None
    verdict: str
    train_loss: float = math.nan

    @property
    def learned(self) -> bool:
        """False only for a verdict of *did not learn* (no reference run keeps the group in)."""
        return self.verdict != DID_NOT_LEARN


def check_learning(
    group: tuple[str, str],
    arm: str,
    values: Mapping[int, float],
    metric: str,
    greater_is_better: bool,
    references: ReferenceRuns,
    train_loss: float = math.nan,
) -> LearningCheck:
    """Compare the ``none`` values (seed -> metric) of ``group`` = (task, K label) with the runs of
    its reference model on the same K; the reference must cover every seed and share the metric.
    ``train_loss`` (``none``'s last-epoch training loss) is carried along for the table.

    >>> from torch_rdrop.bench.engine.grid import GridPoint
    >>> from torch_rdrop.bench.engine.spec import TrialResult
    >>> def run(task, seed, value):
    ...     result = TrialResult("accuracy", {"accuracy": value}, {}, 1.0, 1.0, {})
    ...     return RunRecord(GridPoint.make(task, "none", 16, seed, {}), seed, result)
    >>> refs = reference_runs([run("mr-tfidf-logreg", s, 0.6) for s in range(3)])
    >>> check = check_learning(("mr-cnn", "16"), "none", {0: 0.5, 1: 0.55, 2: 0.52},
    ...                        "accuracy", True, refs)
    >>> check.verdict, check.reference, round(check.paired.mean_diff, 4)
    ('did not learn', 'mr-tfidf-logreg', -0.0767)
    """
    task, shots = group
    none_mean = float(np.mean(list(values.values())))
    reference = reference_task_of(task)
    runs = references.get((reference, shots), {}) if reference else {}
    runs = {s: r for s, r in runs.items() if r.result.metric == metric}
    if not values or not set(values) <= set(runs):
        return LearningCheck(arm, reference, none_mean, math.nan, None, NO_REFERENCE, train_loss)
    base = {seed: runs[seed].result.value for seed in values}
    reference_mean = float(np.mean(list(base.values())))
    paired = paired_comparison(values, base)
    better = none_mean > reference_mean if greater_is_better else none_mean < reference_mean
    verdict = LEARNED if better else DID_NOT_LEARN
    return LearningCheck(arm, reference, none_mean, reference_mean, paired, verdict, train_loss)
