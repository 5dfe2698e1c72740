"""Extra peak memory of a piece of work, measured in a fresh process (Linux).

A benchmark script measures each variant in a child process of its own, so that one variant's
allocations do not raise the peak seen by the next: the child builds its inputs, resets the
kernel's peak-RSS counter (``/proc/self/clear_refs``, Linux >= 4.0), runs the work and reads the
growth of the peak (``VmHWM`` in ``/proc/self/status``). The child prints its results as one JSON
line, which :func:`run_child` returns.

>>> before = reset_peak_rss()
>>> block = bytearray(64 * 1024 * 1024)
>>> peak_growth(before) >= 60 * 1024 * 1024
True
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["peak_growth", "reset_peak_rss", "run_child", "status_bytes"]


def status_bytes(field: str) -> int:
    """One ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``, ...), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"field {field!r} not found in /proc/self/status")


def reset_peak_rss() -> int:
    """Reset the peak-RSS counter to the current RSS, and return that RSS in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_bytes("VmRSS")


def peak_growth(before: int) -> int:
    """Bytes the peak RSS rose above ``before`` (a :func:`reset_peak_rss` value) since the reset."""
    return status_bytes("VmHWM") - before


def run_child(script: str, *args: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run ``python SCRIPT --child ARGS...`` and return the JSON of its last line of output."""
    command = [sys.executable, script, "--child", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{script} --child {' '.join(args)} printed nothing: {done.stderr}")
    return json.loads(lines[-1])
