"""`rdrop sweep` and `rdrop bench` read the registries: the metric's direction, the data check."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from bench.data_sources import load_or_skip
from torch_rdrop.bench.tasks.data import chinese_text, images
from torch_rdrop.cli import app

runner = CliRunner()


def test_a_sweep_on_perplexity_minimises_it(tmp_path: Path) -> None:
    load_or_skip(chinese_text.load_peoples_daily_lm)
    db = str(tmp_path / "sweep.db")
    args = ["sweep", "--task", "pd-lm-gpt2", "--method", "rdrop", "--seeds", "0", "--shots", "8"]
    args += ["--trials", "1", "-p", "epochs=1", "--storage", db]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="sweep-pd-lm-gpt2-rdrop", storage=f"sqlite:///{db}")
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    optuna.create_study(storage=f"sqlite:///{db}", study_name="old", direction="maximize")
    again = runner.invoke(app, [*args, "--study", "old"])
    assert again.exit_code == 1
    assert "study 'old' maximizes its value, but the metric of pd-lm-gpt2 is lower-is-better" in (
        again.stderr
    )


@pytest.fixture
def no_fashion_mnist(monkeypatch):
    monkeypatch.setenv("TORCH_RDROP_FASHION_MNIST", "/nowhere")
    images.load_fashion_mnist.cache_clear()  # a copy loaded earlier in the process is forgotten
    yield
    images.load_fashion_mnist.cache_clear()


@pytest.mark.parametrize(
    "command",
    [
        ["bench", "--tasks", "digits-mlp,fashion-mnist-cnn", "--seeds", "0", "--shots", "4"],
        ["sweep", "--task", "fashion-mnist-cnn", "--seeds", "0", "--shots", "4", "--trials", "1"],
        ["demo", "--tasks", "digits-mlp,fashion-mnist-cnn", "--seeds", "0", "--shots", "4"],
    ],
)
def test_missing_data_is_one_error_line_before_anything_is_stored(
    tmp_path: Path, no_fashion_mnist, command: list[str]
) -> None:
    db = tmp_path / "runs.db"
    short = ["--epochs", "1"] if command[0] == "demo" else ["-p", "epochs=1"]
    result = runner.invoke(app, [*command, *short, "--storage", str(db)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: task fashion-mnist-cnn: "), lines
    assert "/nowhere/train-images-idx3-ubyte.gz not found" in lines[0]
    assert lines[0].endswith("install it with: apt-get install -y dataset-fashion-mnist")
    assert "Traceback" not in result.output
    assert not db.exists()  # no study created, no failed trial
