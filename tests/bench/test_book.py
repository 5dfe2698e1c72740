"""The multi-study report: a section per study, the commands that filled each, one runs.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from torch_rdrop.bench.report.book import Section, write_book
from torch_rdrop.cli import app

runner = CliRunner()
DIGITS = ["--backend", "bench.digits:BACKEND"]


def _run(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _fill(db: str) -> None:
    grid = ["--tasks", "digits", "--seeds", "0-2", "--shots", "4", "--param", "epochs=2"]
    _run("bench", *grid, "--methods", "none,rdrop", "--storage", db, "--study", "a", *DIGITS)
    _run("bench", *grid, "--methods", "none,mixup", "--storage", db, "--study", "b", *DIGITS)
    sweep = ["--task", "digits", "--seeds", "0", "--shots", "8", "--trials", "3"]
    _run("sweep", *sweep, "--param", "epochs=2", "--storage", db, "--study", "c", *DIGITS)


def test_bench_and_sweep_remember_their_command_once(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    _fill(db)
    _run(
        "bench", "--tasks", "digits", "--seeds", "0-2", "--shots", "4", "--param", "epochs=2",
        "--methods", "none,rdrop", "--storage", db, "--study", "a", *DIGITS,
        "--max-runs", "1", "--heartbeat-interval", "5", "--grace-period", "60",
    )  # fmt: skip
    commands = optuna.load_study(study_name="a", storage=f"sqlite:///{db}").user_attrs["commands"]
    assert commands == [
        f"rdrop bench --tasks digits --seeds 0-2 --shots 4 --param epochs=2 --storage {db} "
        "--study a --backend bench.digits:BACKEND"
    ]  # options left at their defaults (--methods none,rdrop) and this machine's are not kept
    sweep = optuna.load_study(study_name="c", storage=f"sqlite:///{db}").user_attrs["commands"]
    assert len(sweep) == 1 and sweep[0].startswith("rdrop sweep --task digits --seeds 0")


def test_a_report_shows_a_command_once_whatever_machine_options_it_was_stored_with(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "runs.db")
    _fill(db)
    study = optuna.load_study(study_name="a", storage=f"sqlite:///{db}")
    (command,) = study.user_attrs["commands"]

    def report() -> str:
        _run("report", "--storage", db, "--study", "a,b", "--out", str(tmp_path / "book"))
        return (tmp_path / "book" / "report.md").read_text()

    shown = report().count(command)
    study.set_user_attr(  # as a store written before the portable form was kept holds them
        "commands", [f"{command} --snapshots .snapshots", f"{command} --snapshots /root/snaps"]
    )
    text = report()
    assert shown >= 1 and text.count(command) == shown and "--snapshots" not in text


def test_one_report_over_grids_and_a_sweep(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    _fill(db)
    preface = tmp_path / "conclusions.md"
    preface.write_text("R-Drop did X on Y.\n")
    out = tmp_path / "book"
    result = _run(
        "report", "--storage", db, "--study", "a,b,c", "--out", str(out),
        "--preface", str(preface), "--title", "Evidence",
    )  # fmt: skip
    assert "a: grid, 6 finished" in result.output and "c: sweep, 3 finished" in result.output
    text = (out / "report.md").read_text()
    assert text.startswith("# Evidence\n\nR-Drop did X on Y.")
    assert "rdrop bench --tasks digits --methods none,mixup" in text  # study b's command
    assert f"rdrop report --storage {db} --study a,b,c" in text  # and how to redo this report
    for heading in ("## a", "## b", "## c", "### digits, K = 4", "### Cost", "### Ranking"):
        assert f"\n{heading}\n" in text, heading
    assert "TPE sweep of `rdrop` on `digits` at K = 8" in text
    assert "![a-bars](a-bars.png)" in text and "![c-sweep](c-sweep.png)" in text
    for name in ("a-bars.png", "b-bars.png", "c-sweep.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert len(rows) == 12 and next(iter(rows[0])) == "study"
    assert {(r["study"], r["method"]) for r in rows} == {
        ("a", "none"), ("a", "rdrop"), ("b", "none"), ("b", "mixup"),
    }  # fmt: skip
    # every mean in the tables traces to the runs: recompute one from runs.csv
    values = [float(r["value"]) for r in rows if r["study"] == "b" and r["method"] == "mixup"]
    assert f"| mixup | 3 | {sum(values) / 3:.4f} ±" in text


def test_a_missing_study_or_preface_is_one_error_line(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    _fill(db)
    result = runner.invoke(app, ["report", "--storage", db, "--study", "a,zz"])
    assert result.exit_code == 1 and "study 'zz' is not in the storage" in result.stderr
    result = runner.invoke(
        app, ["report", "--storage", db, "--study", "a,b", "--preface", str(tmp_path / "no.md")]
    )
    assert result.exit_code == 1 and "is not a file" in result.stderr


def test_appendix_studies_come_last_under_their_own_heading(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    _fill(db)
    out = tmp_path / "book"
    note = "Run before the recipes were fixed; kept for the record."
    _run(
        "report", "--storage", db, "--study", "a,b,c", "--out", str(out),
        "--appendix", "c,a", "--appendix-note", note,
    )  # fmt: skip
    text = (out / "report.md").read_text()
    order = ["\n## b\n", "\n## Appendix: earlier studies\n\n" + note + "\n", "\n### a\n",
             "\n### c\n"]  # fmt: skip
    at = [text.index(part) for part in order]
    assert at == sorted(at), at  # b, the heading, its note, then a and c in --study order
    assert "\n## a\n" not in text and "\n## c\n" not in text
    assert "\n#### digits, K = 4\n" in text and "\n### digits, K = 4\n" in text  # a, b
    assert "Studies: [b](#b); in the appendix: [a](#a), [c](#c)" in text
    assert "![a-forest](a-forest.png)\n![a-bars](a-bars.png)" in text  # the forest plot first
    plain = tmp_path / "plain"
    _run("report", "--storage", db, "--study", "a,b", "--out", str(plain), "--appendix", "b")
    assert "## Appendix: earlier studies\n\n### b\n" in (plain / "report.md").read_text()


def test_an_appendix_study_must_be_in_the_report(tmp_path: Path) -> None:
    args = ["report", "--storage", str(tmp_path / "none.db"), "--study", "a,b"]
    result = runner.invoke(app, [*args, "--appendix", "b,zz"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: appendix: study 'zz' is not in --study a,b"
    result = runner.invoke(app, [*args, "--appendix-note", "text"])
    assert result.exit_code == 1 and "--appendix-note needs --appendix" in result.stderr


def test_write_book_names_an_appendix_study_it_does_not_hold(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"appendix study 'zz' is not one of .* \(a\)"):
        write_book([Section("a", "grid")], tmp_path, "T", appendix=["zz"])


def test_a_sweep_plot_names_the_metric_of_its_task() -> None:
    from torch_rdrop.bench.report.book import _sweep_metric

    assert _sweep_metric(Section("s", "sweep", attrs={"task": "digits-mlp"})) == "accuracy"
    assert _sweep_metric(Section("s", "sweep", attrs={"task": "no-such-task"})) == "metric"


def test_a_recipe_study_shows_its_choice_and_a_dev_study_says_it_scored_dev(tmp_path) -> None:
    db = str(tmp_path / "runs.db")
    dev = ["--tasks", "digits-mlp", "--shots", "4", "--seeds", "0-1", "--storage", db,
           "--param", "score_on=dev", "--param", "dev_shots=4", "--param", "epochs=3"]  # fmt: skip
    _run("bench", *dev, "--methods", "none", "--param", "lr=1e-4,1e-2", "--study", "recipe")
    _run("bench", *dev, "--methods", "rdrop", "--param", "rdrop.alpha=1,4", "--study", "alpha")
    out = tmp_path / "book"
    _run("report", "--storage", db, "--study", "recipe,alpha", "--out", str(out))
    text = (out / "report.md").read_text()
    recipe = text[text.index("## recipe") : text.index("## alpha")]
    row = next(line for line in recipe.splitlines() if line.startswith("| digits-mlp | 4 |"))
    assert "| 2 | 0.0001: " in row and "| 0.01 |" in row and "not recorded" in row
    alpha = text[text.index("## alpha") :]
    assert "Every value below is a **dev** score" in alpha and "**dev**" not in recipe
