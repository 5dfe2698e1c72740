"""Argument checks shared by the functional core and the modules.

Every check raises ``ValueError`` naming the argument and the shapes or values it saw, so a
mistake reads as a sentence rather than as a broadcasting accident deep in the loss.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

Reduction = Literal["batchmean", "sum", "mean", "none"]
REDUCTIONS: tuple[str, ...] = get_args(Reduction)


def check_reduction(reduction: str) -> None:
    """Raise unless ``reduction`` is one of :data:`REDUCTIONS`."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def check_pair(
    logits_a: Tensor, logits_b: Tensor, name_a: str = "logits_a", name_b: str = "logits_b"
) -> None:
    """Raise unless the two pass outputs are floating tensors of exactly the same shape.

    Shapes that would broadcast (``[8, 5]`` against ``[1, 5]``) are refused too: the two passes of
    R-Drop always see the same batch.
    """
    for name, tensor in ((name_a, logits_a), (name_b, logits_b)):
        if not isinstance(tensor, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
        if not tensor.is_floating_point():
            raise ValueError(f"{name} must be a floating tensor, got dtype {tensor.dtype}")
        if tensor.dim() == 0:
            raise ValueError(f"{name} must have at least one dimension, got a scalar")
    if logits_a.shape != logits_b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape (the same batch seen twice), "
            f"got {tuple(logits_a.shape)} and {tuple(logits_b.shape)}"
        )


def check_mask(mask: Tensor | None, logits: Tensor) -> None:
    """Raise unless ``mask`` is None or a boolean tensor over the leading dims of ``logits``."""
    if mask is None:
        return
    if not isinstance(mask, Tensor):
        raise ValueError(f"mask must be a boolean torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise ValueError(
            f"mask must be boolean (True = keep), got dtype {mask.dtype}; "
            "use `attention_mask.bool()` or `labels != -100`"
        )
    expected = tuple(logits.shape[:-1])
    if tuple(mask.shape) != expected:
        raise ValueError(
            f"mask must have the leading shape of the logits {expected} "
            f"(logits {tuple(logits.shape)}), got {tuple(mask.shape)}"
        )


def check_alpha(alpha: float) -> None:
    """Raise unless ``alpha`` is a finite number >= 0."""
    value = float(alpha)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")


def check_passes(passes: int) -> None:
    """Raise unless ``passes`` is an integer >= 2."""
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 2:
        raise ValueError(f"passes must be an integer >= 2 (R-Drop compares passes), got {passes!r}")


def check_finite(value: Tensor, **inputs: Tensor) -> None:
    """Raise if ``value`` is not finite, naming which of ``inputs`` holds NaN or inf.

    Skipped under ``torch.compile`` tracing, where data-dependent checks would break the graph.
    """
    if torch.compiler.is_compiling() or bool(torch.isfinite(value).all()):
        return
    bad = [name for name, t in inputs.items() if not bool(torch.isfinite(t).all())]
    where = ", ".join(bad) if bad else "none of the inputs (overflow inside the computation)"
    raise ValueError(f"consistency term is not finite; NaN or inf found in: {where}")


def check_targets(target: Tensor, num_classes: int, ignore_index: int) -> None:
    """Raise unless every class index in ``target`` is in ``[0, num_classes)`` or ignored."""
    if torch.compiler.is_compiling() or target.is_floating_point() or target.numel() == 0:
        return
    valid = ((target >= 0) & (target < num_classes)) | (target == ignore_index)
    if not bool(valid.all()):
        bad = target[~valid]
        raise ValueError(
            f"target holds class indices outside [0, {num_classes}) that are not ignore_index "
            f"({ignore_index}): min {int(bad.min())}, max {int(bad.max())}, "
            f"{bad.numel()} of {target.numel()} entries"
        )
