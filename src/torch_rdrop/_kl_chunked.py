"""Memory-efficient symmetric KL: an autograd.Function with an analytic backward over row chunks.

With ``p = softmax(x)``, ``q = softmax(y)`` and ``d = log p - log q`` (both from log_softmax),

    KL(p||q) + KL(q||p) = sum_j (p_j - q_j) * d_j

and its gradients are

    d/dx = p * (d - <p, d>) + (p - q)
    d/dy = -q * (d - <q, d>) - (p - q)

The forward keeps only the per-row values; the backward recomputes the softmaxes one chunk of rows
at a time, so the only full-size tensors it allocates are the two gradients it must return. Compare
autograd through two ``F.kl_div`` calls, which keeps several full fp32 copies of the logits alive.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

#: Elements of one fp32 intermediate per chunk (256 KiB): small enough that the few live buffers
#: cost about 5 % of the gradients at LM sizes, and that the allocator reuses them without page
#: faults (chunks of 4 MiB measured slower and 1.26x the floor; benchmarks/kl_memory.py).
CHUNK_ELEMENTS = 1 << 16


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the divergence is computed in: float64 stays float64, the rest become float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def default_chunk_rows(num_classes: int) -> int:
    """Rows per chunk so that one intermediate holds about :data:`CHUNK_ELEMENTS` values."""
    return max(1, CHUNK_ELEMENTS // max(1, num_classes))


def _row_chunks(num_rows: int, chunk_rows: int) -> range:
    return range(0, num_rows, chunk_rows)


class _SymmetricKLRows(torch.autograd.Function):
    """Per-row ``0.5 * (KL(p||q) + KL(q||p))`` of two ``[N, V]`` logit tensors."""

    @staticmethod
    def forward(ctx, logits_a: Tensor, logits_b: Tensor, chunk_rows: int) -> Tensor:
        ctype = compute_dtype(logits_a.dtype)
        rows = torch.empty(logits_a.shape[0], dtype=ctype, device=logits_a.device)
        for start in _row_chunks(logits_a.shape[0], chunk_rows):
            stop = start + chunk_rows
            log_p = F.log_softmax(logits_a[start:stop].to(ctype), dim=-1)
            log_q = F.log_softmax(logits_b[start:stop].to(ctype), dim=-1)
            log_ratio = log_p - log_q
            prob_diff = log_p.exp_().sub_(log_q.exp_())
            rows[start:stop] = 0.5 * torch.linalg.vecdot(prob_diff, log_ratio)
        ctx.save_for_backward(logits_a, logits_b)
        ctx.chunk_rows = chunk_rows
        return rows

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_rows: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        logits_a, logits_b = ctx.saved_tensors
        chunk_rows: int = ctx.chunk_rows
        ctype = compute_dtype(logits_a.dtype)
        need_a, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_a = torch.empty_like(logits_a) if need_a else None
        grad_b = torch.empty_like(logits_b) if need_b else None
        for start in _row_chunks(logits_a.shape[0], chunk_rows):
            stop = start + chunk_rows
            weight = 0.5 * grad_rows[start:stop].to(ctype).unsqueeze(-1)
            p = F.log_softmax(logits_a[start:stop].to(ctype), dim=-1)
            q = F.log_softmax(logits_b[start:stop].to(ctype), dim=-1)
            d = p - q
            p.exp_()
            q.exp_()
            prob_diff = p - q
            if grad_a is not None:
                g = d - torch.linalg.vecdot(p, d).unsqueeze(-1)
                g.mul_(p).add_(prob_diff).mul_(weight)
                grad_a[start:stop] = g
                del g
            if grad_b is not None:
                d.sub_(torch.linalg.vecdot(q, d).unsqueeze(-1)).mul_(q).add_(prob_diff).neg_()
                grad_b[start:stop] = d.mul_(weight)
        return grad_a, grad_b, None


def symmetric_kl_rows_chunked(logits_a: Tensor, logits_b: Tensor, chunk_rows: int) -> Tensor:
    """Per-row symmetric KL (halved) of ``[..., V]`` logits, computed ``chunk_rows`` rows at a time.

    Returns a tensor of the leading shape in float32 (float64 for float64 inputs).

    >>> a, b = torch.randn(4, 3, 7), torch.randn(4, 3, 7)
    >>> symmetric_kl_rows_chunked(a, b, chunk_rows=5).shape
    torch.Size([4, 3])
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_size must be a positive number of rows, got {chunk_rows}")
    leading = logits_a.shape[:-1]
    num_classes = logits_a.shape[-1]
    flat_a = logits_a.reshape(-1, num_classes)
    flat_b = logits_b.reshape(-1, num_classes)
    return _SymmetricKLRows.apply(flat_a, flat_b, chunk_rows).reshape(leading)
