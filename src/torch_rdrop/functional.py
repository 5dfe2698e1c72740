"""Divergences between dropout passes and the R-Drop loss, as plain functions.

All divergences share one signature, ``(logits_a, logits_b, mask=None, reduction="batchmean",
chunk_size=None)``, and work on inputs of any rank: the last dimension holds the classes (or the
regression outputs), every leading dimension indexes a *row* — an example in classification
``[B, C]``, a token in labelling or generation ``[B, T, V]``.

``mask`` is boolean over the leading dims and **True means keep** (PaddleNLP's convention, and
the one of ``attention_mask`` / ``labels != -100``). The official R-Drop snippet's ``pad_mask``
has the opposite polarity (True = padding): pass ``~pad_mask`` to reproduce it.

Reductions (``n`` = number of kept rows, ``V`` = size of the last dim):

========== ============================================ =========================================
reduction  value                                        use
========== ============================================ =========================================
batchmean  sum over kept rows / n  (default)            alpha independent of batch and length
sum        sum over kept rows                           the official snippet exactly
mean       sum over kept rows / (n * V)                 ``F.kl_div(reduction="mean")``'s scaling
none       per-row values, masked rows set to 0         custom weighting
========== ============================================ =========================================

All divergences are computed in float32 (float64 for float64 inputs) from ``log_softmax`` whatever
the input dtype, so bf16 logits and logits of 1e4 give finite, accurate values.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from torch_rdrop._checks import (
    Reduction,
    check_alpha,
    check_finite,
    check_mask,
    check_pair,
    check_reduction,
    check_targets,
)
from torch_rdrop._kl_chunked import (
    CHUNK_ELEMENTS,
    compute_dtype,
    default_chunk_rows,
    symmetric_kl_rows_chunked,
)

__all__ = [
    "DIVERGENCES",
    "RDropLossResult",
    "consistency",
    "consistency_mask_from_target",
    "cross_entropy",
    "js_divergence",
    "mse_consistency",
    "multilabel_symmetric_kl",
    "rdrop_loss",
    "reduce_rows",
    "resolve_divergence",
    "symmetric_kl",
]

Divergence = Literal["kl", "js", "mse", "multilabel"]
RowFn = Callable[[Tensor, Tensor], Tensor]


def reduce_rows(rows: Tensor, mask: Tensor | None, reduction: str, row_size: int) -> Tensor:
    """Apply ``mask`` and ``reduction`` to per-row divergence values of the leading shape.

    An all-False mask gives 0 (with a gradient path), not NaN.

    >>> rows = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> keep = torch.tensor([[True, False], [True, True]])
    >>> reduce_rows(rows, keep, "sum", row_size=5).item()
    8.0
    >>> round(reduce_rows(rows, keep, "batchmean", row_size=5).item(), 4)
    2.6667
    """
    check_reduction(reduction)
    if mask is not None:
        rows = rows.masked_fill(~mask, 0.0)
    if reduction == "none":
        return rows
    total = rows.sum()
    if reduction == "sum":
        return total
    kept = rows.new_tensor(rows.numel()) if mask is None else mask.sum().to(rows.dtype)
    if reduction == "mean":
        kept = kept * row_size
    return total / kept.clamp_min(1)


def _rows_plain_kl(logits_a: Tensor, logits_b: Tensor) -> Tensor:
    ctype = compute_dtype(logits_a.dtype)
    log_p = F.log_softmax(logits_a.to(ctype), dim=-1)
    log_q = F.log_softmax(logits_b.to(ctype), dim=-1)
    return 0.5 * ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(-1)


def _rows_js(logits_a: Tensor, logits_b: Tensor) -> Tensor:
    ctype = compute_dtype(logits_a.dtype)
    log_p = F.log_softmax(logits_a.to(ctype), dim=-1)
    log_q = F.log_softmax(logits_b.to(ctype), dim=-1)
    log_m = torch.logaddexp(log_p, log_q) - torch.log(torch.tensor(2.0, dtype=ctype))
    kl_pm = (log_p.exp() * (log_p - log_m)).sum(-1)
    kl_qm = (log_q.exp() * (log_q - log_m)).sum(-1)
    return 0.5 * (kl_pm + kl_qm)


def _rows_mse(out_a: Tensor, out_b: Tensor) -> Tensor:
    ctype = compute_dtype(out_a.dtype)
    return (out_a.to(ctype) - out_b.to(ctype)).pow(2).sum(-1)


def _rows_checkpointed(row_fn: RowFn, logits_a: Tensor, logits_b: Tensor, chunk: int) -> Tensor:
    """Evaluate ``row_fn`` on row chunks under activation checkpointing (bounded memory)."""
    size = logits_a.shape[-1]
    flat_a, flat_b = logits_a.reshape(-1, size), logits_b.reshape(-1, size)
    parts = [
        checkpoint(row_fn, flat_a[i : i + chunk], flat_b[i : i + chunk], use_reentrant=False)
        for i in range(0, flat_a.shape[0], chunk)
    ]
    return torch.cat(parts).reshape(logits_a.shape[:-1])


def _divergence(
    row_fn: RowFn,
    logits_a: Tensor,
    logits_b: Tensor,
    mask: Tensor | None,
    reduction: str,
    chunk_size: int | None,
) -> Tensor:
    check_pair(logits_a, logits_b)
    check_mask(mask, logits_a)
    check_reduction(reduction)
    if chunk_size is not None and (isinstance(chunk_size, bool) or chunk_size < 1):
        raise ValueError(f"chunk_size must be None or a positive row count, got {chunk_size!r}")
    if row_fn is _rows_plain_kl:
        if chunk_size is None and logits_a.numel() > CHUNK_ELEMENTS:
            chunk_size = default_chunk_rows(logits_a.shape[-1])
        rows = (
            _rows_plain_kl(logits_a, logits_b)
            if chunk_size is None
            else symmetric_kl_rows_chunked(logits_a, logits_b, chunk_size)
        )
    elif chunk_size is not None:
        rows = _rows_checkpointed(row_fn, logits_a, logits_b, chunk_size)
    else:
        rows = row_fn(logits_a, logits_b)
    result = reduce_rows(rows, mask, reduction, logits_a.shape[-1])
    check_finite(result, logits_a=logits_a, logits_b=logits_b)
    return result


def symmetric_kl(
    logits_a: Tensor,
    logits_b: Tensor,
    mask: Tensor | None = None,
    reduction: Reduction = "batchmean",
    chunk_size: int | None = None,
) -> Tensor:
    """Symmetric KL between the softmaxes of two logit tensors: ``(KL(p||q) + KL(q||p)) / 2``.

    ``reduction="sum"`` with ``mask=~pad_mask`` is the official R-Drop ``compute_kl_loss``.
    Logits larger than 65,536 elements go through a chunked autograd.Function with an
    analytic backward (about a third of the memory of autograd through ``F.kl_div``); set
    ``chunk_size`` (rows per chunk) to force it.

    Args:
        logits_a, logits_b: unnormalised scores of the two passes, same shape ``[..., V]``.
        mask: boolean over the leading dims, True = keep the row (module docstring).
        reduction: ``"batchmean"`` (default), ``"sum"``, ``"mean"`` or ``"none"``.
        chunk_size: rows per chunk of the memory-efficient path; None chooses automatically.

    >>> a = torch.tensor([[2.0, 0.0, -1.0]]); b = torch.tensor([[0.0, 1.0, 0.0]])
    >>> round(symmetric_kl(a, b).item(), 4)
    0.9478
    >>> symmetric_kl(a, a).item()
    0.0
    """
    return _divergence(_rows_plain_kl, logits_a, logits_b, mask, reduction, chunk_size)


def js_divergence(
    logits_a: Tensor,
    logits_b: Tensor,
    mask: Tensor | None = None,
    reduction: Reduction = "batchmean",
    chunk_size: int | None = None,
) -> Tensor:
    """Jensen-Shannon divergence between the softmaxes of two logit tensors (bounded by ln 2).

    ``chunk_size`` evaluates the rows in chunks under activation checkpointing.

    >>> a = torch.tensor([[20.0, 0.0]]); b = torch.tensor([[0.0, 20.0]])
    >>> round(js_divergence(a, b).item(), 4)  # ln 2 = 0.6931
    0.6931
    """
    return _divergence(_rows_js, logits_a, logits_b, mask, reduction, chunk_size)


def mse_consistency(
    outputs_a: Tensor,
    outputs_b: Tensor,
    mask: Tensor | None = None,
    reduction: Reduction = "batchmean",
    chunk_size: int | None = None,
) -> Tensor:
    """Squared difference of two raw outputs, summed over the last dim (regression heads).

    R-Drop's paper used it for STS-B. A 1-D output ``[B]`` is treated as ``[B, 1]``.

    >>> mse_consistency(torch.tensor([1.0, 2.0]), torch.tensor([1.5, 2.0])).item()
    0.125
    """
    if isinstance(outputs_a, Tensor) and isinstance(outputs_b, Tensor) and outputs_a.dim() == 1:
        outputs_a, outputs_b = outputs_a.unsqueeze(-1), outputs_b.unsqueeze(-1)
    return _divergence(_rows_mse, outputs_a, outputs_b, mask, reduction, chunk_size)


def multilabel_symmetric_kl(
    logits_a: Tensor,
    logits_b: Tensor,
    mask: Tensor | None = None,
    reduction: Reduction = "batchmean",
    chunk_size: int | None = None,
) -> Tensor:
    """Symmetric KL between independent per-label Bernoullis (sigmoid outputs), halved.

    The consistency for multi-label heads trained with ``BCEWithLogitsLoss``, where a softmax
    across labels would treat them as exclusive. Each label is a row of two classes
    (logits ``0`` and ``x``), so ``batchmean`` averages over examples x labels as the BCE does.
    ``mask`` (True = keep) may cover the examples only or every label.

    >>> a = torch.tensor([[2.0, -1.0]]); b = torch.tensor([[0.0, -1.0]])
    >>> manual = symmetric_kl(torch.tensor([[0.0, 2.0]]), torch.tensor([[0.0, 0.0]])) / 2
    >>> torch.allclose(multilabel_symmetric_kl(a, b), manual)
    True
    """
    check_pair(logits_a, logits_b)
    if mask is not None:
        if not isinstance(mask, Tensor) or tuple(mask.shape) != tuple(logits_a.shape[: mask.dim()]):
            seen = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
            raise ValueError(
                f"mask must have a leading shape of the logits {tuple(logits_a.shape)}, got {seen}"
            )
        mask = mask.reshape(*mask.shape, *[1] * (logits_a.dim() - mask.dim()))
        mask = mask.expand(logits_a.shape)
    zeros = torch.zeros_like(logits_a)
    pair_a = torch.stack([zeros, logits_a], dim=-1)
    pair_b = torch.stack([zeros, logits_b], dim=-1)
    return symmetric_kl(pair_a, pair_b, mask=mask, reduction=reduction, chunk_size=chunk_size)


DIVERGENCES: dict[str, Callable[..., Tensor]] = {
    "kl": symmetric_kl,
    "js": js_divergence,
    "mse": mse_consistency,
    "multilabel": multilabel_symmetric_kl,
}


def resolve_divergence(divergence: Divergence | Callable[..., Tensor]) -> Callable[..., Tensor]:
    """The divergence function named by ``divergence`` (a key of :data:`DIVERGENCES`), or the
    callable itself; anything else raises a ``ValueError`` naming the known divergences.

    >>> resolve_divergence("js") is js_divergence
    True
    >>> resolve_divergence("hellinger")
    Traceback (most recent call last):
    ...
    ValueError: divergence must be one of ('kl', 'js', 'mse', 'multilabel') or a callable, ...
    """
    fn = DIVERGENCES.get(divergence) if isinstance(divergence, str) else divergence
    if not callable(fn):
        raise ValueError(
            f"divergence must be one of {tuple(DIVERGENCES)} or a callable, got {divergence!r}"
        )
    return fn


def consistency(
    outputs: Sequence[Tensor],
    divergence: Divergence | Callable[..., Tensor] = "kl",
    mask: Tensor | None = None,
    reduction: Reduction = "batchmean",
    detach: bool = False,
    chunk_size: int | None = None,
) -> Tensor:
    """Consistency term over ``k >= 2`` pass outputs: the divergence averaged over all pairs.

    With ``detach=True`` the first pass is a stop-gradient target and only the pairs
    ``(0, i)`` count, so the other passes are pulled toward it.

    >>> a, b, c = torch.randn(3, 4, 5).unbind(0)
    >>> pairs = (symmetric_kl(a, b) + symmetric_kl(a, c) + symmetric_kl(b, c)) / 3
    >>> torch.allclose(consistency([a, b, c]), pairs)
    True
    """
    if len(outputs) < 2:
        raise ValueError(f"outputs must hold at least 2 passes, got {len(outputs)}")
    fn = resolve_divergence(divergence)
    if detach:
        pairs = [(outputs[0].detach(), other) for other in outputs[1:]]
    else:
        pairs = list(itertools.combinations(outputs, 2))
    terms = [fn(a, b, mask=mask, reduction=reduction, chunk_size=chunk_size) for a, b in pairs]
    return terms[0] if len(terms) == 1 else torch.stack(terms).mean(0)


def consistency_mask_from_target(target: Tensor | None, ignore_index: int = -100) -> Tensor | None:
    """The rows to keep in the consistency term, read from a token-level integer target.

    For token targets (``ndim >= 2``) positions equal to ``ignore_index`` are padding and dropped,
    except in examples where *every* position is ignored: those are unlabelled examples of a
    semi-supervised batch and keep all their positions (pass an explicit ``mask`` to drop their
    padding). Example-level targets (``[B]``) give None: an unlabelled example still counts.

    >>> consistency_mask_from_target(torch.tensor([[1, -100], [-100, -100]]))
    tensor([[ True, False],
            [ True,  True]])
    """
    if target is None or target.is_floating_point() or target.dim() < 2:
        return None
    keep = target != ignore_index
    unlabelled = ~keep.flatten(1).any(1)
    if bool(unlabelled.any()):
        keep = keep | unlabelled.view(-1, *([1] * (keep.dim() - 1)))
    return keep


def cross_entropy(logits: Tensor, target: Tensor, ignore_index: int = -100) -> Tensor:
    """Cross-entropy over the last dim of ``logits``, averaged over targets that are not ignored.

    Works for ``[B, C]`` with ``[B]`` and ``[B, T, V]`` with ``[B, T]``; soft (floating) targets of
    the logits' shape are accepted too. A batch with no labelled target gives 0, not NaN.

    >>> round(cross_entropy(torch.zeros(2, 4), torch.tensor([1, -100])).item(), 4)  # ln 4
    1.3863
    """
    num_classes = logits.shape[-1]
    flat_logits = logits.reshape(-1, num_classes).float()
    if target.is_floating_point():
        if target.shape != logits.shape:
            raise ValueError(
                f"a soft target must have the logits' shape {tuple(logits.shape)}, "
                f"got {tuple(target.shape)}"
            )
        return F.cross_entropy(flat_logits, target.reshape(-1, num_classes).float())
    if tuple(target.shape) != tuple(logits.shape[:-1]):
        raise ValueError(
            f"target must have the leading shape of the logits "
            f"{tuple(logits.shape[:-1])} (logits {tuple(logits.shape)}), "
            f"got {tuple(target.shape)}"
        )
    check_targets(target, num_classes, ignore_index)
    flat_target = target.reshape(-1)
    total = F.cross_entropy(flat_logits, flat_target, ignore_index=ignore_index, reduction="sum")
    labelled = (flat_target != ignore_index).sum()
    return total / labelled.clamp_min(1)


class RDropLossResult(NamedTuple):
    """The R-Drop training loss and its two parts (log them separately)."""

    loss: Tensor
    task_loss: Tensor
    consistency: Tensor


def rdrop_loss(
    outputs: Sequence[Tensor],
    target: Tensor | None,
    alpha: float,
    task_loss: Callable[[Tensor, Tensor], Tensor] | None = None,
    divergence: Divergence | Callable[..., Tensor] = "kl",
    mask: Tensor | None = None,
    reduction: Reduction = "batchmean",
    ignore_index: int = -100,
    detach: bool = False,
    chunk_size: int | None = None,
) -> RDropLossResult:
    """R-Drop loss: mean task loss of the passes plus ``alpha`` times their consistency.

    ``loss = mean_k task_loss(outputs[k], target) + alpha * consistency(outputs)``

    Args:
        outputs: the logits of ``k >= 2`` dropout passes over the same batch.
        target: class indices (``ignore_index`` = unlabelled / padding), a soft target, a
            regression target, or None for a batch with no labels (consistency only).
        alpha: weight of the consistency term, >= 0.
        task_loss: ``f(logits, target) -> scalar``; if None, cross-entropy ignoring
            ``ignore_index``.
        divergence: ``"kl"`` (symmetric KL), ``"js"``, ``"mse"`` or a callable with the
            divergences' signature.
        mask: rows kept in the consistency term; if None, read from a token-level target
            (:func:`consistency_mask_from_target`).
        reduction, chunk_size: passed to the divergence.
        ignore_index: target value that marks unlabelled rows.
        detach: pull the other passes toward a stop-gradient first pass.

    >>> torch.manual_seed(0) and None
    >>> logits = [torch.randn(4, 3), torch.randn(4, 3)]
    >>> result = rdrop_loss(logits, torch.tensor([0, 1, 2, -100]), alpha=0.5)
    >>> bool(torch.isclose(result.loss, result.task_loss + 0.5 * result.consistency))
    True
    """
    check_alpha(alpha)
    if len(outputs) < 2:
        raise ValueError(f"outputs must hold at least 2 passes, got {len(outputs)}")
    for i, out in enumerate(outputs[1:], start=1):
        check_pair(outputs[0], out, "outputs[0]", f"outputs[{i}]")
    if mask is None and target is not None:
        mask = consistency_mask_from_target(target, ignore_index)
    if target is None:
        task = outputs[0].new_zeros((), dtype=torch.float32)
    else:
        fn = task_loss or (lambda logits, y: cross_entropy(logits, y, ignore_index))
        task = torch.stack([fn(out, target).float() for out in outputs]).mean()
    term = consistency(outputs, divergence, mask, reduction, detach, chunk_size)
    if term.dim() != 0:
        raise ValueError(f"reduction must reduce to a scalar inside rdrop_loss, got {reduction!r}")
    return RDropLossResult(task + alpha * term, task, term)
