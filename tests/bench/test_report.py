"""The report: statistics against hand-computed values, one row per point, plots written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from torch_rdrop.bench.engine.grid import GridPoint
from torch_rdrop.bench.engine.runner import RunRecord
from torch_rdrop.bench.engine.spec import TrialResult
from torch_rdrop.bench.report import build_report, write_report
from torch_rdrop.bench.report.grid_markdown import grid_markdown

# task "t", K=8: seeds 0-2. none 0.60 0.70 0.65; rdrop 0.66 0.74 0.71; mixup 0.58 0.69 0.66
VALUES = {
    "none": [0.60, 0.70, 0.65],
    "rdrop": [0.66, 0.74, 0.71],
    "mixup": [0.58, 0.69, 0.66],
}


def _record(method: str, seed: int, value: float, shots: int | None = 8, **params) -> RunRecord:
    point = GridPoint.make("t", method, shots, seed, params)
    curve = [value / 2, value]
    result = TrialResult(
        "accuracy", {"accuracy": value}, {"accuracy": curve, "loss": [1.0, 0.5]}, 1.5, 100.0,
        {"torch": "2"},
    )  # fmt: skip
    return RunRecord(point, seed + 10 * len(method), result)


def _records() -> list[RunRecord]:
    return [_record(m, s, v) for m, vs in VALUES.items() for s, v in enumerate(vs)]


def test_statistics_match_hand_computation() -> None:
    report = build_report(_records())
    rows = {row.arm: row for row in report.groups[("t", "8")]}
    rdrop = rows["rdrop"]
    # mean (0.66 + 0.74 + 0.71) / 3 = 0.70333; deviations -.04333 .03667 .00667 -> std .040415
    assert rdrop.summary.mean == pytest.approx(0.703333, abs=1e-6)
    assert rdrop.summary.std == pytest.approx(0.040415, abs=1e-6)
    # t(0.975, 2) = 4.302653: half width 4.302653 * .040415 / sqrt(3) = .100397
    assert rdrop.summary.half_width == pytest.approx(0.100397, abs=1e-5)
    # paired vs none: d = .06 .04 .06 -> mean .05333, sd .011547, t = 8.0, p(2 df) = .01527
    assert rdrop.paired.mean_diff == pytest.approx(0.053333, abs=1e-6)
    assert rdrop.paired.t_pvalue == pytest.approx(0.01527, abs=1e-4)
    assert rdrop.paired.wilcoxon_pvalue == pytest.approx(0.25)  # 3 positive pairs: 2/8
    assert rows["none"].paired is None
    # mixup: d = -.02 -.01 .01 -> a tie; rdrop: p < .05 and positive -> a win
    assert str(report.win_tie_loss["rdrop"]) == "1/0/0"
    assert str(report.win_tie_loss["mixup"]) == "0/1/0"
    assert list(report.ranks) == ["rdrop", "none", "mixup"]  # means .7033 .65 .6433
    assert report.curves[("t", "8")]["rdrop"] == pytest.approx([0.703333 / 2, 0.703333], abs=1e-6)


def test_arms_split_by_the_parameters_that_vary() -> None:
    records = [_record("none", s, 0.6 + s / 100, epochs=3) for s in range(2)]
    records += [_record("rdrop", s, 0.7, alpha=a, epochs=3) for s in range(2) for a in (0.5, 1)]
    arms = [row.arm for row in build_report(records).groups[("t", "8")]]
    assert arms == ["none", "rdrop alpha=0.5", "rdrop alpha=1"]  # epochs is the same everywhere


def test_an_option_of_the_method_names_its_arm_even_when_every_run_sets_it_alike() -> None:
    records = [_record("none", s, 0.6, epochs=3) for s in range(2)]
    records += [_record("rdrop", s, 0.7, duplicate_from="encoder.4", epochs=3) for s in range(2)]
    arms = [row.arm for row in build_report(records).groups[("t", "8")]]
    assert arms == ["none", "rdrop duplicate_from=encoder.4"]  # epochs: a general setting


def test_files_are_written(tmp_path: Path) -> None:
    records = _records() + [_record(m, s, v - 0.2, shots=2) for m, vs in VALUES.items()
                            for s, v in enumerate(vs)]  # fmt: skip
    records += [
        _record("rdrop", s, 0.6 + a / 10 - d / 5, alpha=a, dropout=d)
        for s in range(2) for a in (0.5, 1.0) for d in (0.1, 0.3)
    ]  # fmt: skip
    paths = write_report(records, tmp_path / "out", "Title", ["a note"])
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "report.md", "runs.csv", "forest.png", "bars.png", "accuracy_vs_k.png",
            "learning_curves.png", "sensitivity_t_8_rdrop.png",
        ]
    )  # fmt: skip
    for path in paths:
        assert path.stat().st_size > 1000, path
        if path.suffix == ".png":
            assert path.read_bytes().startswith(b"\x89PNG")
    with (tmp_path / "out" / "runs.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(records)
    assert {"task", "method", "shots", "seed", "value", "metric_accuracy", "seconds"} <= set(
        rows[0]
    )
    assert {r["shots"] for r in rows} == {"8", "2"}
    text = (tmp_path / "out" / "report.md").read_text()
    assert "# Title" in text and "a note" in text and "## t, K = 8" in text
    assert "| rdrop | 3 | 0.7033 ± 0.0404 | [0.6029, 0.8037] | +0.0533 | 0.015 | 0.250 |" in text


def test_no_runs_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no finished runs yet: run `rdrop bench` first"):
        build_report([])


def _timed(method: str, seed: int, value: float, seconds: float, per_step: float, metric="acc",
           greater=True, task="t") -> RunRecord:  # fmt: skip
    point = GridPoint.make(task, method, 8, seed, {})
    metrics = {metric: value, "seconds_per_step": per_step}
    result = TrialResult(metric, metrics, {metric: [value]}, seconds, 1.0, {}, greater)
    return RunRecord(point, seed, result)


def test_arms_follow_the_method_order_and_numeric_values() -> None:
    records = [_record("mixup", 0, 0.5), _record("none", 0, 0.5)]
    records += [_record("rdrop", 0, 0.5, alpha=a) for a in (10, 3, 0.5)]
    arms = [row.arm for row in build_report(records).groups[("t", "8")]]
    assert arms == ["none", "rdrop alpha=0.5", "rdrop alpha=3", "rdrop alpha=10", "mixup"]


def test_cost_is_relative_to_none_in_each_group() -> None:
    records = [_timed("none", s, 0.5, 2.0, 0.1) for s in range(2)]
    records += [_timed("rdrop", s, 0.5, 4.0, 0.2) for s in range(2)]
    records += [_timed("none", s, 0.5, 10.0, 1.0, task="u") for s in range(2)]
    records += [_timed("rdrop", s, 0.5, 80.0, 8.0, task="u") for s in range(2)]
    costs = {c.arm: c for c in build_report(records).costs}
    assert costs["none"].time_ratio == pytest.approx(1.0)
    assert costs["rdrop"].time_ratio == pytest.approx(4.0)  # geometric mean of 2x and 8x
    assert costs["rdrop"].step_ratio == pytest.approx(4.0)
    assert costs["rdrop"].seconds == pytest.approx(42.0) and costs["rdrop"].runs == 4


def test_one_slow_run_does_not_set_its_arms_cost() -> None:
    # rdrop's seed 2 was slowed (say, a paused worker): 60 s instead of about 4 s
    records = [_timed("none", s, 0.5, 2.0, 0.1) for s in range(3)]
    records += [_timed("rdrop", s, 0.5, t, p) for s, t, p in ((0, 4.0, 0.2), (1, 4.2, 0.21),
                                                              (2, 60.0, 3.0))]  # fmt: skip
    costs = {c.arm: c for c in build_report(records).costs}
    assert costs["rdrop"].seconds == pytest.approx(4.2)  # a mean would give 22.7
    assert costs["rdrop"].seconds_per_step == pytest.approx(0.21)
    assert costs["rdrop"].time_ratio == pytest.approx(2.1)
    assert costs["rdrop"].step_ratio == pytest.approx(2.1)


def test_groups_with_a_lower_is_better_metric_rank_and_count_the_other_way() -> None:
    records = [_timed("none", s, 0.5 + s / 100, 1, 1) for s in range(5)]
    records += [_timed("rdrop", s, 0.6 + s / 100 + s * s / 1000, 1, 1) for s in range(5)]
    records += [_timed("none", s, 100 + s, 1, 1, "ppl", False, "lm") for s in range(5)]
    records += [_timed("rdrop", s, 90 + s + s * s / 10, 1, 1, "ppl", False, "lm") for s in range(5)]
    report = build_report(records)
    assert report.metric == "metric" and report.group_metric[("lm", "8")] == ("ppl", False)
    assert str(report.win_tie_loss["rdrop"]) == "2/0/0"  # higher accuracy, lower perplexity
    assert report.ranks["rdrop"] == (1.0, 2)


def test_each_arm_is_compared_with_none_at_its_own_dropout() -> None:
    records = [
        _record("none", s, 0.5 + d + s / 100, dropout=d) for s in range(3) for d in (0.1, 0.3)
    ]
    records += [
        _record("rdrop", s, 0.6 + d + s / 50, alpha=a, dropout=d)
        for s in range(3) for a in (1, 3) for d in (0.1, 0.3)
    ]  # fmt: skip
    rows = {row.arm: row for row in build_report(records).groups[("t", "8")]}
    assert rows["none dropout=0.3"].paired is None
    # rdrop at dropout 0.3 minus none at dropout 0.3, seed by seed: 0.1 + s / 100
    assert rows["rdrop alpha=3 dropout=0.3"].paired.mean_diff == pytest.approx(0.11)
    assert rows["rdrop alpha=1 dropout=0.1"].paired.mean_diff == pytest.approx(0.11)


def test_each_variant_is_compared_with_its_method_at_the_default_setting() -> None:
    records = [_record("none", s, 0.5 + s / 100) for s in range(3)]
    records += [_record("rdrop", s, 0.6 + s / 100, passes=2) for s in range(3)]
    records += [_record("rdrop", s, 0.6 + s / 50, passes=3) for s in range(3)]
    report = build_report(records)
    (variant,) = report.variants[("t", "8")]
    assert (variant.arm, variant.default_arm) == ("rdrop passes=3", "rdrop passes=2")
    # passes 3 minus passes 2, seed by seed: s / 100 -> mean 0.01, not the 0.11 against none
    assert variant.paired.mean_diff == pytest.approx(0.01)
    assert variant.paired.n == 3
    text = "\n".join(grid_markdown(report))
    assert "## Variants against the method at its defaults" in text
    assert "| t | 8 | rdrop passes=3 | rdrop passes=2 | 3 | +0.0100 |" in text


def test_a_variant_pairs_only_where_its_partner_holds_the_default() -> None:
    # alpha has a default (1); dropout depends on the task, so arms differing there never pair
    records = [
        _record("rdrop", s, 0.6 + a / 10 + d + s / 100, alpha=a, dropout=d,
                semi_supervised=False, unlabelled_ratio=4)
        for s in range(3) for a in (1, 3) for d in (0.1, 0.3)
    ]  # fmt: skip
    records += [_record("rdrop", s, 0.7, semi_supervised=sv, unlabelled_ratio=4, alpha=1,
                        dropout=0.5) for s in range(3) for sv in (False, True)]  # fmt: skip
    variants = build_report(records).variants[("t", "8")]
    pairs = {v.arm: v.default_arm for v in variants}
    assert pairs == {
        "rdrop alpha=3 dropout=0.1 semi_supervised=False": "rdrop alpha=1 dropout=0.1 "
        "semi_supervised=False",
        "rdrop alpha=3 dropout=0.3 semi_supervised=False": "rdrop alpha=1 dropout=0.3 "
        "semi_supervised=False",
        "rdrop alpha=1 dropout=0.5 semi_supervised=True": "rdrop alpha=1 dropout=0.5 "
        "semi_supervised=False",
    }
    assert all(v.paired.mean_diff == pytest.approx(0.2) for v in variants if "alpha=3" in v.arm)


def test_arms_without_a_default_among_them_have_no_variant_table() -> None:
    records = [_record("rdrop", s, 0.6 + lr, lr=lr) for s in range(3) for lr in (0.1, 0.2)]
    records += [_record("rdrop", s, 0.6) for s in range(3)]  # the task's lr: unknown here
    report = build_report(records)
    assert report.variants == {}
    assert "Variants against" not in "\n".join(grid_markdown(report))
