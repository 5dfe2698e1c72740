"""The "did it learn?" gate: each group's none against its data set's reference model."""

from __future__ import annotations

from pathlib import Path

import pytest

from torch_rdrop.bench.engine.grid import GridPoint
from torch_rdrop.bench.engine.runner import RunRecord
from torch_rdrop.bench.engine.spec import TrialResult
from torch_rdrop.bench.report import build_report
from torch_rdrop.bench.report.book import Section, write_book
from torch_rdrop.bench.report.gate import DID_NOT_LEARN, LEARNED, NO_REFERENCE

SEEDS = range(5)


def _run(task: str, method: str, seed: int, value: float, metric="accuracy", greater=True,
         shots: int = 16) -> RunRecord:  # fmt: skip
    curves = {metric: [value], "train_loss": [1.0, 0.5]}
    result = TrialResult(metric, {metric: value}, curves, 1.0, 1.0, {}, greater)
    return RunRecord(GridPoint.make(task, method, shots, seed, {}), seed, result)


def _arms(task: str, none: float, rdrop: float, **kw) -> list[RunRecord]:
    """none at ``none + s/100``; rdrop above it by ``rdrop + s*s/1000`` (a significant win)."""
    runs = [_run(task, "none", s, none + s / 100, **kw) for s in SEEDS]
    return runs + [
        _run(task, "rdrop", s, none + rdrop + s / 100 + s * s / 1000, **kw) for s in SEEDS
    ]


def _reference(task: str, value: float, **kw) -> list[RunRecord]:
    return [_run(task, "none", s, value + s / 200, **kw) for s in SEEDS]


def _records() -> list[RunRecord]:
    """mr-cnn learned (0.70 vs 0.60), bbc-cnn did not (0.20 vs 0.93), tweets-lstm: no reference."""
    return [
        *_arms("mr-cnn", 0.70, 0.05),
        *_arms("bbc-cnn", 0.20, 0.05),
        *_arms("tweets-lstm", 0.45, 0.05),
        *_reference("mr-tfidf-logreg", 0.60),
        *_reference("bbc-tfidf-logreg", 0.93),
    ]


def test_a_group_below_its_reference_is_kept_out_of_win_tie_loss_and_ranks() -> None:
    report = build_report(_records())
    verdicts = {group: checks[0].verdict for group, checks in report.learning.items()}
    assert verdicts == {
        ("mr-cnn", "16"): LEARNED,
        ("bbc-cnn", "16"): DID_NOT_LEARN,
        ("tweets-lstm", "16"): NO_REFERENCE,
    }
    mr = report.learning[("mr-cnn", "16")][0]
    assert mr.reference == "mr-tfidf-logreg"
    # none 0.70 + s/100, reference 0.60 + s/200: differences 0.10 + s/200 -> mean 0.11
    assert mr.none_mean == pytest.approx(0.72) and mr.reference_mean == pytest.approx(0.61)
    assert mr.paired.mean_diff == pytest.approx(0.11) and mr.paired.n == 5
    # rdrop wins in mr-cnn and tweets-lstm (no reference: kept); bbc-cnn counts apart
    assert str(report.win_tie_loss["rdrop"]) == "2/0/0"
    assert str(report.unlearned_win_tie_loss["rdrop"]) == "1/0/0"
    assert report.ranks["rdrop"] == (1.0, 2)
    # reference tasks are the yardstick, not groups of their own
    assert set(report.groups) == {("mr-cnn", "16"), ("bbc-cnn", "16"), ("tweets-lstm", "16")}


def test_lower_is_better_flips_the_comparison() -> None:
    ppl = {"metric": "perplexity", "greater": False}
    below = [*_arms("pd-lm-gpt2", 500.0, -50.0, **ppl), *_reference("pd-lm-char-ngram", 690, **ppl)]
    above = [
        *_arms("pd-lm-gpt2", 3466.0, -50.0, **ppl),
        *_reference("pd-lm-char-ngram", 690, **ppl),
    ]
    assert build_report(below).learning[("pd-lm-gpt2", "16")][0].verdict == LEARNED
    report = build_report(above)
    assert report.learning[("pd-lm-gpt2", "16")][0].verdict == DID_NOT_LEARN
    assert not report.win_tie_loss and str(report.unlearned_win_tie_loss["rdrop"]) == "1/0/0"


def test_the_reference_must_run_on_the_same_k_and_every_seed() -> None:
    other_k = [*_arms("mr-cnn", 0.3, 0.05), *_reference("mr-tfidf-logreg", 0.6)[:5]]
    other_k = other_k[:10] + [_run("mr-tfidf-logreg", "none", s, 0.6, shots=8) for s in SEEDS]
    assert build_report(other_k).learning[("mr-cnn", "16")][0].verdict == NO_REFERENCE
    missing_seed = [*_arms("mr-cnn", 0.3, 0.05), *_reference("mr-tfidf-logreg", 0.6)[:4]]
    assert build_report(missing_seed).learning[("mr-cnn", "16")][0].verdict == NO_REFERENCE


def test_reference_runs_of_another_study_feed_the_book(tmp_path: Path) -> None:
    records = _records()
    networks = [r for r in records if "tfidf" not in r.point.task]
    references = [r for r in records if "tfidf" in r.point.task]
    sections = [
        Section("main", "grid", ("rdrop bench ...",), networks, len(networks)),
        Section("reference", "grid", ("rdrop bench ...",), references, len(references)),
    ]
    write_book(sections, tmp_path, "Book")
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "### Did the models learn?" in text
    bbc = "| bbc-cnn | 16 | `bbc-tfidf-logreg` | 0.2200 | 0.9400 | -0.7200 | 0.000 |"
    assert f"{bbc} 0.5000 | **did not learn** |" in text  # none's last-epoch training loss
    assert "| `tweets-tfidf-logreg` | 0.4700 | – | – | – | 0.5000 | no reference run |" in text
    assert "### bbc-cnn, K = 16 — did not learn" in text
    assert "### mr-cnn, K = 16\n" in text
    assert (
        "Not counted above, because `none` did not beat its reference model: bbc-cnn, K = 16"
        in text
    )
    assert "### Reference models" in text and "| mr-tfidf-logreg | 16 | 5 |" in text
