"""Every example runs, as a user would run it, and reports real numbers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_digits_example_prints_a_comparison() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "digits_rdrop.py"),
            "--shots",
            "5",
            "--seeds",
            "2",
            "--epochs",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = done.stdout.strip().splitlines()
    assert lines[1].split() == ["seed", "none", "rdrop", "diff"]
    rows = [line.split() for line in lines[2:4]]
    for seed, row in enumerate(rows):
        assert int(row[0]) == seed
        none, rdrop, diff = float(row[1]), float(row[2]), float(row[3])
        assert 0.1 < none <= 1.0 and 0.1 < rdrop <= 1.0
        assert abs((rdrop - none) - diff) < 1e-3
    assert lines[-1].startswith("mean")
