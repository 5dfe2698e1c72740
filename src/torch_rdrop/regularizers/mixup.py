"""MixUp: train on convex combinations of pairs of examples and of their targets.

``lam ~ Beta(alpha, alpha)``; example ``i`` is mixed with example ``perm[i]`` of the same batch.
Where the mix happens (``level``):

- ``"input"``: the floating model inputs (images, features) — Zhang et al., 2018.
- ``"embeddings"``: the output of the input embedding module, for token inputs (wordMixup,
  Guo et al., 2019); a batch's ``attention_mask`` becomes the union of the pair's masks.
- ``"pooled"``: the input of the classification head (senMixup, Guo et al., 2019): the last
  ``nn.Linear`` of the model, or the module named by ``head``.
- ``"auto"``: ``"input"`` if the batch has a floating input, else ``"embeddings"``.

``details`` holds ``"lam"``, ``"perm"``, ``"level"`` and (``mix_targets="soft"``) the
``"target"`` the loss was computed against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from torch_rdrop.layout import batch_size_of
from torch_rdrop.regularizers._mixing import (
    TargetMixing,
    check_beta,
    check_target_mixing,
    draw_mix,
    mixed_task_loss,
    union_mask,
)
from torch_rdrop.regularizers._sites import (
    find_embedding,
    find_head,
    has_batch_input,
    replace_floating_inputs,
    rewrite_input,
    rewrite_output,
)
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

__all__ = ["Mixup", "MixupConfig"]

MixupLevel = Literal["auto", "input", "embeddings", "pooled"]
LEVELS = ("auto", "input", "embeddings", "pooled")


@dataclass(frozen=True)
class MixupConfig:
    """Hyper-parameters of MixUp.

    Attributes:
        alpha: Beta(alpha, alpha) parameter, > 0; 1.0 (uniform lambda) as in Zhang et al.
            (2018) for CIFAR; they use 0.1 to 0.4 on ImageNet.
        level: where to mix (module docstring).
        embedding: name of the embedding module for ``"embeddings"`` (default: found).
        head: name of the head whose input is mixed for ``"pooled"`` (default: last Linear).
        mix_targets: ``"soft"`` mixes the targets themselves (one-hot for class indices);
            ``"loss"`` mixes the two task losses (for losses that need class indices, or
            targets with ignored entries).
    """

    alpha: float = 1.0
    level: MixupLevel = "auto"
    embedding: str | None = None
    head: str | None = None
    mix_targets: TargetMixing = "soft"

    def __post_init__(self) -> None:
        check_beta(self.alpha)
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")
        check_target_mixing(self.mix_targets)


class Mixup(Regularizer):
    """MixUp at the input, the embeddings or the pooled representation.

    >>> import torch
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> y = torch.tensor([0, 1, 2] * 2)
    >>> out = Mixup(MixupConfig(alpha=0.4)).training_loss(net, torch.randn(6, 4), y)
    >>> out.details["level"], out.details["target"].sum(-1).tolist()
    ('input', [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    """

    name = "mixup"

    def __init__(
        self, config: MixupConfig | None = None, *, logits_fn: LogitsFn | None = None
    ) -> None:
        super().__init__(logits_fn)
        self.config = config or MixupConfig()

    def level(self, model: nn.Module, batch: Batch) -> str:
        """The level that ``"auto"`` resolves to for this model and batch."""
        if self.config.level != "auto":
            return self.config.level
        if has_batch_input(batch):
            return "input"
        if find_embedding(model, self.config.embedding) is not None:
            return "embeddings"
        raise ValueError(
            f"level='auto' found neither a floating input nor an embedding module in "
            f"{type(model).__name__}: pass level='pooled' or embedding="
        )

    def training_loss(
        self,
        model: nn.Module,
        batch: Batch,
        target: Tensor | None = None,
        task_loss: TaskLoss | None = None,
    ) -> RegularizerOutput:
        batch, target = split_target(batch, target)
        target = require_target(target, self.name)
        level = self.level(model, batch)
        mix = draw_mix(self.config.alpha, batch_size_of(batch))
        if level == "input":
            if not has_batch_input(batch):
                raise ValueError("level='input' needs a floating model input (images, features)")
            output = call_model(model, replace_floating_inputs(batch, mix))
        elif level == "embeddings":
            embedding = find_embedding(model, self.config.embedding)
            if embedding is None:
                raise ValueError(
                    f"level='embeddings' needs an embedding module, and {type(model).__name__} "
                    "has none (no get_input_embeddings(), no nn.Embedding): pass embedding="
                )
            with rewrite_output(embedding, mix):
                output = call_model(model, union_mask(batch, mix))
        else:
            with rewrite_input(find_head(model, self.config.head), mix):
                output = call_model(model, batch)
        loss, mixed = mixed_task_loss(
            self.logits_fn(output), target, mix, self.task(task_loss), self.config.mix_targets
        )
        details = {"lam": mix.lam, "perm": mix.perm, "level": level, "target": mixed}
        return RegularizerOutput(loss, {"task": loss.detach()}, output, details)
