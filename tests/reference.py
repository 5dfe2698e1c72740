"""Plain transcriptions of the formulas, the yardstick the library is tested against."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def seed_compute_kl_loss(p: Tensor, q: Tensor, pad_mask: Tensor | None = None) -> Tensor:
    """The official R-Drop snippet, line for line (pad_mask: True = padding)."""
    p_loss = F.kl_div(F.log_softmax(p, dim=-1), F.softmax(q, dim=-1), reduction="none")
    q_loss = F.kl_div(F.log_softmax(q, dim=-1), F.softmax(p, dim=-1), reduction="none")
    if pad_mask is not None:
        p_loss.masked_fill_(pad_mask, 0.0)
        q_loss.masked_fill_(pad_mask, 0.0)
    p_loss = p_loss.sum()
    q_loss = q_loss.sum()
    return (p_loss + q_loss) / 2


def kl_rows(a: Tensor, b: Tensor) -> Tensor:
    """Per-row KL(p_a || p_b) by definition, in float64."""
    p = torch.softmax(a.double(), -1)
    q = torch.softmax(b.double(), -1)
    return (p * (p.log() - q.log())).sum(-1)


def symmetric_kl_rows(a: Tensor, b: Tensor) -> Tensor:
    """Per-row (KL(p||q) + KL(q||p)) / 2 in float64."""
    return 0.5 * (kl_rows(a, b) + kl_rows(b, a))


def js_rows(a: Tensor, b: Tensor) -> Tensor:
    """Per-row Jensen-Shannon divergence by definition, in float64."""
    p = torch.softmax(a.double(), -1)
    q = torch.softmax(b.double(), -1)
    m = 0.5 * (p + q)
    return 0.5 * ((p * (p / m).log()).sum(-1) + (q * (q / m).log()).sum(-1))


def reduce_reference(rows: Tensor, mask: Tensor | None, reduction: str, row_size: int) -> Tensor:
    """Masking and reduction written out with Python loops over kept rows."""
    flat = rows.reshape(-1)
    keep = torch.ones_like(flat, dtype=torch.bool) if mask is None else mask.reshape(-1)
    kept = [flat[i] for i in range(flat.numel()) if keep[i]]
    total = sum(kept, torch.zeros((), dtype=rows.dtype))
    if reduction == "sum":
        return total
    if reduction == "batchmean":
        return total / max(len(kept), 1)
    if reduction == "mean":
        return total / max(len(kept) * row_size, 1)
    return torch.where(keep, flat, torch.zeros_like(flat)).reshape(rows.shape)
