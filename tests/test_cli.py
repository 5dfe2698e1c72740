"""The `rdrop` command end to end on a temporary SQLite store, and its errors on bad input."""

from __future__ import annotations

import csv
import socket
from pathlib import Path

import optuna
import pytest
import torch
import typer
from typer.testing import CliRunner

from torch_rdrop import __version__
from torch_rdrop.bench.engine.store import LOCAL_OPTIONS
from torch_rdrop.cli import app

runner = CliRunner()
# The engine's tests run the fast digits backend; the default backend has its own tests below.
DIGITS = ["--backend", "bench.digits:BACKEND"]
SMALL = ["--tasks", "digits", "--methods", "none,rdrop", "--seeds", "0-1", "--shots", "4"]
SMALL += ["--param", "epochs=2", *DIGITS]


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _count_trials(db: Path, study: str) -> int:
    return len(optuna.load_study(study_name=study, storage=f"sqlite:///{db}").get_trials())


def test_version() -> None:
    result = _run("--version")
    assert result.exit_code == 0 and result.output.strip() == f"torch-rdrop {__version__}"


def test_max_runs_runs_part_of_the_grid_and_is_not_remembered(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    result = _run("bench", *SMALL, "--storage", str(db), "--study", "s", "--max-runs", "3")
    assert result.exit_code == 0, result.output
    assert "3 runs finished in the study" in result.output and _count_trials(db, "s") == 3
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    assert study.user_attrs["commands"] == [
        "rdrop bench --tasks digits --seeds 0-1 --shots 4 --param epochs=2 "
        f"--storage {db} --study s --backend bench.digits:BACKEND"
    ]


def test_every_machine_only_option_is_an_option_of_bench() -> None:
    """A renamed flag would otherwise be kept in stored commands again, unnoticed."""
    bench = typer.main.get_command(app).commands["bench"]
    flags = {flag for option in bench.params for flag in option.opts}
    assert set(LOCAL_OPTIONS) <= flags, sorted(set(LOCAL_OPTIONS) - flags)


def test_bench_resume_and_report(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    result = _run("bench", *SMALL, "--storage", str(db), "--study", "s")
    assert result.exit_code == 0, result.output
    assert "grid: 4 runs" in result.output and "4 runs finished in the study" in result.output
    assert "4/4" in result.output and "rdrop" in result.output  # the bar and the live table
    again = _run("bench", *SMALL, "--storage", str(db), "--study", "s")
    assert again.exit_code == 0 and _count_trials(db, "s") == 4  # nothing ran twice

    out = tmp_path / "report"
    result = _run("report", "--storage", str(db), "--study", "s", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "ranking (accuracy)" in result.output
    with (out / "runs.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((r["method"], r["seed"]) for r in rows) == [
        ("none", "0"), ("none", "1"), ("rdrop", "0"), ("rdrop", "1"),
    ]  # fmt: skip
    assert (
        "4 finished grid points (4 COMPLETE trials; 0 duplicates ignored)"
        in (out / "report.md").read_text()
    )
    assert (out / "bars.png").stat().st_size > 1000


def test_sweep(tmp_path: Path) -> None:
    db = str(tmp_path / "sweep.db")
    args = ["sweep", "--method", "rdrop", "--seeds", "0", "--shots", "8", "--trials", "3"]
    args += ["--task", "digits", *DIGITS]
    result = _run(*args, "--param", "epochs=2", "--storage", db)
    assert result.exit_code == 0, result.output
    assert "best trials" in result.output and "alpha=" in result.output
    assert "rdrop bench --methods none,rdrop -p rdrop.alpha=" in result.output
    study = optuna.load_study(study_name="sweep-digits-rdrop", storage=f"sqlite:///{db}")
    assert len(study.trials) == 3 and study.user_attrs["kind"] == "sweep"
    assert all(t.intermediate_values for t in study.trials)  # per-epoch dev values for pruning
    again = _run(*args, "--param", "epochs=2", "--storage", db)  # already holds 3: runs none
    assert again.exit_code == 0 and len(study.trials) == 3
    result = runner.invoke(app, ["report", "--storage", db, "--study", "sweep-digits-rdrop"])
    assert result.exit_code == 1 and "is a sweep, not a benchmark grid" in result.stderr
    unset = _run(*args, "--param", "epochs=2", "--param", "alpha=default", "--storage", db)
    assert unset.exit_code == 1 and "leave alpha out" in unset.stderr


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    db = str(tmp_path / "demo.db")
    args = ["--storage", db, "--out", str(out), "--seeds", "0", "--shots", "4", "--epochs", "2"]
    result = _run("demo", "--tasks", "digits-mlp", "--workers", "2", *args)  # one helper process
    assert result.exit_code == 0, result.output
    assert "3 runs finished" in result.output  # none, rdrop and the reference model
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert {(row["task"], row["method"]) for row in rows} == {
        ("digits-mlp", "none"),
        ("digits-mlp", "rdrop"),
        ("digits-pixel-logreg", "none"),
    }
    assert all(row["metric"] == "accuracy" and 0.0 < float(row["value"]) <= 1.0 for row in rows)
    assert all(float(row["metric_dev_accuracy"]) > 0 for row in rows)  # best dev checkpoint
    assert {"report.md", "runs.csv", "bars.png"} <= {p.name for p in out.iterdir()}
    report = (out / "report.md").read_text()
    assert "Did the models learn?" in report and "`digits-pixel-logreg`" in report
    study = optuna.load_study(study_name="demo", storage=f"sqlite:///{db}")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert {t.user_attrs["point"]["params"]["recipe"] for t in done} == {"budget"}
    split = max(1, torch.get_num_threads() // 2)  # the threads are shared by the 2 workers
    assert {t.user_attrs["point"]["params"]["threads"] for t in done} == {split}
    refused = _run("demo", "--workers", "0", "--storage", db, "--out", str(out))
    assert refused.exit_code == 1 and "--workers must be >= 1, got 0" in refused.stderr


def test_tasks_lists_the_task_layer() -> None:
    result = _run("tasks", "--no-load")
    assert result.exit_code == 0, result.output
    assert "benchmark tasks" in result.output and "digits" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tasks", "sst9"], "tasks: unknown 'sst9'; choose from digits"),
        (["--methods", "none,dropblock"], "methods: unknown 'dropblock'; choose from none, rdrop"),
        (["--methods", "pgd"], "backend 'digits' does not run pgd"),
        (["--seeds", "0-"], "seeds: '0-' is not an integer >= 0 or a range like 0-4"),
        (["--seeds", "4-2"], "seeds: range '4-2' runs backwards"),
        (["--shots", "sixteen"], "shots: 'sixteen' is not an integer >= 1 or 'full'"),
        (["--shots", "400"], "shots=400 is more than class 0 of digits has for training"),
        (["--param", "alpha"], "param: expected [METHOD.]NAME=VALUE"),
        (["--backend", "nowhere:X"], "cannot import 'nowhere'"),
    ],
)
def test_bad_bench_input_is_one_clean_line(tmp_path: Path, args: list[str], message: str) -> None:
    base = ["bench", "--tasks", "digits", "--seeds", "0", "--shots", "4", "--param", "epochs=1"]
    base += DIGITS
    result = runner.invoke(app, [*base, *args, "--storage", str(tmp_path / "runs.db")])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_bad_storage_is_one_clean_line(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_text("definitely not sqlite\n" * 20)
    cases = [
        (["bench", "--storage", str(corrupt)], "is not an SQLite database"),
        (["report", "--storage", str(corrupt)], "is not an SQLite database"),
        (["report", "--storage", str(tmp_path / "none.db")], "does not exist: run `rdrop bench`"),
        (["bench", "--storage", str(tmp_path / "no" / "x.db")], "does not exist; create it"),
    ]
    if _psycopg_available():
        url = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/bench"
        cases.append((["bench", "--storage", url], "cannot open storage postgresql+psycopg"))
    for args, message in cases:
        result = runner.invoke(app, [*args, "--seeds", "0"] if args[0] == "bench" else args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr


def test_report_of_an_unknown_study(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    assert (
        _run(
            "bench", *SMALL[:6], *DIGITS, "--seeds", "0", "--param", "epochs=1", "--storage", db
        ).exit_code
        == 0
    )
    result = runner.invoke(app, ["report", "--storage", db, "--study", "nope"])
    assert result.exit_code == 1
    assert "study 'nope' is not in the storage; studies there: bench" in result.stderr


def _psycopg_available() -> bool:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return False
    return True


def test_default_backend_runs_text_and_tagging_tasks(tmp_path: Path) -> None:
    db = str(tmp_path / "tasks.db")
    args = ["bench", "--tasks", "mr-cnn,wsj-pos-lstm", "--methods", "none,rdrop,mixup"]
    args += ["--seeds", "0", "--shots", "2", "--param", "epochs=1", "--storage", db]
    result = _run(*args, "--study", "t")
    assert result.exit_code == 0, result.output
    assert "grid: 5 runs" in result.output and "5 runs finished in the study" in result.output
    assert "skipped (the method does not apply to the task): mixup on wsj-pos-lstm" in result.output
    out = tmp_path / "report"
    assert _run("report", "--storage", db, "--study", "t", "--out", str(out)).exit_code == 0
    rows = list(csv.DictReader((out / "runs.csv").open()))
    metrics = {(row["task"], row["method"]): row["metric"] for row in rows}
    assert metrics == {
        ("mr-cnn", "none"): "accuracy", ("mr-cnn", "rdrop"): "accuracy",
        ("mr-cnn", "mixup"): "accuracy",
        ("wsj-pos-lstm", "none"): "token_accuracy", ("wsj-pos-lstm", "rdrop"): "token_accuracy",
    }  # fmt: skip
    assert all(0.0 <= float(row["value"]) <= 1.0 for row in rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tasks", "mr-cnn", "--shots", "5000"], "shots=5000"),
        (["--tasks", "wsj-pos-lstm", "--methods", "mixup"], "none of the methods mixup applies"),
        (["--tasks", "mr-cnn", "--param", "dropout=1.5"], "param dropout must lie in [0, 1)"),
    ],
)
def test_default_backend_refuses_what_the_data_cannot_serve(
    tmp_path: Path, args: list[str], message: str
) -> None:
    base = ["bench", "--seeds", "0", "--shots", "2", "--param", "epochs=1"]
    result = runner.invoke(app, [*base, *args, "--storage", str(tmp_path / "runs.db")])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("rdrop.alpha=-1", "digits-mlp/rdrop: alpha must be a finite number >= 0, got -1"),
        ("rdrop.alhpa=1", "unknown option(s) ['alhpa'] for method 'rdrop'"),
        ("epochs=0", "digits-mlp/none: param epochs must be a positive integer, got 0"),
    ],
)
def test_a_run_that_would_fail_is_refused_before_anything_is_stored(
    tmp_path: Path, param: str, message: str
) -> None:
    db = tmp_path / "runs.db"
    base = ["bench", "--tasks", "digits-mlp", "--methods", "none,rdrop", "--seeds", "0-2"]
    result = runner.invoke(app, [*base, "--shots", "4", "--param", param, "--storage", str(db)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not db.exists()  # no study, no failed trial
