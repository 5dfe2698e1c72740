"""Schedules for the consistency weight alpha, as a function of the training step.

A schedule is any callable ``step -> alpha``; the two common ones are dataclasses here. Pass one
wherever an ``alpha`` is accepted (:class:`torch_rdrop.RDrop`, the trainer integrations).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch_rdrop._checks import check_alpha

AlphaSchedule = Callable[[int], float]


def _check_steps(name: str, steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {steps!r}")


@dataclass(frozen=True)
class LinearWarmup:
    """Alpha rising linearly from ``start`` to ``alpha`` over ``warmup_steps``, then constant.

    >>> schedule = LinearWarmup(alpha=1.0, warmup_steps=4)
    >>> [schedule(s) for s in (0, 2, 4, 10)]
    [0.0, 0.5, 1.0, 1.0]
    """

    alpha: float
    warmup_steps: int
    start: float = 0.0

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_alpha(self.start)
        _check_steps("warmup_steps", self.warmup_steps)

    def __call__(self, step: int) -> float:
        if self.warmup_steps == 0 or step >= self.warmup_steps:
            return float(self.alpha)
        fraction = max(step, 0) / self.warmup_steps
        return float(self.start + (self.alpha - self.start) * fraction)


@dataclass(frozen=True)
class SigmoidRampup:
    """The Pi-model's ramp-up: ``alpha * exp(-5 * (1 - t)^2)``, ``t = step / rampup_steps`` clipped.

    Laine & Aila (2017) used it for the unsupervised consistency weight; it starts near zero
    (``alpha * e^-5``) and reaches ``alpha`` at ``rampup_steps``.

    >>> schedule = SigmoidRampup(alpha=2.0, rampup_steps=10)
    >>> round(schedule(0), 4), round(schedule(5), 4), schedule(10)
    (0.0135, 0.573, 2.0)
    """

    alpha: float
    rampup_steps: int

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        _check_steps("rampup_steps", self.rampup_steps)

    def __call__(self, step: int) -> float:
        if self.rampup_steps == 0 or step >= self.rampup_steps:
            return float(self.alpha)
        t = max(step, 0) / self.rampup_steps
        return float(self.alpha * math.exp(-5.0 * (1.0 - t) ** 2))


def alpha_at(alpha: float | AlphaSchedule, step: int) -> float:
    """The alpha in force at ``step``: a number as is, a schedule evaluated (and checked).

    >>> alpha_at(0.5, 100), alpha_at(LinearWarmup(1.0, 10), 5)
    (0.5, 0.5)
    """
    value = float(alpha(step)) if callable(alpha) else float(alpha)
    check_alpha(value)
    return value
