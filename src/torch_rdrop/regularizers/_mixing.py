"""Shared pieces of MixUp and Manifold MixUp: the draw, the convex combination, the mixed loss.

A mix pairs example ``i`` with example ``perm[i]`` of the same batch and combines them with weight
``lam`` on ``i``: ``lam * h + (1 - lam) * h[perm]``, the same ``lam`` for inputs (or hidden
states) and targets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_rdrop.regularizers.base import TaskLoss

__all__ = ["Mix", "TargetMixing", "check_beta", "draw_mix", "mixed_task_loss", "union_mask"]

TargetMixing = Literal["soft", "loss"]


def check_beta(alpha: float, name: str = "alpha") -> None:
    """Raise unless ``alpha`` is a finite number > 0 (a Beta(alpha, alpha) parameter)."""
    value = float(alpha)
    if not (value > 0 and value != float("inf")):
        raise ValueError(
            f"{name} must be a finite number > 0 (Beta({name}, {name})), got {alpha!r}"
        )


def check_target_mixing(value: str) -> None:
    """Raise unless ``value`` is ``"soft"`` or ``"loss"``."""
    if value not in ("soft", "loss"):
        raise ValueError(f"mix_targets must be 'soft' or 'loss', got {value!r}")


@dataclass(frozen=True)
class Mix:
    """One draw: weight ``lam`` on each example, partner ``perm[i]`` for example ``i``."""

    lam: float
    perm: Tensor

    def __call__(self, h: Tensor) -> Tensor:
        """``lam * h + (1 - lam) * h[perm]`` along the first dimension.

        >>> Mix(0.25, torch.tensor([1, 0]))(torch.tensor([[0.0], [4.0]])).flatten().tolist()
        [3.0, 1.0]
        """
        if h.shape[0] != self.perm.shape[0]:
            raise ValueError(
                f"cannot mix a tensor of shape {tuple(h.shape)}: its first dimension must be the "
                f"batch size {self.perm.shape[0]}"
            )
        return self.lam * h + (1.0 - self.lam) * h[self.perm.to(h.device)]


def draw_mix(alpha: float, batch_size: int, max_lambda: bool = False) -> Mix:
    """Draw ``lam ~ Beta(alpha, alpha)`` (``max(lam, 1 - lam)`` if ``max_lambda``) and a pairing.

    >>> torch.manual_seed(0) and None
    >>> mix = draw_mix(16.0, 4, max_lambda=True)
    >>> 0.5 <= mix.lam <= 1.0, sorted(mix.perm.tolist())
    (True, [0, 1, 2, 3])
    """
    check_beta(alpha)
    concentration = torch.tensor(float(alpha))
    lam = float(torch.distributions.Beta(concentration, concentration).sample())
    if max_lambda:
        lam = max(lam, 1.0 - lam)
    return Mix(lam, torch.randperm(batch_size))


def soft_target(target: Tensor, num_classes: int, ignore_index: int = -100) -> Tensor:
    """A target as a distribution over classes: one-hot for indices, unchanged if floating.

    >>> soft_target(torch.tensor([2, 0]), 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    if target.is_floating_point():
        return target
    if bool((target == ignore_index).any()) or bool(((target < 0) | (target >= num_classes)).any()):
        raise ValueError(
            f"target holds ignored or out-of-range class indices (valid: [0, {num_classes})), "
            "which have no soft form; use mix_targets='loss' to mix the two task losses instead"
        )
    return F.one_hot(target, num_classes).float()


def mixed_task_loss(
    logits: Tensor, target: Tensor, mix: Mix, task_loss: TaskLoss, mode: TargetMixing
) -> tuple[Tensor, Tensor | None]:
    """The task loss of a mixed pass and, with ``mode="soft"``, the mixed target it used.

    ``"soft"``: ``task_loss(logits, mix(soft_target))`` — the mixed target itself (class indices
    become one-hot; floating targets are mixed as they are). ``"loss"``:
    ``lam * task_loss(logits, y) + (1 - lam) * task_loss(logits, y[perm])`` — the same value for
    cross-entropy, and the form for losses that only take class indices.

    >>> mix = Mix(0.75, torch.tensor([1, 0]))
    >>> spy = lambda logits, target: target.sum()
    >>> loss, y = mixed_task_loss(torch.zeros(2, 2), torch.tensor([0, 1]), mix, spy, "soft")
    >>> y.tolist()
    [[0.75, 0.25], [0.25, 0.75]]
    """
    check_target_mixing(mode)
    if mode == "loss":
        partner = target[mix.perm.to(target.device)]
        loss = mix.lam * task_loss(logits, target) + (1.0 - mix.lam) * task_loss(logits, partner)
        return loss, None
    mixed = mix(soft_target(target, logits.shape[-1]).to(logits.device))
    return task_loss(logits, mixed), mixed


def union_mask(batch: Any, mix: Mix) -> Any:
    """A mapping batch whose ``attention_mask`` covers the tokens of both mixed examples.

    >>> swap = Mix(0.5, torch.tensor([1, 0]))
    >>> b = union_mask({"attention_mask": torch.tensor([[1, 0], [1, 1]])}, swap)
    >>> b["attention_mask"].tolist()
    [[1, 1], [1, 1]]
    """
    if not isinstance(batch, Mapping) or not isinstance(batch.get("attention_mask"), Tensor):
        return batch
    mask = batch["attention_mask"]
    return {**batch, "attention_mask": torch.maximum(mask, mask[mix.perm.to(mask.device)])}
