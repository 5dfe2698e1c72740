"""``RDrop(model)``: run each training batch through the model several times and add the loss.

In training mode the wrapper duplicates every batch tensor of the call (nested anywhere in the
arguments), runs the passes, splits the outputs back, and returns an :class:`RDropOutput` with the
loss and its parts. In eval mode it is the bare model: one ordinary forward, no overhead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from torch_rdrop._checks import Reduction, check_passes, check_reduction
from torch_rdrop.functional import (
    Divergence,
    consistency,
    consistency_mask_from_target,
    rdrop_loss,
    resolve_divergence,
)
from torch_rdrop.layout import Layout, batch_size_of, check_layout, split_copies, stack_copies
from torch_rdrop.partial import PartialDuplication
from torch_rdrop.schedules import AlphaSchedule, alpha_at

__all__ = ["NoDropoutWarning", "RDrop", "RDropOutput", "default_logits"]

#: Training calls on which the wrapper compares the passes to detect disabled dropout.
IDENTICAL_PASS_CHECKS = 8


class NoDropoutWarning(UserWarning):
    """The dropout passes gave identical outputs: R-Drop's consistency term is a no-op."""


@dataclass
class RDropOutput:
    """What a training call of :class:`RDrop` returns.

    Attributes:
        loss: ``task_loss + alpha * consistency``, ready for ``backward()``.
        task_loss: the task loss averaged over the passes.
        consistency: the divergence between the passes (averaged over pairs for k > 2).
        output: the first pass's model output, of the model's own type.
        logits: the logits of every pass, first pass first.
        alpha: the consistency weight used for this call (after any schedule).
    """

    loss: Tensor
    task_loss: Tensor
    consistency: Tensor
    output: Any
    logits: tuple[Tensor, ...]
    alpha: float


def default_logits(output: Any) -> Tensor:
    """Find the logits in a model output: the tensor itself, ``.logits`` or ``["logits"]``.

    >>> default_logits({"logits": torch.ones(2, 3), "hidden": torch.zeros(2, 8)}).shape
    torch.Size([2, 3])
    """
    if isinstance(output, Tensor):
        return output
    logits = getattr(output, "logits", None)
    if logits is None and isinstance(output, Mapping):
        logits = output.get("logits")
    if isinstance(logits, Tensor):
        return logits
    raise ValueError(
        f"cannot find the logits in a model output of type {type(output).__name__}: "
        "pass logits_fn=, a function from the model output to the logits tensor"
    )


def _model_loss(output: Any) -> Tensor | None:
    loss = getattr(output, "loss", None)
    if loss is None and isinstance(output, Mapping):
        loss = output.get("loss")
    return loss if isinstance(loss, Tensor) else None


class RDrop(nn.Module):
    """Wrap a model so that a training call returns the R-Drop loss.

    Args:
        model: any module; its outputs may be a tensor or any nesting holding the logits.
        alpha: consistency weight, or a schedule ``step -> alpha`` (:mod:`torch_rdrop.schedules`).
        loss_fn: task loss ``f(logits, target)``; if None, cross-entropy when a ``target`` is
            given, else the model's own ``.loss`` (Hugging Face models given ``labels=``).
        logits_fn: picks the logits from the model output (default :func:`default_logits`).
        layout: ``"concat"`` (one forward of ``cat([x, x])``), ``"interleave"`` or
            ``"sequential"`` (separate forwards); see :mod:`torch_rdrop.layout`.
        passes: number of dropout passes ``k >= 2``; the consistency is averaged over pairs.
        divergence: ``"kl"``, ``"js"``, ``"mse"``, ``"multilabel"`` (per-label KL of sigmoid
            outputs) or a callable with the divergences' signature.
        reduction: reduction of the consistency term (:mod:`torch_rdrop.functional`).
        ignore_index: target value for padding (token targets) or unlabelled examples.
        detach: pull the other passes toward a stop-gradient first pass.
        chunk_size: rows per chunk of the memory-efficient KL (None: automatic).
        duplicate_from: name of a submodule (``"encoder.layer.4"``) from which on the batch is
            duplicated; the modules before it run once and share their dropout (the cheap mode,
            :mod:`torch_rdrop.partial`). ``labels=`` are then taken as the target instead of
            being passed to the model.

    A training call ``rd(*args, target=None, mask=None, **kwargs)`` passes ``args`` and
    ``kwargs`` to the model, with every tensor whose first dimension is the batch size duplicated.
    ``target`` and ``mask`` (True = keep in the consistency term) are not passed to the model.

    >>> torch.manual_seed(0) and None
    >>> net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    >>> rd = RDrop(net, alpha=1.0)
    >>> out = rd(torch.randn(8, 4), target=torch.randint(0, 3, (8,)))
    >>> out.output.shape, bool(out.consistency > 0)
    (torch.Size([8, 3]), True)
    >>> out.loss.backward()
    >>> rd.eval()(torch.randn(2, 4)).shape  # eval: the bare model
    torch.Size([2, 3])
    """

    def __init__(
        self,
        model: nn.Module,
        alpha: float | AlphaSchedule = 1.0,
        loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
        logits_fn: Callable[[Any], Tensor] | None = None,
        layout: Layout = "concat",
        passes: int = 2,
        divergence: Divergence | Callable[..., Tensor] = "kl",
        reduction: Reduction = "batchmean",
        ignore_index: int = -100,
        detach: bool = False,
        chunk_size: int | None = None,
        duplicate_from: str | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        alpha_at(alpha, 0)
        resolve_divergence(divergence)
        check_layout(layout)
        check_passes(passes)
        check_reduction(reduction)
        if reduction == "none":
            raise ValueError("reduction 'none' does not give a scalar loss; use the functional API")
        if duplicate_from is not None and layout == "sequential":
            raise ValueError(
                "duplicate_from needs layout 'concat' or 'interleave', got 'sequential'"
            )
        self.model = model
        self.duplicate_from = duplicate_from
        self._partial = PartialDuplication(model, duplicate_from) if duplicate_from else None
        self.alpha = alpha
        self.loss_fn = loss_fn
        self.logits_fn = logits_fn or default_logits
        self.layout = layout
        self.passes = passes
        self.divergence = divergence
        self.reduction = reduction
        self.ignore_index = ignore_index
        self.detach = detach
        self.chunk_size = chunk_size
        self.step = 0
        self._checks_left = IDENTICAL_PASS_CHECKS
        self._warned = False
        self._identity_check_paused = False

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "model":
                raise
            return getattr(super().__getattr__("model"), name)

    def set_step(self, step: int) -> None:
        """Set the step the alpha schedule is evaluated at (integrations pass the global step)."""
        self.step = int(step)

    def pause_identity_check(self, paused: bool = True) -> None:
        """Leave the next training calls out of the identical-passes check while ``paused``.

        For passes that are identical by construction though dropout is active: a LoRA adapter
        whose B matrix is still zero hides its own dropout until its first update.
        """
        self._identity_check_paused = bool(paused)

    def run_passes(self, *args: Any, **kwargs: Any) -> list[Any]:
        """Run the model ``passes`` times on the same batch; return each pass's output."""
        if self.layout == "sequential":
            return [self.model(*args, **kwargs) for _ in range(self.passes)]
        batch = batch_size_of((args, kwargs))
        if self._partial is not None:
            with self._partial.duplicating(batch, self.passes, self.layout):
                stacked = self.model(*args, **kwargs)
            return split_copies(stacked, batch, self.passes, self.layout)
        stacked_args, stacked_kwargs = stack_copies((args, kwargs), batch, self.passes, self.layout)
        stacked = self.model(*stacked_args, **stacked_kwargs)
        return split_copies(stacked, batch, self.passes, self.layout)

    def forward(
        self, *args: Any, target: Tensor | None = None, mask: Tensor | None = None, **kwargs: Any
    ) -> RDropOutput | Any:
        if not self.training:
            return self.model(*args, **kwargs)
        if self._partial is not None and target is None and self.loss_fn is None:
            target = kwargs.pop("labels", None)
        outputs = self.run_passes(*args, **kwargs)
        logits = tuple(self.logits_fn(out) for out in outputs)
        self._warn_if_identical(logits)
        alpha = alpha_at(self.alpha, self.step)
        self.step += 1
        model_losses = [_model_loss(out) for out in outputs]
        if target is None and self.loss_fn is None and model_losses[0] is not None:
            labels = kwargs.get("labels")
            if mask is None and isinstance(labels, Tensor) and labels.shape == logits[0].shape[:-1]:
                mask = consistency_mask_from_target(labels, self.ignore_index)
            task = torch.stack([loss.float() for loss in model_losses]).mean()
            term = consistency(
                logits, self.divergence, mask, self.reduction, self.detach, self.chunk_size
            )
            loss = task + alpha * term
        else:
            loss, task, term = rdrop_loss(
                logits,
                target,
                alpha,
                task_loss=self.loss_fn,
                divergence=self.divergence,
                mask=mask,
                reduction=self.reduction,
                ignore_index=self.ignore_index,
                detach=self.detach,
                chunk_size=self.chunk_size,
            )
        return RDropOutput(loss, task, term, outputs[0], logits, alpha)

    def _warn_if_identical(self, logits: Sequence[Tensor]) -> None:
        if self._warned or self._checks_left <= 0 or torch.compiler.is_compiling():
            return
        if self._identity_check_paused:
            return
        self._checks_left -= 1
        if not torch.equal(logits[0], logits[1]):
            return
        self._warned = True
        warnings.warn(
            "RDrop: the dropout passes gave identical outputs, so the consistency term is 0 and "
            "R-Drop does nothing. Likely causes: the model is in eval mode, its dropout "
            "probabilities are 0, a trainer disabled dropout (e.g. TRL's disable_dropout=True), "
            "or the RNG is re-seeded between the passes.",
            NoDropoutWarning,
            stacklevel=3,
        )
