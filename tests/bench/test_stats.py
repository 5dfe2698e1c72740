"""The report's statistics against values computed by hand (formulas in the comments)."""

from __future__ import annotations

import math

import pytest

from torch_rdrop.bench.report.stats import (
    Paired,
    average_ranks,
    paired_comparison,
    summarize,
    win_tie_loss,
)


def test_summary_mean_std_and_t_interval() -> None:
    s = summarize([0.70, 0.74, 0.75, 0.81])
    # mean 0.75; deviations -.05 -.01 0 .06; sum of squares .0062; var .0062/3; std .045461
    assert s.n == 4 and s.mean == pytest.approx(0.75)
    assert s.std == pytest.approx(math.sqrt(0.0062 / 3))
    # t(0.975, 3) = 3.182446; half width = 3.182446 * .045461 / 2 = .072338
    assert s.ci_low == pytest.approx(0.75 - 0.072338, abs=1e-6)
    assert s.ci_high == pytest.approx(0.75 + 0.072338, abs=1e-6)
    assert s.half_width == pytest.approx(0.072338, abs=1e-6)


def test_summary_of_one_value_has_no_spread() -> None:
    s = summarize([0.5])
    assert s.mean == 0.5 and math.isnan(s.std) and math.isnan(s.ci_low)


def test_paired_comparison_by_hand() -> None:
    method = {0: 0.80, 1: 0.85, 2: 0.78, 3: 0.90, 4: 0.88, 9: 0.1}
    base = {0: 0.78, 1: 0.80, 2: 0.79, 3: 0.84, 4: 0.83}  # seed 9 has no pair: dropped
    p = paired_comparison(method, base)
    # d = .02 .05 -.01 .06 .05; mean .034; sd = sqrt(.00332/4) = .028810; t = .034/(.028810/√5)
    # = 2.6389 on 4 df -> two-sided p = 0.0576 (between t.975 = 2.776 and t.95 = 2.132)
    assert p.n == 5 and p.mean_diff == pytest.approx(0.034)
    assert p.t_pvalue == pytest.approx(0.0576, abs=5e-4)
    # Wilcoxon: |d| ranks 2, 3.5, 1, 5, 3.5; negative rank sum 1; exact two-sided p = 4/32
    assert p.wilcoxon_pvalue == pytest.approx(0.125, abs=1e-3)
    # 95 % t interval of d: .034 -+ t(.975, 4) * .028810 / √5 = .034 -+ 2.776445 * .012884
    assert p.ci_low == pytest.approx(0.034 - 0.035772, abs=1e-5)
    assert p.ci_high == pytest.approx(0.034 + 0.035772, abs=1e-5)
    assert (p.ci_low > 0) == (p.t_pvalue < 0.05)  # the interval and the t-test agree


def test_paired_comparison_degenerate_cases() -> None:
    assert paired_comparison({0: 1.0}, {1: 1.0}).n == 0
    one = paired_comparison({0: 0.9}, {0: 0.8})
    assert one.n == 1 and one.mean_diff == pytest.approx(0.1) and math.isnan(one.t_pvalue)
    assert math.isnan(one.ci_low) and math.isnan(one.ci_high)  # one pair: no interval
    same = paired_comparison({0: 0.5, 1: 0.7}, {0: 0.5, 1: 0.7})
    assert (same.t_pvalue, same.wilcoxon_pvalue) == (1.0, 1.0)
    shifted = paired_comparison({0: 0.6, 1: 0.8, 2: 0.7}, {0: 0.5, 1: 0.7, 2: 0.6})
    assert shifted.t_pvalue == 0.0  # a constant non-zero difference


def test_win_tie_loss_respects_direction() -> None:
    # two significant gains, one significant drop, one difference that is not significant
    results = [
        Paired(5, 0.03, 0.01, 0.06),
        Paired(5, 0.04, 0.02, 0.06),
        Paired(5, -0.02, 0.04, 0.1),
        Paired(5, 0.05, 0.2, 0.2),
    ]
    w = win_tie_loss(results)
    assert (w.win, w.tie, w.loss) == (2, 1, 1) and str(w) == "2/1/1"
    # for a lower-is-better metric (perplexity) a positive difference is a loss
    low = win_tie_loss(results, greater_is_better=False)
    assert (low.win, low.tie, low.loss) == (1, 1, 2)
    assert win_tie_loss([Paired(3, 0.1, 0.01, 0.2)], level=0.001).tie == 1


def test_average_ranks_with_ties_and_missing_methods() -> None:
    ranks = average_ranks(
        {
            ("a", "16"): {"none": 0.60, "rdrop": 0.70, "mixup": 0.65},
            ("b", "16"): {"none": 0.80, "rdrop": 0.80, "mixup": 0.70},
            ("c", "16"): {"none": 0.50, "rdrop": 0.55},
        }
    )
    # a: rdrop 1, mixup 2, none 3; b: none/rdrop 1.5, mixup 3; c: rdrop 1, none 2
    assert ranks == {
        "rdrop": pytest.approx((3.5 / 3, 3)),
        "none": pytest.approx((6.5 / 3, 3)),
        "mixup": pytest.approx((2.5, 2)),
    }
    assert list(ranks) == ["rdrop", "none", "mixup"]
    lower = average_ranks({"g": {"none": 3.0, "rdrop": 2.0}}, greater_is_better=False)
    assert lower == {"rdrop": (1.0, 1), "none": (2.0, 1)}
