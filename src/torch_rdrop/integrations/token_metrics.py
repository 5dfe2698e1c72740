"""Next-token metrics of a causal LM from its logits: what TRL's ``SFTTrainer`` logs.

``SFTTrainer`` logs the mean entropy of the next-token distribution and the share of labelled
tokens whose label is the most likely next token, over the positions whose next label is not
-100. :func:`next_token_sums` returns the sums and the count behind both, so that micro-batches
and processes can be added before dividing. Torch only.

>>> import torch
>>> logits = torch.tensor([[[0.0, 0.0], [5.0, 0.0], [0.0, 0.0]]])
>>> sums = next_token_sums(logits, torch.tensor([[-100, 1, -100]]))
>>> sums.count.item(), sums.correct.item(), round(sums.entropy.item(), 4)  # ln 2 at position 0
(1, 0, 0.6931)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["TokenSums", "next_token_sums"]


class TokenSums(NamedTuple):
    """Sums over the labelled next-token positions of a batch.

    Attributes:
        entropy: sum of the entropies of the next-token distributions (fp32).
        correct: how many labels are the arg-max of their distribution.
        count: how many positions have a label (not -100).
    """

    entropy: Tensor
    correct: Tensor
    count: Tensor


def next_token_sums(logits: Tensor, labels: Tensor, ignore_index: int = -100) -> TokenSums:
    """Entropy sum, correct count and labelled count of a causal LM's predictions.

    Position ``t`` of ``logits`` (``[..., T, V]``) predicts ``labels[..., t + 1]`` (``[..., T]``),
    as in the model's own loss. Computed without gradient, in fp32.
    """
    if logits.shape[:-1] != labels.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} must be labels {tuple(labels.shape)} plus a vocabulary "
            "dimension"
        )
    with torch.no_grad():
        scores = logits[..., :-1, :].float()
        target = labels[..., 1:]
        keep = target != ignore_index
        log_p = F.log_softmax(scores, dim=-1)
        entropy = -(log_p.exp() * log_p).sum(-1)
        correct = (scores.argmax(-1) == target) & keep
        return TokenSums(entropy[keep].sum(), correct.sum(), keep.sum())
