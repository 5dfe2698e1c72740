"""Manifold MixUp: mix the hidden states at a layer drawn at random, by a forward hook.

Layer ``k`` means "the hidden state after ``k`` blocks": ``k = 0`` is the input (the floating
input, or the output of the embedding module for token inputs) and ``k = n`` the output of the
last block. The blocks are found by :func:`~torch_rdrop.regularizers._sites.find_blocks` —
Hugging Face encoder layers, recurrent layers or ``nn.Sequential`` children — or named by the
user (``modules``). Each step draws ``k`` uniformly from ``layers`` (default: every ``k`` from 0
to ``n``, Verma et al., 2019, whose eligible set includes the input), ``lam ~ Beta(alpha, alpha)``,
mixes the block's output (the first element of a tuple output, as for ``nn.LSTM`` and Hugging
Face layers) and the targets with the same ``lam``. Blocks other than ``k`` are untouched; a
mapping batch's ``attention_mask`` becomes the union of the pair's masks.

TMix (Chen et al., 2020) is :meth:`ManifoldMixupConfig.tmix`: layers {7, 9, 12} of a 12-layer
BERT encoder, ``alpha = 16`` and ``lam = max(lam, 1 - lam)``.

``details`` holds ``"layer"`` (the ``k`` drawn), ``"module"`` (its name), ``"lam"``, ``"perm"``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
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
    find_blocks,
    find_embedding,
    has_batch_input,
    replace_floating_inputs,
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

__all__ = ["ManifoldMixup", "ManifoldMixupConfig"]

INPUT = "<input>"


@dataclass(frozen=True)
class ManifoldMixupConfig:
    """Hyper-parameters of Manifold MixUp.

    Attributes:
        alpha: Beta(alpha, alpha) parameter, > 0; 2.0 as in Verma et al. (2019).
        layers: the eligible ``k`` (0 = input, ``n`` = last block); None = all of ``0..n``.
        modules: names of the blocks (in order); None = found automatically.
        max_lambda: use ``max(lam, 1 - lam)`` (TMix), keeping each example dominant.
        embedding: name of the embedding module used for ``k = 0`` with token inputs.
        mix_targets: ``"soft"`` or ``"loss"`` (see :class:`~torch_rdrop.regularizers.MixupConfig`).
    """

    alpha: float = 2.0
    layers: tuple[int, ...] | None = None
    modules: tuple[str, ...] | None = None
    max_lambda: bool = False
    embedding: str | None = None
    mix_targets: TargetMixing = "soft"

    def __post_init__(self) -> None:
        check_beta(self.alpha)
        check_target_mixing(self.mix_targets)
        valid = self.layers is None or (
            len(self.layers) > 0
            and all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in self.layers)
        )
        if not valid:
            raise ValueError(
                f"layers must be None or a non-empty tuple of integers >= 0 (0 = input, k = "
                f"after the k-th block), got {self.layers!r}"
            )
        if self.modules is not None and (
            not self.modules or not all(isinstance(m, str) and m for m in self.modules)
        ):
            raise ValueError(
                f"modules must be None or a tuple of module names, got {self.modules!r}"
            )

    @classmethod
    def tmix(cls, **overrides: Any) -> ManifoldMixupConfig:
        """TMix's setting (Chen et al., 2020): layers {7, 9, 12}, Beta(16, 16), max(lam, 1-lam).

        >>> ManifoldMixupConfig.tmix().layers
        (7, 9, 12)
        """
        return replace(cls(alpha=16.0, layers=(7, 9, 12), max_lambda=True), **overrides)


class ManifoldMixup(Regularizer):
    """Manifold MixUp (and TMix) behind the common interface.

    >>> net = nn.Sequential(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), nn.Linear(8, 3))
    >>> out = ManifoldMixup(ManifoldMixupConfig(layers=(1,))).training_loss(
    ...     net, torch.randn(6, 4), torch.tensor([0, 1, 2] * 2))
    >>> out.details["layer"], out.details["module"]
    (1, '0')
    """

    name = "manifold_mixup"

    def __init__(
        self, config: ManifoldMixupConfig | None = None, *, logits_fn: LogitsFn | None = None
    ) -> None:
        super().__init__(logits_fn)
        self.config = config or ManifoldMixupConfig()

    def eligible(self, model: nn.Module) -> tuple[list[tuple[str, nn.Module]], tuple[int, ...]]:
        """The model's blocks and the eligible layers ``k``, checked against each other."""
        blocks = find_blocks(model, self.config.modules)
        n = len(blocks)
        layers = self.config.layers if self.config.layers is not None else tuple(range(n + 1))
        bad = [k for k in layers if k > n]
        if bad:
            raise ValueError(
                f"layers {bad} are out of range: {type(model).__name__} has {n} blocks "
                f"({[name for name, _ in blocks]}), so layers must be in 0..{n}"
            )
        return blocks, layers

    def training_loss(
        self,
        model: nn.Module,
        batch: Batch,
        target: Tensor | None = None,
        task_loss: TaskLoss | None = None,
    ) -> RegularizerOutput:
        batch, target = split_target(batch, target)
        target = require_target(target, self.name)
        blocks, layers = self.eligible(model)
        k = layers[int(torch.randint(len(layers), ()))]
        mix = draw_mix(self.config.alpha, batch_size_of(batch), self.config.max_lambda)
        mixed_batch = union_mask(batch, mix)
        if k == 0 and has_batch_input(batch):
            module_name = INPUT
            output = call_model(model, replace_floating_inputs(mixed_batch, mix))
        else:
            if k == 0:
                site = find_embedding(model, self.config.embedding)
                if site is None:
                    raise ValueError(
                        f"layer 0 (the input) needs a floating input or an embedding module, and "
                        f"{type(model).__name__} has neither: drop 0 from layers or pass embedding="
                    )
                module_name = self.config.embedding or "<embedding>"
            else:
                module_name, site = blocks[k - 1]
            with rewrite_output(site, _once(mix)) as calls:
                output = call_model(model, mixed_batch)
            if calls[0] == 0:
                raise ValueError(f"layer {k} ({module_name}) was not called by the forward pass")
        loss, mixed = mixed_task_loss(
            self.logits_fn(output), target, mix, self.task(task_loss), self.config.mix_targets
        )
        details = {"layer": k, "module": module_name, "lam": mix.lam, "perm": mix.perm}
        details["target"] = mixed
        return RegularizerOutput(loss, {"task": loss.detach()}, output, details)


def _once(fn: Any) -> Any:
    """``fn`` on the first call, identity afterwards (a block reused in one forward mixes once)."""
    done = [False]

    def apply(h: Tensor) -> Tensor:
        if done[0]:
            return h
        done[0] = True
        return fn(h)

    return apply
