"""The ``none`` baseline: one ordinary forward and the task loss, nothing added."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from torch_rdrop.regularizers.base import (
    Batch,
    LogitsFn,
    Regularizer,
    RegularizerOutput,
    TaskLoss,
    call_model,
    require_target,
    split_target,
)

__all__ = ["NoRegularization", "NoneConfig"]


@dataclass(frozen=True)
class NoneConfig:
    """The baseline has no hyper-parameter."""


class NoRegularization(Regularizer):
    """Plain training: ``loss = task_loss(model(batch), target)``.

    >>> import torch
    >>> net = nn.Linear(4, 3)
    >>> y = torch.tensor([0, 1, 2, 0, 1])
    >>> out = NoRegularization().training_loss(net, torch.randn(5, 4), y)
    >>> sorted(out.parts), bool(out.loss == out.parts["task"])
    (['task'], True)
    """

    name = "none"

    def __init__(
        self, config: NoneConfig | None = None, *, logits_fn: LogitsFn | None = None
    ) -> None:
        super().__init__(logits_fn)
        self.config = config or NoneConfig()

    def training_loss(
        self,
        model: nn.Module,
        batch: Batch,
        target: Tensor | None = None,
        task_loss: TaskLoss | None = None,
    ) -> RegularizerOutput:
        batch, target = split_target(batch, target)
        target = require_target(target, self.name)
        output = call_model(model, batch)
        loss = self.task(task_loss)(self.logits_fn(output), target)
        return RegularizerOutput(loss, {"task": loss.detach()}, output)
