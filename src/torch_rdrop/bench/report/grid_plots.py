"""The plots of a grid's :class:`~torch_rdrop.bench.report.grid.Report`: the forest plot of the
paired differences to ``none`` first, then bars of the raw means, the metric against K, learning
curves and heat maps over alpha and dropout when the runs have them. Every axis that holds a value
names its metric.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from torch_rdrop.bench.engine.axes import shots_label
from torch_rdrop.bench.engine.runner import RunRecord
from torch_rdrop.bench.report.forest import forest_rows, plot_forest
from torch_rdrop.bench.report.grid import numeric_first
from torch_rdrop.bench.report.plotting import curve_label, grid_axes, metric_label, pyplot
from torch_rdrop.bench.report.stats import Summary

if TYPE_CHECKING:
    from torch_rdrop.bench.report.grid import Report

__all__ = ["write_plots"]


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
        alphas = sorted({a for a, _ in table}, key=numeric_first)
        dropouts = sorted({d for _, d in table}, key=numeric_first)
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
