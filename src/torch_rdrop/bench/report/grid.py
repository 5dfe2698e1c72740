"""The statistics of one benchmark grid: its runs grouped into arms and groups, compared with
``none``.

Only COMPLETE trials are read and only the first one of each grid point, so a killed worker's trial
or a duplicate never counts. An *arm* is a method with the hyper-parameters that vary among its
runs and the method's own options that they set (``rdrop alpha=0.5``); a *group* is a task at one
K. Statistics per group and arm: mean ± std, a 95 % t interval, and paired tests against ``none``
over seeds; across groups: win/tie/loss against ``none`` and average ranks.

Each group's ``none`` also meets the "did it learn?" gate (:mod:`torch_rdrop.bench.report.gate`):
against the reference model of its data set on the same K and seeds. A group whose ``none`` does
not beat its reference is marked and kept out of win/tie/loss and the ranking (counted apart).
Reference tasks are not groups of their own: they are the gate's yardstick.

:class:`Report` holds it all, with no files yet: :mod:`~torch_rdrop.bench.report.grid_markdown`
writes it as Markdown, :mod:`~torch_rdrop.bench.report.grid_plots` draws it and
:mod:`~torch_rdrop.bench.report.grid_files` writes a grid's ``report.md``, ``runs.csv`` and plots.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from torch_rdrop.bench.engine.axes import shots_label
from torch_rdrop.bench.engine.runner import RunRecord, finished_runs
from torch_rdrop.bench.engine.store import import_optuna, load_existing_study
from torch_rdrop.bench.report.gate import (
    LearningCheck,
    check_learning,
    is_reference_task,
    reference_runs,
)
from torch_rdrop.bench.report.provenance import started_from
from torch_rdrop.bench.report.stats import (
    Paired,
    Summary,
    WinTieLoss,
    average_ranks,
    paired_comparison,
    summarize,
    win_tie_loss,
)
from torch_rdrop.bench.report.variants import default_arm_of, method_options
from torch_rdrop.bench.tasks.methods import method_names

if TYPE_CHECKING:
    import optuna

__all__ = [
    "ArmCost",
    "ArmStats",
    "Group",
    "Report",
    "VariantStats",
    "arm_costs",
    "arm_label",
    "arm_params",
    "baseline_of",
    "build_report",
    "curve_name",
    "load_runs",
    "numeric_first",
]

BASELINE = "none"
Group = tuple[str, str]  # (task, K label)


def load_runs(storage: optuna.storages.BaseStorage, study_name: str) -> tuple[list[RunRecord], int]:
    """The finished runs of a grid study (one per point) and how many COMPLETE trials it holds."""
    optuna = import_optuna()
    study = load_existing_study(storage, study_name)
    if study.user_attrs.get("kind") == "sweep":
        raise ValueError(
            f"study {study_name!r} is a sweep, not a benchmark grid: `rdrop sweep` prints its best "
            "trials; benchmark them with `rdrop bench --param ...` into a grid study"
        )
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    records = sorted(finished_runs(trials).values(), key=lambda r: r.point.sort_key())
    return records, len(trials)


def arm_params(records: Sequence[RunRecord]) -> dict[str, set[str]]:
    """Per method, the hyper-parameters that name its arms: those that take more than one value
    among its runs, and the method's own options (``duplicate_from``, ``alpha``) that its runs
    set, so that a study of one R-Drop variant does not label it plain ``rdrop``."""
    seen: dict[str, dict[str, set[Any]]] = defaultdict(lambda: defaultdict(set))
    for record in records:
        for name, value in record.point.params:
            seen[record.point.method][name].add(value)
    for record in records:  # a parameter missing from some runs varies too
        for name in seen[record.point.method]:
            if name not in dict(record.point.params):
                seen[record.point.method][name].add(None)
    return {
        method: {n for n, v in names.items() if len(v) > 1 or n in method_options(method)}
        for method, names in seen.items()
    }


def arm_label(record: RunRecord, named: Mapping[str, set[str]]) -> str:
    """The method plus the hyper-parameters that name its arms (:func:`arm_params`):
    ``rdrop alpha=0.5``."""
    names = named.get(record.point.method, set())
    extra = " ".join(f"{k}={v}" for k, v in record.point.params if k in names)
    return f"{record.point.method} {extra}".strip()


@dataclass(frozen=True)
class ArmStats:
    """One arm in one group: its values by seed, their summary, and the paired test vs none."""

    arm: str
    method: str
    values: Mapping[int, float]
    summary: Summary
    paired: Paired | None


@dataclass(frozen=True)
class VariantStats:
    """An arm against the same method at its defaults (:func:`.variants.default_arm_of`)."""

    arm: str
    default_arm: str
    paired: Paired


@dataclass(frozen=True)
class ArmCost:
    """What an arm cost over its runs, and relative to ``none`` in the same groups.

    ``seconds`` and ``seconds_per_step`` are medians over the arm's runs. ``time_ratio`` and
    ``step_ratio`` are geometric means over groups of the arm's median training time (and time
    per optimizer step) divided by ``none``'s; NaN without a ``none`` to compare.
    """

    arm: str
    runs: int
    seconds: float
    seconds_per_step: float
    time_ratio: float
    step_ratio: float


@dataclass
class Report:
    """Everything the report shows, computed from the runs (no files yet).

    ``metric`` and ``greater_is_better`` describe the whole report when every group shares them
    (``"metric"`` otherwise); ``group_metric`` holds each group's own metric and direction.
    ``curves`` holds each arm's mean per-epoch curve, and ``curve_names`` the name of the curve
    drawn for the group: ``<metric>``, or ``dev_<metric>`` when the runs kept only the dev curve.
    ``started_from`` counts, per group, the data and weights its runs recorded
    (:mod:`.provenance`).
    """

    metric: str
    greater_is_better: bool
    groups: dict[Group, list[ArmStats]] = field(default_factory=dict)
    group_metric: dict[Group, tuple[str, bool]] = field(default_factory=dict)
    win_tie_loss: dict[str, WinTieLoss] = field(default_factory=dict)
    ranks: dict[str, tuple[float, int]] = field(default_factory=dict)
    curves: dict[Group, dict[str, list[float]]] = field(default_factory=dict)
    costs: list[ArmCost] = field(default_factory=list)
    learning: dict[Group, list[LearningCheck]] = field(default_factory=dict)
    unlearned_win_tie_loss: dict[str, WinTieLoss] = field(default_factory=dict)
    reference_groups: dict[Group, list[float]] = field(default_factory=dict)
    curve_names: dict[Group, str] = field(default_factory=dict)
    variants: dict[Group, list[VariantStats]] = field(default_factory=dict)
    started_from: dict[Group, dict[str, dict[str, int]]] = field(default_factory=dict)

    def metric_of(self, group: Group) -> tuple[str, bool]:
        """The metric of ``group`` and whether higher is better."""
        return self.group_metric.get(group, (self.metric, self.greater_is_better))

    def learned(self, group: Group) -> bool:
        """False when a ``none`` of ``group`` did not beat its reference model."""
        return all(check.learned for check in self.learning.get(group, ()))


def _geometric_mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    return float(np.exp(np.mean(np.log(finite)))) if finite else math.nan


Arms = Mapping[str, Mapping[int, RunRecord]]  # arm label -> seed -> run


def _params(runs: Mapping[int, RunRecord]) -> dict[str, Any]:
    return dict(next(iter(runs.values())).point.params)


def _is_baseline(runs: Mapping[int, RunRecord]) -> bool:
    return next(iter(runs.values())).point.method == BASELINE


def baseline_of(arms: Arms, arm: str) -> Mapping[int, RunRecord] | None:
    """The ``none`` runs ``arm`` is compared with: the only ``none`` arm, or, when ``none`` runs
    at several settings (``dropout`` 0.1, 0.3), the one whose settings ``arm`` shares; else None."""
    candidates = [runs for runs in arms.values() if _is_baseline(runs)]
    if len(candidates) == 1:
        return candidates[0]
    own = _params(arms[arm])
    for runs in candidates:
        if all(own.get(k) == v for k, v in _params(runs).items()):
            return runs
    return None


def arm_costs(
    by_group: Mapping[Group, Arms],
) -> list[ArmCost]:
    """Median training time and time per step of each arm, and their ratios to the matching
    ``none`` (:func:`baseline_of`) in the same group.

    Medians, not means: one run slowed by a busy machine or a paused worker would otherwise
    pull its whole arm's figure up."""
    per_arm: dict[str, list[RunRecord]] = defaultdict(list)
    ratios: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))

    def medians(runs: Iterable[RunRecord]) -> tuple[float, float]:
        runs = list(runs)
        steps = [r.result.metrics.get("seconds_per_step", math.nan) for r in runs]
        return float(np.median([r.result.seconds for r in runs])), float(np.median(steps))

    for arms in by_group.values():
        for arm, runs in arms.items():
            per_arm[arm].extend(runs.values())
            matched = baseline_of(arms, arm)
            base = medians(matched.values()) if matched is not None else None
            if base is not None:
                seconds, per_step = medians(runs.values())
                ratios[arm][0].append(seconds / base[0] if base[0] > 0 else math.nan)
                ratios[arm][1].append(per_step / base[1] if base[1] > 0 else math.nan)
    costs = []
    for arm, runs in per_arm.items():
        seconds, per_step = medians(runs)
        time_ratios, step_ratios = ratios.get(arm, ([], []))
        time_ratio, step_ratio = _geometric_mean(time_ratios), _geometric_mean(step_ratios)
        costs.append(ArmCost(arm, len(runs), seconds, per_step, time_ratio, step_ratio))
    return sorted(costs, key=lambda c: (math.isnan(c.time_ratio), c.time_ratio, c.arm))


def _arm_order(runs: Mapping[int, RunRecord]) -> tuple[Any, ...]:
    """Arms in the benchmark's method order (none first), then by parameter values as numbers."""
    point = next(iter(runs.values())).point
    methods = method_names()
    rank = methods.index(point.method) if point.method in methods else len(methods)
    return (rank, point.method, tuple((k, numeric_first(v)) for k, v in point.params))


def curve_name(runs: Iterable[RunRecord], metric: str) -> str:
    """The per-epoch curve to draw for ``runs``: ``metric`` when every run kept it, else
    ``dev_<metric>`` when every run kept that one, else ``metric`` (then nothing is drawn)."""
    runs = list(runs)
    for name in (metric, f"dev_{metric}"):
        if all(r.result.curves.get(name) for r in runs):
            return name
    return metric


def _last_train_loss(runs: Iterable[RunRecord]) -> float:
    """The mean over runs of the training loss of their last epoch; NaN when none recorded it."""
    last = [r.result.curves["train_loss"][-1] for r in runs if r.result.curves.get("train_loss")]
    return float(np.mean(last)) if last else math.nan


def _variant_stats(arms: Arms) -> list[VariantStats]:
    """Each arm that has a default arm of its method in the group, paired with it."""
    found = []
    for arm, runs in sorted(arms.items(), key=lambda item: _arm_order(item[1])):
        default = default_arm_of(arms, arm)
        if default is not None:
            label, base = default
            paired = paired_comparison(
                {s: r.result.value for s, r in runs.items()},
                {s: r.result.value for s, r in base.items()},
            )
            found.append(VariantStats(arm, label, paired))
    return found


def build_report(
    records: Sequence[RunRecord], level: float = 0.05, references: Iterable[RunRecord] = ()
) -> Report:
    """Group the runs and compute every statistic of the report.

    Groups may use different metrics (accuracy, perplexity): each is compared, counted in
    win/tie/loss and ranked in its own direction. The runs of reference tasks among ``records``
    and ``references`` (e.g. another study of the same store) feed the "did it learn?" gate.
    """
    if not records:
        raise ValueError("the study has no finished runs yet: run `rdrop bench` first")
    references = reference_runs([*records, *references])
    own_references = [r for r in records if is_reference_task(r.point.task)]
    records = [r for r in records if not is_reference_task(r.point.task)]
    if not records:  # a study of reference models only: their means, no arms to compare
        report = Report(own_references[0].result.metric, own_references[0].result.greater_is_better)
        for r in own_references:
            group = (r.point.task, shots_label(r.point.shots))
            report.reference_groups.setdefault(group, []).append(r.result.value)
        return report
    metrics = {r.result.metric for r in records}
    metric = metrics.pop() if len(metrics) == 1 else "metric"
    greater = all(r.result.greater_is_better for r in records)
    named = arm_params(records)
    by_group: dict[Group, dict[str, dict[int, RunRecord]]] = defaultdict(lambda: defaultdict(dict))
    for record in records:
        group = (record.point.task, shots_label(record.point.shots))
        by_group[group][arm_label(record, named)][record.point.seed] = record
    report = Report(metric, greater)
    totals: dict[str, WinTieLoss] = {}
    unlearned: dict[str, WinTieLoss] = {}
    scores: dict[Group, dict[str, float]] = {}
    for group, arms in by_group.items():
        runs_here = [r for runs in arms.values() for r in runs.values()]
        greater_here = all(r.result.greater_is_better for r in runs_here)
        metric_here = runs_here[0].result.metric
        report.group_metric[group] = (metric_here, greater_here)
        curve = report.curve_names[group] = curve_name(runs_here, metric_here)
        report.started_from[group] = started_from(runs_here)
        checks = [
            check_learning(
                group, arm, {s: r.result.value for s, r in sorted(runs.items())}, metric_here,
                greater_here, references, _last_train_loss(runs.values()),
            )
            for arm, runs in sorted(arms.items(), key=lambda item: _arm_order(item[1]))
            if _is_baseline(runs)
        ]  # fmt: skip
        if checks:
            report.learning[group] = checks
        learned = report.learned(group)
        counts = totals if learned else unlearned
        rows = []
        for arm, runs in sorted(arms.items(), key=lambda item: _arm_order(item[1])):
            values = {seed: run.result.value for seed, run in sorted(runs.items())}
            method = next(iter(runs.values())).point.method
            matched = None if method == BASELINE else baseline_of(arms, arm)
            base = {s: r.result.value for s, r in (matched or {}).items()}
            paired = paired_comparison(values, base) if base else None
            rows.append(ArmStats(arm, method, values, summarize(list(values.values())), paired))
            if paired is not None:
                counted = win_tie_loss([paired], level, greater_here)
                counts[arm] = counts.get(arm, WinTieLoss()) + counted
            curves = [r.result.curves.get(curve, []) for r in runs.values()]
            length = min(len(c) for c in curves)
            if length:
                mean_curve = np.mean([c[:length] for c in curves], axis=0)
                report.curves.setdefault(group, {})[arm] = [float(v) for v in mean_curve]
        report.groups[group] = rows
        variants = _variant_stats(arms)
        if variants:
            report.variants[group] = variants
        sign = 1.0 if greater_here else -1.0  # rank every group with higher = better
        if learned:
            scores[group] = {row.arm: sign * row.summary.mean for row in rows}
    report.win_tie_loss = dict(sorted(totals.items()))
    report.unlearned_win_tie_loss = dict(sorted(unlearned.items()))
    report.ranks = average_ranks(scores, True)
    report.costs = arm_costs(by_group)
    return report


def numeric_first(value: Any) -> tuple[bool, float, str]:
    """Sort numbers by value (0.5 < 2 < 10), then anything else by its text."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return (not number, float(value) if number else 0.0, str(value))
