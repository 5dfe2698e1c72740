"""The ``rdrop`` console script without the ``[bench]`` extra: one line, exit status 1."""

from __future__ import annotations

import subprocess
import sys

import pytest

from torch_rdrop.command import _missing_module

WITHOUT = "import sys; sys.modules[{name!r}] = None; from torch_rdrop.command import main; main()"


@pytest.mark.parametrize("module", ["typer", "rich"])
def test_missing_extra_gives_one_error_line(module) -> None:
    # sys.modules[name] = None makes `import name` fail as if the package were not installed
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT.format(name=module), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: the rdrop command needs ")
    assert "pip install 'torch-rdrop[bench]'" in lines[0]
    assert done.stdout == ""


def test_an_import_bug_of_our_own_is_not_hidden() -> None:
    own = ModuleNotFoundError("No module named 'torch_rdrop.nope'", name="torch_rdrop.nope")
    assert _missing_module(own) is None
    chained = ImportError("the rdrop command needs typer and rich")
    chained.__cause__ = ModuleNotFoundError("No module named 'typer'", name="typer")
    assert _missing_module(chained) == "typer"


def test_the_console_script_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from torch_rdrop.command import main; main()", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(__import__("torch_rdrop").__version__)
