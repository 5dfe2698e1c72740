"""The fused R-Drop LM head: both passes' cross-entropy and their symmetric KL from the last hidden
states and the head's weight, one chunk of tokens at a time, without ever holding the logits.

For a causal LM the logits ``[tokens, vocabulary]`` are the largest tensors of a training step
(512 tokens x 151,936 entries is 311 MB in fp32), and R-Drop doubles them and adds a KL over them.
:func:`fused_rdrop_lm_loss` takes instead

- ``hidden``: the last hidden states (after the final norm) of the ``passes`` stacked copies of
  the batch, in this library's ``"concat"`` layout: pass ``i``'s rows are ``[i*B, (i+1)*B)`` of
  ``hidden.shape[0]``, so ``hidden`` is ``[passes*B, T, H]`` (or ``[passes*N, H]``);
- ``weight`` ``[V, H]`` (and ``bias`` ``[V]``) of the output embedding, tied or not;
- ``labels``: the targets of one pass, already aligned with ``hidden`` (for a causal LM shifted
  by one), ``[B, T]`` (or ``[N]``), ``ignore_index`` where there is nothing to predict.

Only the labelled tokens are scored. For each chunk of them the function computes the logits of
every pass in fp32, their log-softmax, the cross-entropy and the KL values, and the analytic
gradient with respect to the chunk's logits (FACTS: with ``d = log p - log q`` the gradient of
``KL(p||q) + KL(q||p)`` w.r.t. the logits of ``p`` is ``p * (d - <p, d>) + (p - q)``), which it
folds at once into the gradients of the hidden states, the weight and the bias. The backward only
scales those stored gradients by the incoming gradient. The memory beyond the gradients
themselves is one workspace of three ``[passes * chunk, V]`` fp32 buffers, reused by every chunk.

The values are those of the materialised path, :func:`torch_rdrop.functional.rdrop_loss` on
``hidden @ weight.T + bias`` with ``mask = labels != ignore_index``: ``task_loss`` is the mean
over passes of the cross-entropy averaged over labelled tokens, ``consistency`` the symmetric KL
halved with ``reduction="batchmean"`` over labelled tokens, averaged over pairs of passes when
``passes > 2``. (``rdrop_loss`` without a mask keeps every position of an example with no label
at all; here such examples simply have no token to score.) Only ``loss`` carries a gradient; the
parts and the statistics are detached values to log.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from torch_rdrop._checks import check_alpha, check_passes, check_targets

__all__ = ["CHUNK_BYTES", "FusedLMLossResult", "default_chunk_tokens", "fused_rdrop_lm_loss"]

#: Bytes of one fp32 ``[passes * chunk, V]`` buffer of the workspace (three are live at once).
CHUNK_BYTES = 24 << 20


class FusedLMLossResult(NamedTuple):
    """What :func:`fused_rdrop_lm_loss` returns; only ``loss`` has a gradient.

    Attributes:
        loss: ``task_loss + alpha * consistency``, ready for ``backward()``.
        task_loss: mean over passes of the cross-entropy, averaged over labelled tokens.
        consistency: symmetric KL (halved) between the passes, averaged over labelled tokens (and
            over pairs of passes when there are more than two).
        entropy: mean entropy of the first pass's next-token distribution over labelled tokens.
        correct: labelled tokens of the first pass whose argmax is the label.
        count: labelled tokens (``correct / count`` is TRL's ``mean_token_accuracy``).
    """

    loss: Tensor
    task_loss: Tensor
    consistency: Tensor
    entropy: Tensor
    correct: Tensor
    count: Tensor


def default_chunk_tokens(vocab_size: int, passes: int = 2, width: int = 0) -> int:
    """Tokens per chunk (of each pass): a workspace buffer of :data:`CHUNK_BYTES`, or, for wide
    heads, the three buffers together an eighth of the weight's gradient (``[V, width]``).

    Every chunk reads the weight and updates its gradient once, so larger chunks cost less time;
    the eighth keeps the extra memory within about 1.3x the gradients (benchmarks/RESULTS.md).

    >>> default_chunk_tokens(151_936), default_chunk_tokens(128_256, width=2048)
    (20, 42)
    """
    by_bytes = CHUNK_BYTES // (4 * max(1, vocab_size))
    by_width = width // 24
    return max(1, max(by_bytes, by_width) // passes)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _row_dot(a: Tensor, b: Tensor) -> Tensor:
    """``(a * b).sum(-1)`` of two ``[N, V]`` tensors as a batched matmul: no ``[N, V]`` product."""
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).view(a.shape[0])


def _loss_and_grads(
    hidden: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    rows: Tensor,
    targets: Tensor,
    alpha: float,
    chunk: int,
    needs: tuple[bool, bool, bool],
) -> tuple[Tensor, Tensor, tuple[Tensor | None, Tensor | None, Tensor | None]]:
    """The chunk loop: the loss, ``[task, consistency, entropy, correct, count]`` and the
    gradients of the loss w.r.t. ``hidden [P, N, H]``, ``weight`` and ``bias`` (those needed)."""
    passes, _, width = hidden.shape
    vocab = weight.shape[0]
    count = rows.numel()
    ctype = _compute_dtype(hidden.dtype)
    need_hidden, need_weight, need_bias = needs
    grad_hidden = torch.zeros_like(hidden) if need_hidden else None
    grad_weight = weight.new_zeros(weight.shape, dtype=ctype) if need_weight else None
    grad_bias = bias.new_zeros(bias.shape, dtype=ctype) if need_bias and bias is not None else None

    pairs = passes * (passes - 1) // 2
    ce_weight = 1.0 / (passes * max(count, 1))
    kl_weight = alpha * 0.5 / (pairs * max(count, 1))
    chunk = max(1, min(chunk, count))
    workspace = hidden.new_empty((3, passes * chunk, vocab), dtype=ctype)
    spare = hidden.new_empty((chunk, vocab), dtype=ctype) if passes > 2 else None
    sums = torch.zeros(4, dtype=ctype, device=hidden.device)  # ce, kl, entropy, correct

    for start in range(0, count, chunk):
        index = rows[start : start + chunk]
        size = index.numel()
        label = targets[start : start + chunk].repeat(passes)
        flat = passes * size
        logp, prob, grad = (buf[:flat] for buf in workspace)
        states = hidden[:, index].reshape(flat, width)
        if weight.dtype == ctype:  # the logits straight into the workspace
            if bias is None:
                torch.mm(states.to(ctype), weight.t(), out=logp)
            else:
                torch.addmm(bias.to(ctype), states.to(ctype), weight.t(), out=logp)
        else:  # bf16 / fp16 head: project in its dtype, as the model does
            logits = states.to(weight.dtype) @ weight.t()
            logp.copy_(logits if bias is None else logits + bias)
            del logits
        sums[3] += (logp[:size].argmax(-1) == label[:size]).sum()
        # log_softmax and softmax in place: no temporary of the chunk's size
        logp.sub_(logp.amax(dim=-1, keepdim=True))
        torch.exp(logp, out=prob)
        total = prob.sum(dim=-1, keepdim=True)
        prob.div_(total)
        logp.sub_(total.log_())
        sums[0] -= logp.gather(1, label.unsqueeze(1)).sum()
        sums[2] -= _row_dot(prob[:size], logp[:size]).sum()

        # grad[a] <- D_a = sum over the other passes b of (log p_a - log p_b)
        lp, pr, g = (t.view(passes, size, vocab) for t in (logp, prob, grad))
        if passes == 2:
            torch.sub(lp[0], lp[1], out=g[0])
            torch.neg(g[0], out=g[1])
        else:
            g.zero_()
            diff = spare[:size]
            for a in range(passes):
                for b in range(a + 1, passes):
                    torch.sub(lp[a], lp[b], out=diff)
                    g[a].add_(diff)
                    g[b].sub_(diff)
        # <p_a, D_a> = sum over b != a of KL(p_a || p_b); summed over a: every pair's KL + KL
        spread = _row_dot(prob, grad).view(passes, size)
        sums[1] += 0.5 * spread.sum()

        # d loss / d logits_a = kl_weight * (p_a * (D_a - <p_a, D_a>) + sum_b (p_a - p_b))
        #                       + ce_weight * (p_a - onehot(label))
        g.sub_(spread.unsqueeze(-1)).mul_(pr)
        for a in range(passes):
            g[a].add_(pr[a], alpha=passes - 1)
            for b in range(passes):
                if b != a:
                    g[a].sub_(pr[b])
        grad.mul_(kl_weight).add_(prob, alpha=ce_weight)
        grad[torch.arange(flat, device=grad.device), label] -= ce_weight

        if grad_hidden is not None:
            back = grad if weight.dtype == ctype else grad.to(weight.dtype)
            grad_hidden[:, index] = (back @ weight).view(passes, size, width).to(hidden.dtype)
        if grad_weight is not None:
            grad_weight.addmm_(grad.t(), states.to(ctype))
        if grad_bias is not None:
            grad_bias += grad.sum(0)

    del workspace, spare
    denominator = max(count, 1)
    task = sums[0] / (passes * denominator)
    term = sums[1] / (pairs * denominator)
    loss = task + alpha * term
    stats = torch.stack([task, term, sums[2] / denominator, sums[3], sums.new_tensor(count)])
    return loss, stats, (grad_hidden, grad_weight, grad_bias)


class _FusedRDropHead(torch.autograd.Function):
    """``loss`` and non-differentiable ``stats`` of :func:`_loss_and_grads`; the gradients are
    computed in the forward and only scaled in the backward."""

    @staticmethod
    def forward(
        ctx,
        hidden: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        rows: Tensor,
        targets: Tensor,
        alpha: float,
        chunk: int,
        needs: tuple[bool, bool, bool],
    ) -> tuple[Tensor, Tensor]:
        ctx.set_materialize_grads(False)
        loss, stats, grads = _loss_and_grads(
            hidden, weight, bias, rows, targets, alpha, chunk, needs
        )
        ctx.grads = grads
        ctx.save_for_backward(hidden, weight, bias, rows, targets)
        ctx.settings = (alpha, chunk, needs)
        ctx.mark_non_differentiable(stats)
        return loss.to(torch.float64 if hidden.dtype == torch.float64 else torch.float32), stats

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss: Tensor | None, _grad_stats: Tensor | None):
        hidden, weight, bias, rows, targets = ctx.saved_tensors
        grads = ctx.grads
        # The stored gradients are handed out (and scaled in place) by the first backward; a
        # second one, with retain_graph=True, recomputes them.
        ctx.grads = None
        if grads is None:
            grads = _loss_and_grads(hidden, weight, bias, rows, targets, *ctx.settings)[2]
        if grad_loss is None:
            return (None,) * 8
        scale = None if bool(grad_loss == 1) else grad_loss
        dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        out = []
        for grad, dtype in zip(grads, dtypes, strict=True):
            if grad is not None:
                if scale is not None:
                    grad.mul_(scale.to(grad.dtype))
                grad = grad.to(dtype)
            out.append(grad)
        del grads
        return (*out, None, None, None, None, None)


def _check_inputs(
    hidden: Tensor,
    weight: Tensor,
    labels: Tensor,
    passes: int,
    bias: Tensor | None,
    ignore_index: int,
    chunk_size: int | None,
) -> None:
    for name, tensor in (("hidden", hidden), ("weight", weight)):
        if not isinstance(tensor, Tensor) or not tensor.is_floating_point():
            seen = tensor.dtype if isinstance(tensor, Tensor) else type(tensor).__name__
            raise ValueError(f"{name} must be a floating torch.Tensor, got {seen}")
    if weight.dim() != 2:
        raise ValueError(f"weight must be [vocabulary, hidden], got shape {tuple(weight.shape)}")
    if hidden.dim() < 2 or hidden.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"hidden must be [..., {weight.shape[1]}] to match weight {tuple(weight.shape)}, "
            f"got shape {tuple(hidden.shape)}"
        )
    if bias is not None and (not isinstance(bias, Tensor) or tuple(bias.shape) != weight.shape[:1]):
        seen = tuple(bias.shape) if isinstance(bias, Tensor) else type(bias).__name__
        raise ValueError(f"bias must be None or [{weight.shape[0]}] like weight's rows, got {seen}")
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.dim() == 0:
        seen = labels.dtype if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"labels must be an integer tensor of class indices, got {seen}")
    expected = (passes * labels.shape[0], *labels.shape[1:])
    if tuple(hidden.shape[:-1]) != expected:
        raise ValueError(
            f"hidden must be [passes * B, ...] = {(*expected, weight.shape[1])} for labels "
            f"{tuple(labels.shape)} and passes={passes} (the passes stacked along dim 0), "
            f"got shape {tuple(hidden.shape)}"
        )
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be None or a positive token count, got {chunk_size!r}")
    check_targets(labels, weight.shape[0], ignore_index)


def fused_rdrop_lm_loss(
    hidden: Tensor,
    weight: Tensor,
    labels: Tensor,
    *,
    alpha: float,
    passes: int = 2,
    bias: Tensor | None = None,
    ignore_index: int = -100,
    chunk_size: int | None = None,
) -> FusedLMLossResult:
    """R-Drop loss of an LM head from its input: ``task_loss + alpha * consistency``.

    Args:
        hidden: last hidden states of the stacked passes, ``[passes * B, T, H]`` or
            ``[passes * N, H]``; pass ``i``'s rows are ``[i * B, (i + 1) * B)``.
        weight: the output embedding ``[V, H]`` (the input embedding's, if tied).
        labels: one pass's targets aligned with ``hidden`` (shifted for causal LMs), ``[B, T]``
            or ``[N]``; ``ignore_index`` marks tokens with nothing to predict.
        alpha: weight of the consistency term, >= 0.
        passes: number of stacked passes (>= 2).
        bias: the head's bias ``[V]``, if any.
        ignore_index: label value of unscored tokens.
        chunk_size: labelled tokens (of each pass) per chunk; None: :func:`default_chunk_tokens`
            of the weight's shape.

    The projection runs in the weight's dtype (the model's own head), everything after it in
    fp32 (fp64 for fp64 inputs); gradients come back in the inputs' dtypes, the weight's
    accumulated in fp32 first. Only the inputs that require a gradient get one (a frozen head
    under LoRA costs no weight-gradient buffer). Autocast is off inside.

    >>> torch.manual_seed(0) and None
    >>> head = torch.nn.Linear(8, 11)
    >>> hidden = torch.randn(2 * 3, 5, 8, requires_grad=True)  # 2 passes of a [3, 5] batch
    >>> labels = torch.randint(0, 11, (3, 5)); labels[0, :2] = -100
    >>> out = fused_rdrop_lm_loss(hidden, head.weight, labels, alpha=1.0, bias=head.bias)
    >>> out.loss.backward()
    >>> from torch_rdrop.functional import rdrop_loss
    >>> ref = rdrop_loss(list(head(hidden).chunk(2)), labels, 1.0, mask=labels != -100)
    >>> torch.allclose(out.loss, ref.loss), int(out.count)
    (True, 13)
    """
    check_passes(passes)
    check_alpha(alpha)
    _check_inputs(hidden, weight, labels, passes, bias, ignore_index, chunk_size)
    if chunk_size is None:
        chunk_size = default_chunk_tokens(weight.shape[0], passes, weight.shape[1])
    width = hidden.shape[-1]
    stacked = hidden.reshape(passes, -1, width)
    flat_labels = labels.reshape(-1).to(hidden.device)
    rows = (flat_labels != ignore_index).nonzero().squeeze(1)
    targets = flat_labels[rows]
    grad_on = torch.is_grad_enabled()
    needs = (
        grad_on and hidden.requires_grad,
        grad_on and weight.requires_grad,
        grad_on and bias is not None and bias.requires_grad,
    )
    with torch.autocast(hidden.device.type, enabled=False):
        loss, stats = _FusedRDropHead.apply(
            stacked, weight, bias, rows, targets, float(alpha), chunk_size, needs
        )
    if not bool(torch.isfinite(loss)):
        bad = [n for n, t in (("hidden", hidden), ("weight", weight)) if not t.isfinite().all()]
        where = ", ".join(bad) if bad else "none of the inputs (overflow in the logits)"
        raise ValueError(f"fused R-Drop LM loss is not finite; NaN or inf found in: {where}")
    task, term, entropy, correct, count = stats.float().unbind(0)
    return FusedLMLossResult(loss, task, term, entropy, correct.long(), count.long())
