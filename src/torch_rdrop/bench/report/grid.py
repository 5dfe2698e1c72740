"""The benchmark report: ``report.md``, ``runs.csv`` and PNG plots from a study's finished runs.

Only COMPLETE trials are read and only the first one of each grid point, so a killed worker's trial
or a duplicate never counts. An *arm* is a method with the hyper-parameters that vary among its
runs and the method's own options that they set (``rdrop alpha=0.5``); a *group* is a task at one
K. Statistics per group and arm: mean ± std, a 95 % t interval, and paired tests against ``none``
over seeds; across groups: win/tie/loss against ``none`` and average ranks.

At the top, the "did it learn?" gate (:mod:`torch_rdrop.bench.report.gate`): each group's ``none``
against the reference model of its data set on the same K and seeds. A group whose ``none`` does
not beat its reference is marked and kept out of win/tie/loss and the ranking (counted apart).
Reference tasks are not groups of their own: they are the gate's yardstick.

The plots open with the forest plot of the paired differences to ``none``
(:mod:`torch_rdrop.bench.report.forest`); every axis that holds a value names its metric.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from torch_rdrop.bench.engine.runner import RunRecord, finished_runs
from torch_rdrop.bench.engine.spec import shots_label
from torch_rdrop.bench.engine.store import import_optuna, load_existing_study
from torch_rdrop.bench.report.forest import forest_rows, plot_forest
from torch_rdrop.bench.report.gate import (
    DID_NOT_LEARN,
    LearningCheck,
    check_learning,
    is_reference_task,
    reference_runs,
)
from torch_rdrop.bench.report.plotting import (
    curve_label,
    grid_axes,
    import_or_explain,
    metric_label,
    pyplot,
)
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
    "Report",
    "VariantStats",
    "arm_costs",
    "arm_label",
    "arm_params",
    "baseline_of",
    "build_report",
    "curve_name",
    "grid_markdown",
    "import_or_explain",
    "load_runs",
    "markdown_table",
    "pyplot",
    "runs_table",
    "write_plots",
    "write_report",
]

BASELINE = "none"
FOREST_NOTE = (
    "The first plot is a forest plot: for each task, K and arm, the paired difference arm − "
    "`none` (the Δ of the tables: its mean over the seeds both ran) with its 95 % t interval, "
    "which excludes 0 exactly when the paired t-test has p < 0.05. One panel per metric; each "
    "difference keeps the metric's sign, so for a lower-is-better metric (named so on its axis) "
    "an improvement is negative. Rows of groups that did not learn are kept, drawn hollow and "
    "grey and labelled *did not learn*; a single seed shows its point without an interval. The "
    "bar chart after it shows the raw means."
)
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

    ``time_ratio`` and ``step_ratio`` are geometric means over groups of the arm's mean training
    time (and time per optimizer step) divided by ``none``'s; NaN without a ``none`` to compare.
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
    """Mean training time and time per step of each arm, and their ratios to the matching
    ``none`` (:func:`baseline_of`) in the same group."""
    per_arm: dict[str, list[RunRecord]] = defaultdict(list)
    ratios: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))

    def means(runs: Iterable[RunRecord]) -> tuple[float, float]:
        runs = list(runs)
        steps = [r.result.metrics.get("seconds_per_step", math.nan) for r in runs]
        return float(np.mean([r.result.seconds for r in runs])), float(np.mean(steps))

    for arms in by_group.values():
        for arm, runs in arms.items():
            per_arm[arm].extend(runs.values())
            matched = baseline_of(arms, arm)
            base = means(matched.values()) if matched is not None else None
            if base is not None:
                seconds, per_step = means(runs.values())
                ratios[arm][0].append(seconds / base[0] if base[0] > 0 else math.nan)
                ratios[arm][1].append(per_step / base[1] if base[1] > 0 else math.nan)
    costs = []
    for arm, runs in per_arm.items():
        seconds, per_step = means(runs)
        time_ratios, step_ratios = ratios.get(arm, ([], []))
        time_ratio, step_ratio = _geometric_mean(time_ratios), _geometric_mean(step_ratios)
        costs.append(ArmCost(arm, len(runs), seconds, per_step, time_ratio, step_ratio))
    return sorted(costs, key=lambda c: (math.isnan(c.time_ratio), c.time_ratio, c.arm))


def _arm_order(runs: Mapping[int, RunRecord]) -> tuple[Any, ...]:
    """Arms in the benchmark's method order (none first), then by parameter values as numbers."""
    point = next(iter(runs.values())).point
    methods = method_names()
    rank = methods.index(point.method) if point.method in methods else len(methods)
    return (rank, point.method, tuple((k, _numeric_first(v)) for k, v in point.params))


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


def runs_table(records: Sequence[RunRecord]) -> pandas.DataFrame:  # noqa: F821
    """One row per finished grid point: task, method, shots, seed, params, metrics, costs."""
    pd = import_or_explain("pandas")
    rows = []
    for record in records:
        point, result = record.point, record.result
        row: dict[str, Any] = {
            "task": point.task,
            "method": point.method,
            "shots": shots_label(point.shots),
            "seed": point.seed,
            "metric": result.metric,
            "value": result.value,
        }
        row.update({f"param_{k}": v for k, v in point.params})
        row.update({f"metric_{k}": v for k, v in result.metrics.items()})
        row.update(
            {
                "epochs": len(result.curves.get(result.metric, [])),
                "seconds": round(result.seconds, 3),
                "peak_memory_mb": round(result.peak_memory_mb, 1),
                "trial": record.trial_number,
            }
        )
        row.update({f"version_{k}": v for k, v in result.versions.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value: float, digits: int = 4) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table.

    >>> markdown_table(["a", "b"], [["1", "2"]])
    ['| a | b |', '|---|---|', '| 1 | 2 |']
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _group_heading(report: Report, group: Group) -> str:
    task, shots = group
    metric, greater = report.group_metric.get(group, (report.metric, report.greater_is_better))
    if report.metric != "metric":
        return f"{task}, K = {shots}"
    return f"{task}, K = {shots} ({metric}, {'higher' if greater else 'lower'} is better)"


def _cost_lines(report: Report, h: str) -> list[str]:
    rows = [
        [
            c.arm,
            str(c.runs),
            f"{c.seconds:.2f}",
            f"{1000 * c.seconds_per_step:.1f}",
            _fmt(c.time_ratio, 2) + ("×" if math.isfinite(c.time_ratio) else ""),
            _fmt(c.step_ratio, 2) + ("×" if math.isfinite(c.step_ratio) else ""),
        ]
        for c in report.costs
    ]
    header = ["arm", "runs", "train s / run", "ms / step", "time vs none", "step vs none"]
    return [
        f"{h} Cost",
        "",
        "Training time only (evaluation excluded), one CPU thread per run. Ratios: geometric "
        "mean over groups of the arm's mean divided by `none`'s in the same group.",
        "",
        *markdown_table(header, rows),
        "",
    ]


def _gate_lines(report: Report, h: str) -> list[str]:
    """The "Did the models learn?" table: each group's ``none`` against its reference model."""
    if not report.learning:
        return []
    several = any(len(checks) > 1 for checks in report.learning.values())
    rows = []
    for (task, shots), checks in report.learning.items():
        for c in checks:
            p = c.paired
            rows.append(
                [
                    task,
                    shots,
                    *([c.arm] if several else []),
                    f"`{c.reference}`" if c.reference else "–",
                    _fmt(c.none_mean),
                    _fmt(c.reference_mean),
                    f"{p.mean_diff:+.4f}" if p and not math.isnan(p.mean_diff) else "–",
                    _fmt(p.t_pvalue, 3) if p else "–",
                    _fmt(c.train_loss),
                    f"**{c.verdict}**" if c.verdict == DID_NOT_LEARN else c.verdict,
                ]
            )
    header = ["task", "K", *(["none arm"] if several else []), "reference model", "none mean",
              "reference mean", "Δ none − reference", "t-test p", "none train loss",
              "verdict"]  # fmt: skip
    return [
        f"{h} Did the models learn?",
        "",
        "Each group's `none` against the reference model of its data set (a simple model fitted "
        "on the same K-shot training rows of the same seeds). *Learned*: `none`'s mean is better "
        "in the metric's direction; Δ is the paired mean difference over the seeds with its "
        "two-sided paired t-test; *none train loss* is `none`'s mean training loss in its last "
        "epoch (a high one: the recipe stopped before the model fitted its training rows). "
        "Groups that *did not learn* are marked in the tables below and "
        "left out of the win/tie/loss and the ranking (their win/tie/loss is listed apart); a "
        "group with *no reference run* is kept.",
        "",
        *markdown_table(header, rows),
        "",
    ]


def _reference_lines(report: Report, h: str) -> list[str]:
    """The mean of each reference task of a study that holds only reference runs."""
    if not report.reference_groups:
        return []
    rows = [
        [task, shots, str(len(v)), f"{_fmt(float(np.mean(v)))} ± {_fmt(summarize(v).std)}"]
        for (task, shots), v in report.reference_groups.items()
    ]
    return [
        f"{h} Reference models",
        "",
        'The yardsticks of the other sections\' "Did the models learn?" tables.',
        "",
        *markdown_table(["reference task", "K", "n", "mean ± std"], rows),
        "",
    ]


def grid_markdown(report: Report, plots: Sequence[str] = (), level: int = 2) -> list[str]:
    """The Markdown body of one grid's report (the "did it learn?" gate, tables, win/tie/loss,
    ranking, cost, plots), with headings at ``level``."""
    h = "#" * level
    if report.reference_groups and not report.groups:
        return _reference_lines(report, h)
    direction = "higher" if report.greater_is_better else "lower"
    shown = (
        f"**{report.metric}** ({direction} is better)"
        if report.metric != "metric"
        else ("each group's own (named in its heading)")
    )
    lines = [
        f"Metric: {shown}. Each row: n seeds, mean ± std, 95 % t confidence interval; Δ is the "
        "paired mean difference to `none` (at the same settings when `none` runs at several, "
        "e.g. the same dropout) over the same seeds, with the two-sided paired t-test and "
        "Wilcoxon signed-rank p-values.",
        "",
        *_gate_lines(report, h),
    ]
    for group, rows in report.groups.items():
        mark = "" if report.learned(group) else " — did not learn"
        lines += [f"{h} {_group_heading(report, group)}{mark}", ""]
        table = []
        for row in rows:
            s, p = row.summary, row.paired
            table.append(
                [
                    row.arm,
                    str(s.n),
                    f"{_fmt(s.mean)} ± {_fmt(s.std)}",
                    f"[{_fmt(s.ci_low)}, {_fmt(s.ci_high)}]",
                    f"{p.mean_diff:+.4f}" if p and not math.isnan(p.mean_diff) else "–",
                    _fmt(p.t_pvalue, 3) if p else "–",
                    _fmt(p.wilcoxon_pvalue, 3) if p else "–",
                ]
            )
        header = ["arm", "n", "mean ± std", "95 % CI", "Δ vs none", "t-test p", "Wilcoxon p"]
        lines += [*markdown_table(header, table), ""]
    lines += _variant_lines(report, h)
    if report.win_tie_loss:
        lines += [
            f"{h} Win / tie / loss against `none`",
            "",
            "Per task and K: a win or a loss needs a paired t-test p < 0.05; otherwise a tie.",
            "",
        ]
        rows = [
            [arm, str(w.win), str(w.tie), str(w.loss)] for arm, w in report.win_tie_loss.items()
        ]
        lines += [*markdown_table(["arm", "win", "tie", "loss"], rows), ""]
    if report.unlearned_win_tie_loss:
        left_out = [f"{t}, K = {k}" for t, k in report.groups if not report.learned((t, k))]
        lines += [
            f"Not counted above, because `none` did not beat its reference model: "
            f"{'; '.join(left_out)}. Their own win/tie/loss against `none`:",
            "",
        ]
        rows = [[arm, str(w.win), str(w.tie), str(w.loss)]
                for arm, w in report.unlearned_win_tie_loss.items()]  # fmt: skip
        lines += [*markdown_table(["arm", "win", "tie", "loss"], rows), ""]
    lines += [
        f"{h} Ranking",
        "",
        "Average rank of the mean over the groups (task × K) each arm ran in, leaving out the "
        "groups that did not learn; 1 is best.",
        "",
    ]
    rows = [
        [str(i), arm, f"{r:.2f}", str(n)] for i, (arm, (r, n)) in enumerate(report.ranks.items(), 1)
    ]
    if rows:
        lines += [*markdown_table(["rank", "arm", "average rank", "groups"], rows), ""]
    else:
        lines += ["No group learned: nothing to rank.", ""]
    lines += _cost_lines(report, h)
    if plots:
        lines += [f"{h} Plots", ""]
        if any(Path(p).name.endswith("forest.png") for p in plots):
            lines += [FOREST_NOTE, ""]
        lines += [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    return lines


def _variant_lines(report: Report, h: str) -> list[str]:
    """The table of each variant against its method at the defaults (empty when none ran)."""
    if not report.variants:
        return []
    lines = [
        f"{h} Variants against the method at its defaults",
        "",
        "Each arm that differs from another arm of its method only where that one runs at the "
        "method's default setting, against it: Δ is the paired mean difference arm − default "
        "over the same seeds, with the two-sided paired t-test and Wilcoxon signed-rank p-values. "
        "Not counted in the win / tie / loss against `none`.",
        "",
    ]
    rows = []
    for (task, shots), variants in report.variants.items():
        for v in variants:
            p = v.paired
            rows.append([
                task, shots, v.arm, v.default_arm, str(p.n), f"{p.mean_diff:+.4f}",
                _fmt(p.t_pvalue, 3), _fmt(p.wilcoxon_pvalue, 3),
            ])  # fmt: skip
    header = ["task", "K", "arm", "against", "n", "Δ", "t-test p", "Wilcoxon p"]
    return [*lines, *markdown_table(header, rows), ""]


def _markdown(report: Report, title: str, notes: Sequence[str], plots: Sequence[str]) -> str:
    lines = [f"# {title}", "", *notes, "", *grid_markdown(report, plots)]
    return "\n".join(lines)


def _plot_bars(report: Report, path: Path) -> None:
    plt = pyplot()
    fig, axes = grid_axes(plt, len(report.groups))
    for ax, ((task, shots), rows) in zip(axes, report.groups.items(), strict=True):
        means = [row.summary.mean for row in rows]
        errors = [0.0 if math.isnan(r.summary.half_width) else r.summary.half_width for r in rows]
        ax.bar(range(len(rows)), means, yerr=errors, capsize=4, color="tab:blue", alpha=0.8)
        ax.set_xticks(range(len(rows)), [row.arm for row in rows], rotation=30, ha="right")
        low = min(m - e for m, e in zip(means, errors, strict=True))
        high = max(m + e for m, e in zip(means, errors, strict=True))
        pad = max(high - low, 1e-3) * 0.3
        ax.set_ylim(low - pad, high + pad)
        learned = "" if report.learned((task, shots)) else " (did not learn)"
        ax.set_title(f"{task}, K = {shots}{learned}")
        metric, greater = report.metric_of((task, shots))
        ax.set_ylabel(metric_label(metric, "mean, 95 % CI", greater))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_shots(report: Report, path: Path) -> bool:
    by_task: dict[str, dict[str, list[tuple[str, Summary]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for (task, shots), rows in report.groups.items():
        for row in rows:
            by_task[task][row.arm].append((shots, row.summary))
    tasks = {t: arms for t, arms in by_task.items() if any(len(v) > 1 for v in arms.values())}
    if not tasks:
        return False
    plt = pyplot()
    fig, axes = grid_axes(plt, len(tasks))
    for ax, (task, arms) in zip(axes, tasks.items(), strict=True):
        labels = sorted(
            {s for points in arms.values() for s, _ in points},
            key=lambda s: (s == "full", int(s) if s.isdigit() else 0),
        )
        for arm, points in sorted(arms.items()):
            found = dict(points)
            xs = [i for i, s in enumerate(labels) if s in found]
            means = np.array([found[labels[i]].mean for i in xs])
            half = np.nan_to_num(np.array([found[labels[i]].half_width for i in xs]))
            ax.plot(xs, means, marker="o", label=arm)
            ax.fill_between(xs, means - half, means + half, alpha=0.15)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel("K (examples per class)")
        metric, greater = next(report.metric_of(g) for g in report.groups if g[0] == task)
        ax.set_ylabel(metric_label(metric, "mean, 95 % CI", greater))
        ax.set_title(task)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _plot_curves(report: Report, path: Path) -> bool:
    if not any(len(c) > 1 for arms in report.curves.values() for c in arms.values()):
        return False  # evaluated once per run: no curve to draw
    plt = pyplot()
    fig, axes = grid_axes(plt, len(report.curves))
    for ax, ((task, shots), arms) in zip(axes, report.curves.items(), strict=True):
        for arm, curve in sorted(arms.items()):
            ax.plot(range(1, len(curve) + 1), curve, label=arm)
        ax.set_xlabel("epoch")
        metric, greater = report.metric_of((task, shots))
        name = curve_label(report.curve_names.get((task, shots), metric), metric)
        ax.set_ylabel(metric_label(name, "mean over seeds", greater))
        ax.set_title(f"{task}, K = {shots}")
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _numeric_first(value: Any) -> tuple[bool, float, str]:
    """Sort numbers by value (0.5 < 2 < 10), then anything else by its text."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return (not number, float(value) if number else 0.0, str(value))


def _plot_sensitivity(records: Sequence[RunRecord], out: Path, prefix: str = "") -> list[Path]:
    """Heat maps of the mean metric over alpha x dropout, per task, K and method, when they vary."""
    cells: dict[tuple[str, str, str], dict[tuple[Any, Any], list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    metrics: dict[tuple[str, str, str], tuple[str, bool]] = {}
    for r in records:
        params = dict(r.point.params)
        if "alpha" in params or "dropout" in params:
            where = (r.point.task, shots_label(r.point.shots), r.point.method)
            cells[where][(params.get("alpha"), params.get("dropout"))].append(r.result.value)
            metrics[where] = (r.result.metric, r.result.greater_is_better)
    written = []
    for (task, shots, method), table in sorted(cells.items()):
        alphas = sorted({a for a, _ in table}, key=_numeric_first)
        dropouts = sorted({d for _, d in table}, key=_numeric_first)
        if len(alphas) * len(dropouts) < 2:
            continue
        grid = np.full((len(dropouts), len(alphas)), np.nan)
        for (a, d), values in table.items():
            grid[dropouts.index(d), alphas.index(a)] = float(np.mean(values))
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(1.2 * len(alphas) + 2.5, 0.8 * len(dropouts) + 2))
        image = ax.imshow(grid, cmap="viridis", aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            if not math.isnan(value):
                ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="white")
        ax.set_xticks(range(len(alphas)), [str(a) for a in alphas])
        ax.set_yticks(range(len(dropouts)), [str(d) for d in dropouts])
        ax.set_xlabel("alpha")
        ax.set_ylabel("dropout")
        ax.set_title(f"{task}, K = {shots}: {method}")
        metric, greater = metrics[(task, shots, method)]
        bar = fig.colorbar(image, ax=ax)
        bar.set_label(metric_label(metric, "mean over seeds", greater))
        fig.tight_layout()
        safe = "".join(c if c.isalnum() else "_" for c in f"{task}_{shots}_{method}")
        path = out / f"{prefix}sensitivity_{safe}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def write_plots(
    report: Report, records: Sequence[RunRecord], out: Path, prefix: str = ""
) -> list[Path]:
    """The report's PNG plots written into ``out`` with names starting with ``prefix``: the forest
    plot of the paired differences to ``none`` (:mod:`~torch_rdrop.bench.report.forest`) first,
    then bars of the raw means, and accuracy vs K, learning curves and heat maps when the runs
    have them."""
    plots = []
    if plot_forest(forest_rows(report), out / f"{prefix}forest.png"):
        plots.append(out / f"{prefix}forest.png")
    if report.groups:
        plots.append(out / f"{prefix}bars.png")
        _plot_bars(report, plots[-1])
    if _plot_shots(report, out / f"{prefix}accuracy_vs_k.png"):
        plots.append(out / f"{prefix}accuracy_vs_k.png")
    if _plot_curves(report, out / f"{prefix}learning_curves.png"):
        plots.append(out / f"{prefix}learning_curves.png")
    return plots + _plot_sensitivity(records, out, prefix)


def write_report(
    records: Sequence[RunRecord], out: Path | str, title: str, notes: Sequence[str] = ()
) -> list[Path]:
    """Write ``report.md``, ``runs.csv`` and the plots into ``out``; return the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(records)
    runs_table(records).to_csv(out / "runs.csv", index=False)
    plots = write_plots(report, records, out)
    markdown = _markdown(report, title, notes, [p.name for p in plots])
    (out / "report.md").write_text(markdown, encoding="utf-8")
    return [out / "report.md", out / "runs.csv", *plots]
