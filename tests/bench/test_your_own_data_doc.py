"""README's "Your own data" section works as written: its task file and its Python example."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from bench.tiny_checkpoints import bert_checkpoint
from torch_rdrop.bench.tasks import TASKS

README = Path(__file__).resolve().parents[2] / "README.md"
QUEUES = {
    "hardware": ["printer", "screen", "mouse", "keyboard", "toner", "laptop", "monitor", "dock"],
    "access": ["password", "login", "account", "badge", "token", "vpn", "wifi", "door"],
    "billing": ["invoice", "refund", "charge", "payment", "receipt", "price", "quote", "order"],
}


def section() -> str:
    """The text of README's "## Your own data" section, up to the next section."""
    text = README.read_text(encoding="utf-8")
    (found,) = re.findall(r"\n## Your own data\n(.*?)\n## ", text, re.S)
    return found


def block(language: str) -> str:
    """The section's first code block in ``language``."""
    return re.findall(rf"```{language}\n(.*?)```", section(), re.S)[0]


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
    try:
        exec(compile(block("python"), "README: your own data", "exec"), namespace)
    finally:
        TASKS.remove("tickets")
    assert namespace["logits"].shape == (8, 3)
    assert namespace["task"].origin == str(folder / "task.toml")
    assert (namespace["task"].epochs, namespace["task"].lr) == (5, 5e-5)  # the file's recipe
    printed = capsys.readouterr().out.splitlines()
    assert "{'access': 14, 'billing': 16, 'hardware': 14}" in printed[0]
    assert printed[1] == "macro_f1 True"


def test_the_commands_name_the_task_file_and_the_study() -> None:
    (commands,) = re.findall(r"```bash\n(.*?)```", section(), re.S)
    lines = commands.replace("\\\n", " ").splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["rdrop", "tasks"], ["rdrop", "bench"], ["rdrop", "report"]
    ]  # fmt: skip
    assert all("--tasks tickets/task.toml" in line for line in lines[:2])
    assert "--study tickets" in lines[1] and "--study tickets" in lines[2]
