"""Alpha schedules and the RDropLoss module."""

from __future__ import annotations

import math

import pytest
import torch

from torch_rdrop import LinearWarmup, RDropLoss, SigmoidRampup, rdrop_loss


def test_linear_warmup_ramps_from_start_to_alpha() -> None:
    schedule = LinearWarmup(alpha=3.0, warmup_steps=3, start=0.6)
    assert [round(schedule(s), 6) for s in (-1, 0, 1, 3, 100)] == [0.6, 0.6, 1.4, 3.0, 3.0]
    assert LinearWarmup(alpha=2.0, warmup_steps=0)(0) == 2.0


def test_sigmoid_rampup_follows_the_pi_model_curve() -> None:
    schedule = SigmoidRampup(alpha=1.5, rampup_steps=80)
    for step in (0, 20, 40, 79):
        expected = 1.5 * math.exp(-5.0 * (1 - step / 80) ** 2)
        assert schedule(step) == pytest.approx(expected)
    assert schedule(80) == schedule(1000) == 1.5
    values = [schedule(s) for s in range(81)]
    assert values == sorted(values)


def test_schedule_values_are_checked() -> None:
    with pytest.raises(ValueError, match="alpha must be"):
        RDropLoss(alpha=lambda step: -1.0)(torch.randn(2, 3), torch.randn(2, 3))


def test_rdrop_loss_module_equals_the_function() -> None:
    a, b = torch.randn(4, 5), torch.randn(4, 5)
    y = torch.randint(0, 5, (4,))
    module = RDropLoss(alpha=0.4, reduction="sum")
    expected = rdrop_loss([a, b], y, alpha=0.4, reduction="sum")
    for got in (module(a, b, target=y), module([a, b], target=y)):
        for g, e in zip(got, expected, strict=True):
            torch.testing.assert_close(g, e)


def test_rdrop_loss_module_evaluates_its_schedule_at_step() -> None:
    a, b = torch.randn(4, 5), torch.randn(4, 5)
    module = RDropLoss(alpha=LinearWarmup(alpha=1.0, warmup_steps=10))
    half = module(a, b, step=5)
    torch.testing.assert_close(half.loss, 0.5 * half.consistency)
