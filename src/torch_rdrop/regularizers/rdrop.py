"""R-Drop behind the common interface: the core :class:`torch_rdrop.RDrop` wrapper, unchanged.

``loss = mean task loss of the dropout passes + alpha * consistency`` (Liang et al., 2021). The
parts are ``"task"`` and ``"consistency"`` (already multiplied by alpha, so they sum to the loss);
``details`` holds the raw ``"divergence"``, the ``"alpha"`` used and the passes' ``"logits"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from torch_rdrop._checks import Reduction, check_alpha, check_passes, check_reduction
from torch_rdrop.functional import DIVERGENCES, Divergence, resolve_divergence
from torch_rdrop.layout import Layout, check_layout
from torch_rdrop.regularizers.base import (
    Batch,
    LogitsFn,
    Regularizer,
    RegularizerOutput,
    TaskLoss,
    split_target,
)
from torch_rdrop.schedules import AlphaSchedule
from torch_rdrop.wrapper import RDrop

__all__ = ["RDropConfig", "RDropRegularizer"]


@dataclass(frozen=True)
class RDropConfig:
    """Hyper-parameters of R-Drop (the arguments of :class:`torch_rdrop.RDrop`).

    ``alpha`` 1.0 is the library's default; the paper tunes it per task (0.1 to 1.0 for GLUE
    with BERT, 1.0 for language modelling, 5 for translation), each under its code's own
    reduction. ``reduction="batchmean"`` makes alpha independent of batch size and length.
    """

    alpha: float | AlphaSchedule = 1.0
    passes: int = 2
    layout: Layout = "concat"
    divergence: Divergence = "kl"
    reduction: Reduction = "batchmean"
    detach: bool = False
    #: The cheap mode: duplicate the batch only from this submodule on (:mod:`torch_rdrop.partial`).
    duplicate_from: str | None = None

    def __post_init__(self) -> None:
        if not callable(self.alpha):
            check_alpha(self.alpha)
        check_passes(self.passes)
        check_layout(self.layout)
        check_reduction(self.reduction)
        if self.reduction == "none":
            raise ValueError("reduction 'none' does not give a scalar loss; choose another")
        if not isinstance(self.divergence, str):
            raise ValueError(
                f"divergence must be the name of one of {tuple(DIVERGENCES)} in a config, "
                f"got {self.divergence!r}"
            )
        resolve_divergence(self.divergence)


class RDropRegularizer(Regularizer):
    """R-Drop through the core wrapper; ``target=None`` gives the consistency term alone.

    >>> import torch
    >>> net = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.3), nn.Linear(16, 3))
    >>> out = RDropRegularizer(RDropConfig(alpha=0.5)).training_loss(
    ...     net, torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]))
    >>> sorted(out.parts), bool(torch.isclose(out.loss, sum(out.parts.values())))
    (['consistency', 'task'], True)
    """

    name = "rdrop"

    def __init__(
        self, config: RDropConfig | None = None, *, logits_fn: LogitsFn | None = None
    ) -> None:
        super().__init__(logits_fn)
        self.config = config or RDropConfig()
        self._wrapper: RDrop | None = None

    def wrapper(self, model: nn.Module) -> RDrop:
        """The core wrapper around ``model`` (built once per model)."""
        if self._wrapper is None or self._wrapper.model is not model:
            c = self.config
            self._wrapper = RDrop(
                model,
                alpha=c.alpha,
                logits_fn=self.logits_fn,
                layout=c.layout,
                passes=c.passes,
                divergence=c.divergence,
                reduction=c.reduction,
                detach=c.detach,
                duplicate_from=c.duplicate_from,
            )
        return self._wrapper

    def training_loss(
        self,
        model: nn.Module,
        batch: Batch,
        target: Tensor | None = None,
        task_loss: TaskLoss | None = None,
    ) -> RegularizerOutput:
        batch, target = split_target(batch, target)
        wrapper = self.wrapper(model)
        wrapper.training = True  # the passes path; the model's own mode is left as it is
        wrapper.loss_fn = task_loss
        wrapper.set_step(self.step)
        args: tuple[Any, ...]
        kwargs: dict[str, Any]
        if isinstance(batch, Mapping):
            args, kwargs = (), dict(batch)
        elif isinstance(batch, (tuple, list)):
            args, kwargs = tuple(batch), {}
        else:
            args, kwargs = (batch,), {}
        out = wrapper(*args, target=target, **kwargs)
        self.step += 1
        weighted = out.alpha * out.consistency
        parts = {"task": out.task_loss.detach(), "consistency": weighted.detach()}
        details = {"alpha": out.alpha, "divergence": out.consistency.detach(), "logits": out.logits}
        return RegularizerOutput(out.loss, parts, out.output, details)
