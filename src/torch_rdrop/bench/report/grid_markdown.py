"""A grid's :class:`~torch_rdrop.bench.report.grid.Report` as Markdown: the "did it learn?" gate,
a table per group, variants, win/tie/loss, ranking, cost and the plots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from torch_rdrop.bench.report.gate import DID_NOT_LEARN
from torch_rdrop.bench.report.provenance import provenance_line
from torch_rdrop.bench.report.stats import Paired, summarize

if TYPE_CHECKING:
    from torch_rdrop.bench.report.grid import Group, Report

__all__ = ["FOREST_NOTE", "grid_markdown", "markdown_table"]

FOREST_NOTE = (
    "The first plot is a forest plot: for each task, K and arm, the paired difference arm − "
    "`none` (the Δ of the tables: its mean over the seeds both ran) with its 95 % t interval, "
    "which excludes 0 exactly when the paired t-test has p < 0.05. One panel per metric; each "
    "difference keeps the metric's sign, so for a lower-is-better metric (named so on its axis) "
    "an improvement is negative. Rows of groups that did not learn are kept, drawn hollow and "
    "grey and labelled *did not learn*; a single seed shows its point without an interval. The "
    "bar chart after it shows the raw means."
)


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


def _diff(paired: Paired | None) -> str:
    """A paired mean difference with its sign, or a dash when there is none."""
    if paired is None or math.isnan(paired.mean_diff):
        return "–"
    return f"{paired.mean_diff:+.4f}"


def _section(
    heading: str, text: str, header: Sequence[str], rows: Sequence[Sequence[str]]
) -> list[str]:
    """A heading, a paragraph and a table, each followed by a blank line."""
    return [heading, "", text, "", *markdown_table(header, rows), ""]


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
    text = (
        "Training time only (evaluation excluded), one CPU thread per run; median over the "
        "arm's runs. Ratios: geometric mean over groups of the arm's median divided by "
        "`none`'s in the same group."
    )
    return _section(f"{h} Cost", text, header, rows)


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
                    _diff(p),
                    _fmt(p.t_pvalue, 3) if p else "–",
                    _fmt(c.train_loss),
                    f"**{c.verdict}**" if c.verdict == DID_NOT_LEARN else c.verdict,
                ]
            )
    header = ["task", "K", *(["none arm"] if several else []), "reference model", "none mean",
              "reference mean", "Δ none − reference", "t-test p", "none train loss",
              "verdict"]  # fmt: skip
    text = (
        "Each group's `none` against the reference model of its data set (a simple model fitted "
        "on the same K-shot training rows of the same seeds). *Learned*: `none`'s mean is better "
        "in the metric's direction; Δ is the paired mean difference over the seeds with its "
        "two-sided paired t-test; *none train loss* is `none`'s mean training loss in its last "
        "epoch (a high one: the recipe stopped before the model fitted its training rows). "
        "Groups that *did not learn* are marked in the tables below and "
        "left out of the win/tie/loss and the ranking (their win/tie/loss is listed apart); a "
        "group with *no reference run* is kept."
    )
    return _section(f"{h} Did the models learn?", text, header, rows)


def _reference_lines(report: Report, h: str) -> list[str]:
    """The mean of each reference task of a study that holds only reference runs."""
    if not report.reference_groups:
        return []
    rows = [
        [task, shots, str(len(v)), f"{_fmt(float(np.mean(v)))} ± {_fmt(summarize(v).std)}"]
        for (task, shots), v in report.reference_groups.items()
    ]
    text = 'The yardsticks of the other sections\' "Did the models learn?" tables.'
    return _section(f"{h} Reference models", text, ["reference task", "K", "n", "mean ± std"], rows)


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
        origin = provenance_line(
            report.started_from.get(group, {}), sum(row.summary.n for row in rows)
        )
        lines += [origin, ""] if origin else []
        table = []
        for row in rows:
            s, p = row.summary, row.paired
            table.append(
                [
                    row.arm,
                    str(s.n),
                    f"{_fmt(s.mean)} ± {_fmt(s.std)}",
                    f"[{_fmt(s.ci_low)}, {_fmt(s.ci_high)}]",
                    _diff(p),
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
    text = (
        "Each arm that differs from another arm of its method only where that one runs at the "
        "method's default setting, against it: Δ is the paired mean difference arm − default "
        "over the same seeds, with the two-sided paired t-test and Wilcoxon signed-rank p-values. "
        "Not counted in the win / tie / loss against `none`."
    )
    rows = []
    for (task, shots), variants in report.variants.items():
        for v in variants:
            p = v.paired
            rows.append([
                task, shots, v.arm, v.default_arm, str(p.n), _diff(p),
                _fmt(p.t_pvalue, 3), _fmt(p.wilcoxon_pvalue, 3),
            ])  # fmt: skip
    header = ["task", "K", "arm", "against", "n", "Δ", "t-test p", "Wilcoxon p"]
    return _section(f"{h} Variants against the method at its defaults", text, header, rows)
