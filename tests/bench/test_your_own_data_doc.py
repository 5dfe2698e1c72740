"""docs/your-own-data.md works as written: its task file and its Python example."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from bench.tiny_checkpoints import bert_checkpoint

DOC = Path(__file__).resolve().parents[2] / "docs" / "your-own-data.md"
QUEUES = {
    "hardware": ["printer", "screen", "mouse", "keyboard", "toner", "laptop", "monitor", "dock"],
    "access": ["password", "login", "account", "badge", "token", "vpn", "wifi", "door"],
    "billing": ["invoice", "refund", "charge", "payment", "receipt", "price", "quote", "order"],
}


def block(language: str) -> str:
    (found,) = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return found


def write_rows(path: Path, rows: list[tuple[str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["body", "queue"])
        writer.writerows(rows)


def test_the_task_file_and_python_example_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "tickets"
    folder.mkdir()
    rows = [(f"{word} {verb}", queue) for queue, words in QUEUES.items() for word in words
            for verb in ("broken", "help")]  # fmt: skip
    write_rows(folder / "train.csv", [r for r in rows if not r[0].startswith(("dock", "door"))])
    write_rows(folder / "test.csv", [r for r in rows if r[0].startswith(("dock", "door"))])
    words = [w for ws in QUEUES.values() for w in ws] + ["broken", "help"]
    bert_checkpoint(folder / "my-bert", words)
    (folder / "task.toml").write_text(block("toml"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block("python"), str(DOC), "exec"), namespace)
    assert namespace["logits"].shape == (8, 3)
    assert namespace["family"].max_length == 128 == namespace["spec"].recipe.max_length
    printed = capsys.readouterr().out
    assert "{'access': 14, 'billing': 16, 'hardware': 14}" in printed
