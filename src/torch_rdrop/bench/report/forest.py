"""The forest plot: every arm's paired difference to ``none``, with its 95 % interval.

Effects of a regulariser are often smaller than the spread between seeds, so raw means hide what
the paired test sees. A forest row is one (task, K, arm) with a ``none`` to compare: the mean of
arm − ``none`` over the seeds both ran and its 95 % t interval, the very
:class:`~torch_rdrop.bench.report.stats.Paired` of the report's tables (the interval excludes 0
exactly when the paired t-test has p < 0.05). One panel per metric.

The difference keeps the metric's own sign whatever its direction: for perplexity a negative
difference is an improvement, and that panel's axis says "lower is better". Rows of a group that
did not learn (the report's gate) are kept but drawn hollow and grey, labelled *did not learn*.

>>> from torch_rdrop.bench.engine.runner import RunRecord
>>> from torch_rdrop.bench.engine.grid import GridPoint
>>> from torch_rdrop.bench.engine.spec import TrialResult
>>> from torch_rdrop.bench.report.grid import build_report
>>> def run(method, seed, value):
...     result = TrialResult("accuracy", {"accuracy": value}, {}, 1.0, 1.0, {})
...     return RunRecord(GridPoint.make("t", method, 16, seed, {}), seed, result)
>>> runs = [run("none", s, v) for s, v in enumerate([0.50, 0.60, 0.70])]
>>> runs += [run("rdrop", s, v) for s, v in enumerate([0.51, 0.62, 0.73])]
>>> [row] = forest_rows(build_report(runs))
>>> row.label, row.n, round(row.mean_diff, 4), round(row.ci_low, 4), round(row.ci_high, 4)
('t, K = 16: rdrop', 3, 0.02, -0.0048, 0.0448)
>>> difference_label("perplexity", greater_is_better=False)
'perplexity: arm − none (paired mean, 95 % CI); lower is better'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from torch_rdrop.bench.report.plotting import metric_label, pyplot

if TYPE_CHECKING:
    from torch_rdrop.bench.report.grid import Report

__all__ = ["ForestRow", "difference_label", "forest_panels", "forest_rows", "plot_forest"]


@dataclass(frozen=True)
class ForestRow:
    """One arm of one group against its ``none``: the paired mean difference and its interval.

    ``mean_diff`` is arm − ``none`` in the metric's units (NaN bounds with a single seed).
    """

    task: str
    shots: str
    arm: str
    metric: str
    greater_is_better: bool
    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    learned: bool = True

    @property
    def label(self) -> str:
        """The row's label on the plot: task, K and arm."""
        return f"{self.task}, K = {self.shots}: {self.arm}"


def forest_rows(report: Report) -> list[ForestRow]:
    """A row per arm with a paired comparison to ``none``, grouped by task (in the order tasks
    first appear in the report), then by K, arms in the report's order."""
    tasks = list(dict.fromkeys(task for task, _ in report.groups))
    groups = sorted(report.groups, key=lambda group: tasks.index(group[0]))  # stable: K kept
    rows = []
    for group in groups:
        metric, greater = report.metric_of(group)
        for arm in report.groups[group]:
            p = arm.paired
            if p is None or p.n == 0:
                continue  # none itself, or an arm with no none to compare on the same seeds
            rows.append(
                ForestRow(*group, arm.arm, metric, greater, p.n, p.mean_diff, p.ci_low, p.ci_high,
                          report.learned(group))
            )  # fmt: skip
    return rows


def forest_panels(rows: Sequence[ForestRow]) -> dict[tuple[str, bool], list[ForestRow]]:
    """The rows split by metric (and its direction), one panel each, in order of appearance."""
    panels: dict[tuple[str, bool], list[ForestRow]] = {}
    for row in rows:
        panels.setdefault((row.metric, row.greater_is_better), []).append(row)
    return panels


def difference_label(metric: str, greater_is_better: bool = True) -> str:
    """The x-axis label of a forest panel: the metric, the difference taken, its direction."""
    return metric_label(f"{metric}: arm − none", "paired mean, 95 % CI", greater_is_better)


def plot_forest(rows: Sequence[ForestRow], path: Path) -> bool:
    """Draw ``rows`` (one panel per metric) into ``path``; False, writing nothing, without rows."""
    panels = forest_panels(rows)
    if not panels:
        return False
    plt = pyplot()
    counts = [len(panel) for panel in panels.values()]
    longest = max(len(_tick_label(row)) for row in rows)  # room for the labels, then the data
    fig, axes = plt.subplots(
        len(panels), 1, squeeze=False,
        figsize=(max(8.0, 4.5 + 0.075 * longest), 0.3 * sum(counts) + 1.3 * len(panels)),
        gridspec_kw={"height_ratios": [c + 2 for c in counts]},
    )  # fmt: skip
    for ax, ((metric, greater), panel) in zip(axes[:, 0], panels.items(), strict=True):
        _draw_panel(ax, panel)
        ax.set_xlabel(difference_label(metric, greater))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _tick_label(row: ForestRow) -> str:
    return row.label + ("" if row.learned else " (did not learn)")


def _draw_panel(ax, rows: Sequence[ForestRow]) -> None:
    ys = list(range(len(rows), 0, -1))  # first row on top
    for y, row in zip(ys, rows, strict=True):
        color = "tab:blue" if row.learned else "tab:gray"
        if math.isfinite(row.ci_low) and math.isfinite(row.ci_high):
            ax.hlines(y, row.ci_low, row.ci_high, color=color, linewidth=1.6)
            ax.vlines([row.ci_low, row.ci_high], y - 0.15, y + 0.15, color=color, linewidth=1.2)
        face = color if row.learned else "white"
        ax.plot([row.mean_diff], [y], "o", color=color, markerfacecolor=face, markersize=6)
    for above, below, y in zip(rows, rows[1:], ys[1:], strict=False):
        if above.task != below.task:  # a thin line between tasks
            ax.axhline(y + 0.5, color="lightgray", linewidth=0.8)
    ax.axvline(0.0, color="black", linewidth=0.9)
    ax.set_yticks(ys, [_tick_label(row) for row in rows], fontsize="small")
    ax.set_ylim(0.4, len(rows) + 0.6)
    ax.grid(axis="x", color="whitesmoke")
