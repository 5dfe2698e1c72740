"""``RDropLoss``: the R-Drop loss as a module, for training loops that run the passes themselves."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from torch_rdrop._checks import Reduction, check_alpha, check_reduction
from torch_rdrop.functional import Divergence, RDropLossResult, rdrop_loss, resolve_divergence
from torch_rdrop.schedules import AlphaSchedule, alpha_at

__all__ = ["RDropLoss"]


class RDropLoss(nn.Module):
    """Module form of :func:`torch_rdrop.functional.rdrop_loss`.

    Call it with the logits of two (or more) dropout passes and the target; it returns an
    :class:`~torch_rdrop.functional.RDropLossResult` (``loss``, ``task_loss``, ``consistency``).
    ``alpha`` may be a schedule; pass ``step=`` to evaluate it.

    >>> import torch
    >>> criterion = RDropLoss(alpha=0.5)
    >>> logits1, logits2 = torch.randn(4, 3), torch.randn(4, 3)
    >>> result = criterion(logits1, logits2, target=torch.tensor([0, 2, 1, 1]))
    >>> sorted(result._fields)
    ['consistency', 'loss', 'task_loss']
    """

    def __init__(
        self,
        alpha: float | AlphaSchedule = 1.0,
        divergence: Divergence | Callable[..., Tensor] = "kl",
        reduction: Reduction = "batchmean",
        ignore_index: int = -100,
        task_loss: Callable[[Tensor, Tensor], Tensor] | None = None,
        detach: bool = False,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        if not callable(alpha):
            check_alpha(alpha)
        check_reduction(reduction)
        resolve_divergence(divergence)
        self.alpha = alpha
        self.divergence = divergence
        self.reduction = reduction
        self.ignore_index = ignore_index
        self.task_loss = task_loss
        self.detach = detach
        self.chunk_size = chunk_size

    def forward(
        self,
        *logits: Tensor | Sequence[Tensor],
        target: Tensor | None = None,
        mask: Tensor | None = None,
        step: int = 0,
    ) -> RDropLossResult:
        outputs = (
            list(logits[0])
            if len(logits) == 1 and not isinstance(logits[0], Tensor)
            else list(logits)
        )
        return rdrop_loss(
            outputs,
            target,
            alpha_at(self.alpha, step),
            task_loss=self.task_loss,
            divergence=self.divergence,
            mask=mask,
            reduction=self.reduction,
            ignore_index=self.ignore_index,
            detach=self.detach,
            chunk_size=self.chunk_size,
        )
