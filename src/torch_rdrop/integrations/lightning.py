"""R-Drop in Lightning: subclass :class:`RDropModule` instead of ``LightningModule``.

Write ``forward`` (and ``configure_optimizers``) as usual; the training step runs R-Drop on your
``forward``: the batch is doubled, the task loss (:meth:`RDropModule.task_loss`, cross-entropy by
default) is averaged over the passes and ``alpha`` times the consistency between them is added.
``train/loss``, ``train/task_loss`` and ``train/consistency`` are logged with ``self.log``.
Validation, test and prediction steps are yours and see a single ordinary pass.

>>> import torch
>>> from torch_rdrop.integrations.lightning import RDropModule
>>> class Net(RDropModule):
...     def __init__(self):
...         super().__init__(alpha=1.0)
...         self.net = torch.nn.Sequential(
...             torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 3))
...     def forward(self, x):
...         return self.net(x)
...     def configure_optimizers(self):
...         return torch.optim.SGD(self.parameters(), lr=0.1)
>>> out = Net().rdrop_step((torch.randn(8, 4), torch.randint(0, 3, (8,))))
>>> out.output.shape, bool(out.consistency > 0)
(torch.Size([8, 3]), True)

Works unchanged with ``L.Trainer(accelerator="cpu", devices=2, strategy="ddp")``,
``accumulate_grad_batches`` (Lightning divides the step loss by it: equal micro-batches give the
update of the whole batch) and ``precision="bf16-mixed"`` (the consistency is computed in fp32).
In a distributed run ranks ``r > 0`` re-seed torch with ``seed + r`` when training starts, so
each rank draws its own dropout masks (``L.seed_everything`` seeds every rank alike).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from torch_rdrop._checks import Reduction
from torch_rdrop.functional import Divergence, cross_entropy
from torch_rdrop.integrations import require
from torch_rdrop.integrations.distributed import seed_per_rank
from torch_rdrop.layout import Layout
from torch_rdrop.schedules import AlphaSchedule, LinearWarmup
from torch_rdrop.wrapper import RDrop, RDropOutput

L = require("lightning", "lightning")

__all__ = ["RDropModule"]


class RDropModule(L.LightningModule):
    """A ``LightningModule`` whose training step applies R-Drop to ``forward``.

    Args:
        alpha: consistency weight, or a schedule ``step -> alpha`` evaluated at the global step.
        passes: dropout passes per batch (>= 2).
        layout: ``"concat"``, ``"interleave"`` or ``"sequential"`` (see :mod:`torch_rdrop.layout`).
        divergence: ``"kl"``, ``"js"``, ``"mse"`` (regression) or a callable.
        reduction: reduction of the consistency term.
        alpha_warmup_steps: if > 0 (and ``alpha`` a number), alpha rises linearly from 0 over
            that many optimizer steps.
        ignore_index: target value of padding / unlabelled rows.
        seed_ranks: re-seed ranks ``r > 0`` with ``seed + r`` when training starts.
        sync_dist: reduce the logged parts across processes (mean).

    Override :meth:`split_batch` for batches other than ``(inputs, target)`` tuples or mappings
    with ``"labels"``, :meth:`task_loss` for a loss other than cross-entropy, and
    :meth:`consistency_mask` for token tasks whose padding is not marked by ``ignore_index``.
    """

    def __init__(
        self,
        alpha: float | AlphaSchedule = 1.0,
        passes: int = 2,
        layout: Layout = "concat",
        divergence: Divergence | Callable[..., Tensor] = "kl",
        reduction: Reduction = "batchmean",
        alpha_warmup_steps: int = 0,
        ignore_index: int = -100,
        seed_ranks: bool = True,
        sync_dist: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(alpha_warmup_steps, bool) or not isinstance(alpha_warmup_steps, int):
            raise ValueError(f"alpha_warmup_steps must be an integer, got {alpha_warmup_steps!r}")
        if alpha_warmup_steps > 0:
            if callable(alpha):
                raise ValueError("pass either a schedule as alpha or alpha_warmup_steps, not both")
            alpha = LinearWarmup(float(alpha), alpha_warmup_steps)
        # The wrapper holds this module, so it must not be registered as a child of it.
        rdrop = RDrop(
            torch.nn.Identity(),
            alpha=alpha,
            loss_fn=self.task_loss,
            layout=layout,
            passes=passes,
            divergence=divergence,
            reduction=reduction,
            ignore_index=ignore_index,
        )
        object.__setattr__(self, "_rdrop", rdrop)
        self.seed_ranks = seed_ranks
        self.sync_dist = sync_dist

    @property
    def rdrop(self) -> RDrop:
        """The :class:`~torch_rdrop.RDrop` wrapper the training step runs."""
        rdrop = self.__dict__["_rdrop"]
        if rdrop._modules.get("model") is not self:
            rdrop._modules["model"] = self
        return rdrop

    def split_batch(self, batch: Any) -> tuple[tuple[Any, ...], dict[str, Any], Tensor | None]:
        """Split a batch into ``(forward args, forward kwargs, target)``.

        ``(x, y)`` gives ``((x,), {}, y)``; ``(x1, x2, y)`` gives ``((x1, x2), {}, y)``; a mapping
        gives ``((), batch without "labels", batch["labels"])``; a lone tensor has no target.
        """
        if isinstance(batch, Tensor):
            return (batch,), {}, None
        if isinstance(batch, Mapping):
            kwargs = {key: value for key, value in batch.items() if key != "labels"}
            return (), kwargs, batch.get("labels")
        if isinstance(batch, (tuple, list)) and len(batch) >= 2:
            return tuple(batch[:-1]), {}, batch[-1]
        raise ValueError(
            f"cannot split a batch of type {type(batch).__name__} into inputs and target: "
            "override RDropModule.split_batch"
        )

    def task_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Task loss of one pass (default: cross-entropy ignoring ``ignore_index``)."""
        return cross_entropy(logits, target, self.rdrop.ignore_index)

    def consistency_mask(self, batch: Any, target: Tensor | None) -> Tensor | None:
        """Rows kept in the consistency term; None reads them from a token target's padding."""
        return None

    def rdrop_step(self, batch: Any) -> RDropOutput:
        """Run the R-Drop passes on ``batch``: the loss, its parts and the first pass's output."""
        args, kwargs, target = self.split_batch(batch)
        rdrop = self.rdrop
        rdrop.training = True
        trainer = self._trainer
        if trainer is not None:
            rdrop.set_step(trainer.global_step)
        return rdrop(*args, target=target, mask=self.consistency_mask(batch, target), **kwargs)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        """R-Drop loss of the batch, its parts logged under ``train/``."""
        out = self.rdrop_step(batch)
        size = self._batch_size(batch)
        for name, value in (
            ("train/loss", out.loss),
            ("train/task_loss", out.task_loss),
            ("train/consistency", out.consistency),
        ):
            self.log(
                name,
                value.detach(),
                on_step=True,
                on_epoch=True,
                batch_size=size,
                sync_dist=self.sync_dist,
                prog_bar=name == "train/loss",
            )
        self.log("train/rdrop_alpha", out.alpha, on_step=True, on_epoch=False, batch_size=size)
        return out.loss

    def on_train_start(self) -> None:
        """Give each rank its own dropout masks (``seed + rank`` on ranks > 0)."""
        if self.seed_ranks and self.trainer.world_size > 1 and self.global_rank > 0:
            seed_per_rank(torch.initial_seed() % 2**62, self.global_rank)

    def _batch_size(self, batch: Any) -> int:
        args, kwargs, _ = self.split_batch(batch)
        for value in (*args, *kwargs.values()):
            if isinstance(value, Tensor) and value.dim() > 0:
                return int(value.shape[0])
        return 1
