"""More workers on one grid from one command: ``rdrop bench`` processes started beside it.

A grid's runs are independent and the store hands each to one worker, so a command that runs a
grid itself can start ``count`` more ``rdrop bench`` processes on the same store and study (the
same arguments, so the same grid), run its own share, and then wait for them. Small models on a
few CPU cores train faster as several one-thread processes than as one process on every thread.

>>> helpers = start_bench_workers(["--help"], 1)
>>> finish_bench_workers(helpers)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

__all__ = ["BenchWorker", "finish_bench_workers", "start_bench_workers", "stop_bench_workers"]

#: Lines of a failed worker's output quoted in the error.
TAIL_LINES = 20


@dataclass
class BenchWorker:
    """A started ``rdrop bench`` process and the file that holds its output."""

    process: subprocess.Popen
    log: IO[str]


def start_bench_workers(args: Sequence[str], count: int) -> list[BenchWorker]:
    """Start ``count`` processes ``rdrop bench ARGS`` (one thread each unless ARGS say so).

    Each writes its output to a temporary file, quoted by :func:`finish_bench_workers` if the
    process fails.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be an integer >= 0, got {count!r}")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch_rdrop.cli", "bench", *args]
    workers = []
    for _ in range(count):
        log = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed by finish/stop
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        workers.append(BenchWorker(process, log))
    return workers


def _tail(log: IO[str]) -> str:
    log.seek(0)
    return "\n".join(log.read().splitlines()[-TAIL_LINES:])


def finish_bench_workers(workers: Sequence[BenchWorker], timeout: float | None = None) -> None:
    """Wait for ``workers``; raise ``RuntimeError`` with the output of the first that failed."""
    failed = []
    for worker in workers:
        code = worker.process.wait(timeout=timeout)
        if code != 0:
            failed.append((code, _tail(worker.log)))
        worker.log.close()
    if failed:
        code, tail = failed[0]
        raise RuntimeError(f"a helper worker (rdrop bench) exited with status {code}:\n{tail}")


def stop_bench_workers(workers: Sequence[BenchWorker]) -> None:
    """Stop ``workers`` that still run (their unfinished runs are re-run on resume)."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()
        worker.log.close()
