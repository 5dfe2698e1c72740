"""The report's statistics: summaries with t intervals, paired tests against a baseline, ranks.

Plain functions over numbers keyed by seed, method or group; scipy does the distributions.

>>> s = summarize([0.80, 0.82, 0.84])
>>> round(s.mean, 4), round(s.std, 4), round(s.ci_low, 4), round(s.ci_high, 4)
(0.82, 0.02, 0.7703, 0.8697)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Paired",
    "Summary",
    "WinTieLoss",
    "average_ranks",
    "paired_comparison",
    "summarize",
    "win_tie_loss",
]


def _scipy_stats():  # the scipy.stats module
    try:
        from scipy import stats
    except ImportError as exc:
        raise ImportError(
            "the benchmark statistics need scipy: pip install 'torch-rdrop[bench]'"
        ) from exc
    return stats


@dataclass(frozen=True)
class Summary:
    """``n`` values: mean, sample standard deviation (ddof 1) and a t-based confidence interval.

    With one value the deviation and the interval are NaN (nothing to estimate them from).
    """

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval."""
        return (self.ci_high - self.ci_low) / 2


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean, std and the ``confidence`` t interval ``mean +- t(n-1) * std / sqrt(n)``.

    >>> summarize([3.0]).std
    nan
    >>> summarize([])
    Traceback (most recent call last):
    ...
    ValueError: summarize needs at least one value, got 0
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("summarize needs at least one value, got 0")
    mean = float(data.mean())
    if data.size == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    std = float(data.std(ddof=1))
    half = float(_scipy_stats().t.ppf(0.5 + confidence / 2, data.size - 1)) * std
    half /= math.sqrt(data.size)
    return Summary(int(data.size), mean, std, mean - half, mean + half)


@dataclass(frozen=True)
class Paired:
    """A method against the baseline over the seeds both have: mean difference and p-values.

    ``mean_diff`` is method minus baseline, whatever the metric's direction; ``t_pvalue`` is the
    two-sided paired t-test, ``wilcoxon_pvalue`` the two-sided Wilcoxon signed-rank test;
    ``ci_low`` and ``ci_high`` bound the 95 % t interval of the mean difference (the interval
    that excludes 0 exactly when ``t_pvalue < 0.05``). All but ``mean_diff`` are NaN with fewer
    than 2 pairs.
    """

    n: int
    mean_diff: float
    t_pvalue: float
    wilcoxon_pvalue: float
    ci_low: float = math.nan
    ci_high: float = math.nan


def paired_comparison(method: Mapping[int, float], baseline: Mapping[int, float]) -> Paired:
    """Compare ``method`` with ``baseline`` on the seeds they share (unpaired seeds are dropped).

    >>> p = paired_comparison({0: 0.9, 1: 0.8, 2: 0.7, 3: 0.95},
    ...                       {0: 0.85, 1: 0.78, 2: 0.71, 3: 0.9})
    >>> p.n, round(p.mean_diff, 4), round(p.t_pvalue, 4), round(p.wilcoxon_pvalue, 4)
    (4, 0.0275, 0.1514, 0.25)
    >>> round(p.ci_low, 4), round(p.ci_high, 4)
    (-0.0182, 0.0732)
    >>> paired_comparison({0: 1.0, 1: 1.0}, {0: 1.0, 1: 1.0}).t_pvalue
    1.0
    """
    seeds = sorted(set(method) & set(baseline))
    diffs = np.array([method[s] - baseline[s] for s in seeds], dtype=float)
    if diffs.size == 0:
        return Paired(0, math.nan, math.nan, math.nan)
    mean = float(diffs.mean())
    if diffs.size < 2:
        return Paired(1, mean, math.nan, math.nan)
    interval = summarize(diffs)
    low, high = interval.ci_low, interval.ci_high
    if np.allclose(diffs, 0.0, rtol=0.0, atol=1e-12):
        return Paired(int(diffs.size), mean, 1.0, 1.0, low, high)
    stats = _scipy_stats()
    if np.allclose(diffs, diffs[0], rtol=0.0, atol=1e-12):
        t_p = 0.0  # a constant, non-zero difference: t is infinite
    else:
        t_p = float(stats.ttest_1samp(diffs, 0.0).pvalue)
    w_p = float(stats.wilcoxon(diffs, zero_method="wilcox").pvalue)
    return Paired(int(diffs.size), mean, t_p, w_p, low, high)


@dataclass(frozen=True)
class WinTieLoss:
    """Across groups (task x K): significantly better, not significantly different, worse."""

    win: int = 0
    tie: int = 0
    loss: int = 0

    def __str__(self) -> str:
        return f"{self.win}/{self.tie}/{self.loss}"

    def __add__(self, other: WinTieLoss) -> WinTieLoss:
        """Counts over two sets of groups.

        >>> WinTieLoss(1, 2, 0) + WinTieLoss(0, 1, 1)
        WinTieLoss(win=1, tie=3, loss=1)
        """
        return WinTieLoss(self.win + other.win, self.tie + other.tie, self.loss + other.loss)


def win_tie_loss(
    comparisons: Iterable[Paired], level: float = 0.05, greater_is_better: bool = True
) -> WinTieLoss:
    """Count wins and losses where the paired t-test has ``p < level``; the rest are ties.

    >>> win_tie_loss([Paired(5, 0.02, 0.01, 0.06), Paired(5, -0.03, 0.2, 0.3),
    ...               Paired(5, -0.05, 0.001, 0.06)])
    WinTieLoss(win=1, tie=1, loss=1)
    """
    win = tie = loss = 0
    for comparison in comparisons:
        better = comparison.mean_diff > 0 if greater_is_better else comparison.mean_diff < 0
        if not comparison.t_pvalue < level or comparison.mean_diff == 0:
            tie += 1
        elif better:
            win += 1
        else:
            loss += 1
    return WinTieLoss(win, tie, loss)


def average_ranks(
    scores: Mapping[Hashable, Mapping[str, float]], greater_is_better: bool = True
) -> dict[str, tuple[float, int]]:
    """Rank methods within each group (1 = best, ties share the mean rank), then average.

    Returns ``{method: (mean rank, number of groups)}``, best first.

    >>> average_ranks({"a": {"none": 0.7, "rdrop": 0.8, "mixup": 0.8},
    ...                "b": {"none": 0.6, "rdrop": 0.9, "mixup": 0.5}})
    {'rdrop': (1.25, 2), 'mixup': (2.25, 2), 'none': (2.5, 2)}
    """
    stats = _scipy_stats()
    totals: dict[str, list[float]] = {}
    for group in scores.values():
        methods = list(group)
        values = np.array([group[m] for m in methods], dtype=float)
        ranks = stats.rankdata(-values if greater_is_better else values, method="average")
        for method, rank in zip(methods, ranks, strict=True):
            totals.setdefault(method, []).append(float(rank))
    averaged = {m: (float(np.mean(r)), len(r)) for m, r in totals.items()}
    return dict(sorted(averaged.items(), key=lambda item: item[1][0]))
