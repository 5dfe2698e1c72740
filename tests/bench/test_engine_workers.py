"""Helper worker processes: a failing helper's output reaches the caller; a stopped one is dead."""

from __future__ import annotations

import pytest

from torch_rdrop.bench.engine.workers import (
    finish_bench_workers,
    start_bench_workers,
    stop_bench_workers,
)


def test_a_failing_helper_raises_with_its_own_error_line() -> None:
    helpers = start_bench_workers(["--tasks", "no-such-task", "--storage", ":memory:"], 1)
    with pytest.raises(RuntimeError, match=r"exited with status 1:\n(.|\n)*no-such-task"):
        finish_bench_workers(helpers, timeout=120)


def test_stopping_kills_helpers_that_still_run(tmp_path) -> None:
    args = ["--tasks", "digits-mlp", "--seeds", "0-99", "--storage", str(tmp_path / "s.db")]
    helpers = start_bench_workers(args, 2)
    assert all(h.process.poll() is None for h in helpers)
    stop_bench_workers(helpers)
    assert all(h.process.returncode is not None and h.process.returncode < 0 for h in helpers)


def test_count_must_be_a_non_negative_integer() -> None:
    assert start_bench_workers(["--help"], 0) == []
    with pytest.raises(ValueError, match="count must be an integer >= 0, got -1"):
        start_bench_workers(["--help"], -1)
