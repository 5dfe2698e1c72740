"""The forest plot and the plots' axes: paired differences to none, drawn from the right numbers,
each axis naming its metric."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from torch_rdrop.bench.engine.grid import GridPoint
from torch_rdrop.bench.engine.runner import RunRecord
from torch_rdrop.bench.engine.spec import TrialResult
from torch_rdrop.bench.report import build_report, write_report
from torch_rdrop.bench.report.forest import (
    ForestRow,
    _draw_panel,
    difference_label,
    forest_panels,
    forest_rows,
    plot_forest,
)
from torch_rdrop.bench.report.grid_plots import write_plots

NONE = [0.60, 0.70, 0.65]
# t(0.975, 2) = 4.302653; differences .01 .02 .03 have sd .01: half width 4.302653 * .01 / √3
HALF = 4.302653 * 0.01 / math.sqrt(3)


def _run(task: str, method: str, seed: int, value: float, metric: str = "accuracy",
         greater: bool = True, curves: dict | None = None, shots: int = 16,
         **params) -> RunRecord:  # fmt: skip
    result = TrialResult(metric, {metric: value}, curves or {}, 1.0, 1.0, {}, greater)
    return RunRecord(GridPoint.make(task, method, shots, seed, params), seed, result)


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch):
    """The figures the report draws, kept open to read their axes, closed after the test."""
    close, kept = plt.close, []
    monkeypatch.setattr(plt, "close", kept.append)
    yield kept
    for fig in kept:
        close(fig)


def _paired_records() -> list[RunRecord]:
    """rdrop beats none by .01 .02 .03 on seeds 0-2 and runs seed 3 alone (not paired); on "lm"
    (perplexity, lower is better) rdrop is lower than none by 1, 2, 3."""
    records = [_run("t", "none", s, v) for s, v in enumerate(NONE)]
    records += [_run("t", "rdrop", s, v + (s + 1) / 100) for s, v in enumerate(NONE)]
    records += [_run("t", "rdrop", 3, 0.99)]  # no none on seed 3: left out of the difference
    records += [_run("lm", "none", s, 50.0 + 5 * s, "perplexity", False) for s in range(3)]
    records += [
        _run("lm", "rdrop", s, 50.0 + 5 * s - (s + 1), "perplexity", False) for s in range(3)
    ]
    return records


def test_rows_are_the_paired_differences_with_their_t_interval() -> None:
    rows = {(r.task, r.arm): r for r in forest_rows(build_report(_paired_records()))}
    assert set(rows) == {("t", "rdrop"), ("lm", "rdrop")}  # none is not a row of its own
    t = rows[("t", "rdrop")]
    assert (t.shots, t.metric, t.greater_is_better, t.n, t.learned) == ("16", "accuracy", True, 3,
                                                                         True)  # fmt: skip
    # paired over seeds 0-2 only: mean .02 (unpaired means would give .7375 - .65 = .0875)
    assert t.mean_diff == pytest.approx(0.02, abs=1e-9)
    assert t.ci_low == pytest.approx(0.02 - HALF, abs=1e-6)
    assert t.ci_high == pytest.approx(0.02 + HALF, abs=1e-6)


def test_a_lower_is_better_metric_keeps_the_sign_of_arm_minus_none() -> None:
    rows = forest_rows(build_report(_paired_records()))
    lm = next(r for r in rows if r.task == "lm")
    # rdrop's perplexity is lower by 1, 2, 3: arm - none = -2, an improvement, drawn left of 0
    assert (lm.metric, lm.greater_is_better) == ("perplexity", False)
    assert lm.mean_diff == pytest.approx(-2.0)
    assert lm.ci_low == pytest.approx(-2.0 - 100 * HALF, abs=1e-4)  # sd 1: 100 times the above
    assert lm.ci_high == pytest.approx(-2.0 + 100 * HALF, abs=1e-4)
    panels = forest_panels(rows)
    assert list(panels) == [("accuracy", True), ("perplexity", False)]  # one panel per metric
    assert difference_label("accuracy") == "accuracy: arm − none (paired mean, 95 % CI)"
    assert difference_label("perplexity", False).endswith("; lower is better")


def test_rows_are_grouped_by_task_then_k() -> None:
    records = [
        _run(task, method, s, 0.5 + s / 10 + (method == "rdrop") / 100)
        for task in ("b", "a") for method in ("none", "rdrop", "mixup") for s in range(2)
    ]  # fmt: skip
    records += [
        _run("b", m, s, 0.6 + s / 10, shots=64) for m in ("none", "rdrop") for s in range(2)
    ]
    rows = forest_rows(build_report(records))  # groups in the order met: b 16, a 16, b 64
    assert [(r.task, r.shots, r.arm) for r in rows] == [
        ("b", "16", "rdrop"), ("b", "16", "mixup"), ("b", "64", "rdrop"),
        ("a", "16", "rdrop"), ("a", "16", "mixup"),
    ]  # fmt: skip


def test_rows_of_a_group_that_did_not_learn_are_marked() -> None:
    records = [_run("mr-tfidf-logreg", "none", s, 0.6) for s in range(3)]  # the yardstick
    records += [
        _run(task, m, s, v + (m == "rdrop") * s / 100)
        for task, v in (("mr-cnn", 0.7), ("bbc-cnn", 0.2))
        for m in ("none", "rdrop")
        for s in range(3)
    ]
    records += [_run("bbc-tfidf-logreg", "none", s, 0.9) for s in range(3)]
    learned = {r.task: r.learned for r in forest_rows(build_report(records))}
    assert learned == {"mr-cnn": True, "bbc-cnn": False}  # bbc-cnn's none is below 0.9


def test_a_single_seed_has_a_point_and_no_interval(tmp_path: Path) -> None:
    rows = forest_rows(build_report([_run("t", "none", 0, 0.5), _run("t", "rdrop", 0, 0.53)]))
    assert [r.n for r in rows] == [1] and rows[0].mean_diff == pytest.approx(0.03)
    assert math.isnan(rows[0].ci_low) and math.isnan(rows[0].ci_high)
    assert plot_forest(rows, tmp_path / "forest.png")
    assert (tmp_path / "forest.png").read_bytes().startswith(b"\x89PNG")
    assert not plot_forest([], tmp_path / "empty.png") and not (tmp_path / "empty.png").exists()


def test_the_panel_draws_each_interval_and_point_where_the_rows_say() -> None:
    rows = [
        ForestRow("t", "16", "rdrop", "accuracy", True, 3, 0.02, -0.005, 0.045),
        ForestRow("u", "16", "rdrop", "accuracy", True, 1, -0.01, math.nan, math.nan, False),
    ]
    fig, ax = plt.subplots()
    _draw_panel(ax, rows)
    bars = [seg for c in ax.collections for seg in c.get_segments() if seg[0][1] == seg[1][1]]
    assert [(s[0][0], s[1][0], s[0][1]) for s in bars] == [(-0.005, 0.045, 2)]  # top row only
    marked = [line for line in ax.lines if line.get_marker() == "o"]
    points = [(line.get_xdata()[0], line.get_ydata()[0]) for line in marked]
    assert points == [(0.02, 2), (-0.01, 1)]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "t, K = 16: rdrop", "u, K = 16: rdrop (did not learn)",
    ]  # fmt: skip
    assert [line.get_markerfacecolor() for line in marked] == ["tab:blue", "white"]  # hollow
    vertical = [line.get_xdata() for line in ax.lines if line.get_marker() != "o"]
    assert [0.0, 0.0] in [list(x) for x in vertical]  # the line at no difference
    plt.close(fig)


def _labels(fig) -> set[str]:
    found = set()
    for ax in fig.axes:
        found |= {ax.get_xlabel(), ax.get_ylabel()}
    return found - {""}


def test_every_plot_names_its_metric(tmp_path: Path, figures: list) -> None:
    curve = {"dev_accuracy": [0.4, 0.5]}
    records = [_run("t", m, s, 0.5 + s / 10, curves=curve) for m in ("none", "rdrop")
               for s in range(2)]  # fmt: skip
    records += [
        _run("lm", m, s, 50.0 + s, "perplexity", False, {"perplexity": [60.0, 50.0]})
        for m in ("none", "rdrop") for s in range(2)
    ]  # fmt: skip
    report = build_report(records)
    names = [p.name for p in write_plots(report, records, tmp_path)]
    assert names == ["forest.png", "bars.png", "learning_curves.png"]  # the forest plot first
    forest, bars, curves = (_labels(f) for f in figures)
    assert forest == {
        "accuracy: arm − none (paired mean, 95 % CI)",
        "perplexity: arm − none (paired mean, 95 % CI); lower is better",
    }
    assert bars == {"accuracy (mean, 95 % CI)", "perplexity (mean, 95 % CI); lower is better"}
    # "t" kept only its dev curve; "lm" its metric's curve
    assert curves == {
        "epoch",
        "dev accuracy (mean over seeds)",
        "perplexity (mean over seeds); lower is better",
    }


def test_the_metric_curve_is_preferred_to_the_dev_curve() -> None:
    both = {"accuracy": [0.1, 0.2], "dev_accuracy": [0.7, 0.8]}
    dev = {"dev_accuracy": [0.7, 0.8]}
    records = [_run("t", "none", s, 0.5, curves=both) for s in range(2)]
    records += [_run("u", "none", s, 0.5, curves=dev) for s in range(2)]
    report = build_report(records)
    assert report.curve_names == {("t", "16"): "accuracy", ("u", "16"): "dev_accuracy"}
    assert report.curves[("t", "16")]["none"] == pytest.approx([0.1, 0.2])
    assert report.curves[("u", "16")]["none"] == pytest.approx([0.7, 0.8])


def test_sensitivity_and_k_plots_name_the_metric(tmp_path: Path, figures: list) -> None:
    records = [
        _run("lm", "rdrop", s, 40.0 + a + s, "perplexity", False, shots=k, alpha=a)
        for k in (8, 16) for s in range(2) for a in (0.5, 1.0)
    ]  # fmt: skip
    write_report(records, tmp_path, "T")
    labels = set().union(*(_labels(f) for f in figures))
    assert "perplexity (mean, 95 % CI); lower is better" in labels  # bars and K plot
    assert "perplexity (mean over seeds); lower is better" in labels  # the heat maps' colour bar
    assert "metric" not in " ".join(labels)


def test_the_report_explains_the_forest_plot_first(tmp_path: Path) -> None:
    write_report(_paired_records(), tmp_path, "T")
    text = (tmp_path / "report.md").read_text()
    plots = text[text.index("## Plots") :]
    assert plots.index("![forest](forest.png)") < plots.index("![bars](bars.png)")
    assert "Rows of groups that did not learn are kept, drawn hollow and grey" in plots
