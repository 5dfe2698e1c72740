"""Trial backends for the engine tests: the real digits trial, slowed down so a worker can be
killed while a run is in progress."""

from __future__ import annotations

import time
from collections.abc import Mapping

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

OTHER = TrialBackend("other", DIGITS.tasks, DIGITS.methods, DIGITS.run)
"""The digits trial under another backend name."""
