"""Trial backends for the engine tests: the real digits trial, slowed down, held in its third run
so that a worker can be killed while a run is in progress, or held until a second worker has
started one."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from bench.digits import BACKEND as DIGITS
from torch_rdrop.bench.engine.spec import EpochCallback, TrialBackend, TrialResult, TrialSpec


def _slow(spec: TrialSpec, on_epoch: EpochCallback | None = None) -> TrialResult:
    def pause(epoch: int, value: float, values: Mapping[str, float]) -> None:
        time.sleep(0.4)
        if on_epoch is not None:
            on_epoch(epoch, value, values)

    return DIGITS.run(spec, pause)


SLOW = TrialBackend("digits", DIGITS.tasks, DIGITS.methods, _slow)
"""The digits backend with 0.4 s per epoch (same name: it runs the same trials)."""

_runs_in_this_process = 0


def _held_from_the_third(spec: TrialSpec, on_epoch: EpochCallback | None = None) -> TrialResult:
    global _runs_in_this_process
    _runs_in_this_process += 1
    deadline = time.monotonic() + 120
    while _runs_in_this_process > 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the test kills the worker here: no race with a fast machine
    return _slow(spec, on_epoch)


HELD = TrialBackend("digits", DIGITS.tasks, DIGITS.methods, _held_from_the_third)
"""The slow digits backend whose third run in a process waits (up to 120 s) to be killed."""

OTHER = TrialBackend("other", DIGITS.tasks, DIGITS.methods, DIGITS.run)
"""The digits trial under another backend name."""


#: Folder where each worker process of the PAIRED backend signs in (an environment variable, so
#: that the worker processes see it).
RENDEZVOUS = "TORCH_RDROP_TEST_RENDEZVOUS"


def _paired(spec: TrialSpec, on_epoch: EpochCallback | None = None) -> TrialResult:
    folder = Path(os.environ[RENDEZVOUS])
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 120
    while len(list(folder.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # hold the first run until the other worker has started one
    return _slow(spec, on_epoch)


PAIRED = TrialBackend("digits", DIGITS.tasks, DIGITS.methods, _paired)
"""The slow digits backend whose first run in a process waits for a second worker's."""
