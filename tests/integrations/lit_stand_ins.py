"""Lightning modules for the tests: the hashed-dropout classifier and a real-dropout probe, and a
``fit`` with settings under which the update is exactly the gradient (plain SGD, no clipping)."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor, nn

from integrations.hashed_dropout import HashedDropoutNet, examples
from torch_rdrop.integrations.lightning import RDropModule


class LitStandIn(RDropModule):
    """R-Drop on the hashed-dropout classifier, batches ``{"x", "uid", "labels"}``."""

    def __init__(self, **settings) -> None:
        super().__init__(**{"alpha": 2.0, **settings})
        self.net = HashedDropoutNet()
        self.validation_calls: list[int] = []

    def forward(self, x: Tensor, uid: Tensor) -> Tensor:
        return self.net(x, uid)

    def validation_step(self, batch, batch_idx) -> None:
        logits = self(batch["x"], batch["uid"])
        self.validation_calls.append(logits.shape[0])
        accuracy = (logits.argmax(-1) == batch["labels"]).float().mean()
        self.log("val/accuracy", accuracy, batch_size=logits.shape[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)


class LitDropoutProbe(LitStandIn):
    """A real ``nn.Dropout`` whose first training mask is kept."""

    def __init__(self, **settings) -> None:
        super().__init__(**settings)
        self.drop = nn.Dropout(0.5)
        self.first_mask: Tensor | None = None

    def forward(self, x: Tensor, uid: Tensor) -> Tensor:
        h = self.drop(torch.tanh(self.net.inp(x)))
        if self.training and self.first_mask is None:
            self.first_mask = (h != 0).detach().clone()
        return self.net.out(h)


def flat_params(module: nn.Module) -> Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def fit(
    module: L.LightningModule,
    root: str,
    batch_size: int,
    accumulate: int = 1,
    steps: int = 2,
    order: list[int] | None = None,
    **trainer_settings,
) -> L.Trainer:
    """Fit ``module`` on 16 fixed examples, in ``order`` if given, for ``steps`` optimizer steps.

    Under DDP, Lightning replaces the sampler by a shuffling ``DistributedSampler`` (seed 0).
    """
    loader = torch.utils.data.DataLoader(examples(), batch_size=batch_size, sampler=order)
    settings = {
        "accelerator": "cpu",
        "devices": 1,
        "max_steps": steps,
        "accumulate_grad_batches": accumulate,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": root,
        "log_every_n_steps": 1,
    }
    settings.update(trainer_settings)
    trainer = L.Trainer(**settings)
    trainer.fit(module, loader)
    return trainer


def ddp_order(world_size: int = 2, per_rank_batch: int = 4, n: int = 16) -> list[int]:
    """The order in which one process must see the examples to get, batch after batch, the union
    of what Lightning's ``DistributedSampler`` gives the ``world_size`` ranks."""
    from torch.utils.data import DistributedSampler

    shards = [
        list(DistributedSampler(range(n), num_replicas=world_size, rank=rank, seed=0))
        for rank in range(world_size)
    ]
    order: list[int] = []
    for start in range(0, len(shards[0]), per_rank_batch):
        for shard in shards:
            order.extend(shard[start : start + per_rank_batch])
    return order


def epoch_metrics(trainer: L.Trainer) -> dict[str, float]:
    """The epoch means of the logged R-Drop parts."""
    names = ("train/loss_epoch", "train/task_loss_epoch", "train/consistency_epoch")
    return {name: float(trainer.callback_metrics[name]) for name in names}
