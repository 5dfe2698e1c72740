"""README's commands and its quick start work as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_first_block_holds_exactly_the_demo_and_test_commands() -> None:
    first = re.search(r"```\w*\n(.*?)```", README.read_text(), flags=re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    makefile = (README.parent / "Makefile").read_text()
    assert "\ndemo:" in makefile and "\ntest:" in makefile
    assert "torch==2.13.0" in makefile


def test_quick_start_runs(capsys) -> None:
    quick_start = next(block for block in code_blocks("python") if "RDrop(model" in block)
    namespace: dict = {}
    exec(compile(quick_start, "README quick start", "exec"), namespace)
    task, term = map(float, capsys.readouterr().out.split())
    assert task > 0 and term > 0
    assert namespace["logits"].shape == (32, 10)


def test_fused_head_snippet_runs(capsys) -> None:
    snippet = next(block for block in code_blocks("python") if "fused_rdrop_lm_loss" in block)
    namespace: dict = {}
    exec(compile(snippet, "README fused head", "exec"), namespace)
    task, term, entropy, accuracy = map(float, capsys.readouterr().out.split())
    assert task > 0 and term > 0 and entropy > 0 and 0 <= accuracy <= 1
    assert namespace["head"].weight.grad is not None
