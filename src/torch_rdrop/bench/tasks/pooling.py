"""A classification head on the mean of a transformer's token states.

A checkpoint's own sequence-classification head reads one position: GPT-2's reads the last
non-padding token, BERT's the ``[CLS]`` token. A character language model's last state was
trained to predict the next character, not to sum up a review; the mean of every token's state
reads all of them. :class:`MeanPooledClassifier` puts a dropout and a linear layer on that mean,
over the tokens the attention mask keeps, so padding never changes a row's logits.

:data:`POOLINGS` names the two heads a checkpoint family can use: ``"head"`` (the checkpoint's
own) and ``"mean"`` (this one).

>>> import torch
>>> from torch import nn
>>> class Body(nn.Module):  # a stand-in for a transformer: token states of width 4
...     def __init__(self):
...         super().__init__()
...         self.embed = nn.Embedding(10, 4)
...     def forward(self, input_ids, attention_mask=None):
...         return {"last_hidden_state": self.embed(input_ids)}
>>> model = MeanPooledClassifier(Body(), hidden_size=4, num_labels=3, dropout=0.1).eval()
>>> ids, mask = torch.tensor([[1, 2, 0], [3, 4, 5]]), torch.tensor([[1, 1, 0], [1, 1, 1]])
>>> model(input_ids=ids, attention_mask=mask).shape
torch.Size([2, 3])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

__all__ = ["POOLINGS", "MeanPooledClassifier", "check_pooling", "described_with_head", "mean_pool"]

#: The heads a checkpoint family can put on a checkpoint for classification, with what they read.
POOLINGS = {
    "head": "the checkpoint's own head",
    "mean": "a head on the mean of the token states",
}


def check_pooling(pooling: str) -> str:
    """``pooling`` if it is one of :data:`POOLINGS`; ``ValueError`` naming them otherwise."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {tuple(POOLINGS)}, got {pooling!r}")
    return pooling


def described_with_head(description: str, pooling: str) -> str:
    """A model family's ``description``, naming the head when it is not the checkpoint's own.

    >>> described_with_head("GPT-2", "head"), described_with_head("GPT-2", "mean")
    ('GPT-2', 'GPT-2; a head on the mean of the token states')
    """
    return (
        description if check_pooling(pooling) == "head" else f"{description}; {POOLINGS[pooling]}"
    )


def mean_pool(states: Tensor, attention_mask: Tensor | None) -> Tensor:
    """The mean of ``states`` (batch, tokens, width) over the tokens ``attention_mask`` keeps.

    >>> import torch
    >>> states = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> mean_pool(states, torch.tensor([[1, 1, 0]]))
    tensor([[2.]])
    """
    if states.dim() != 3:
        raise ValueError(f"states must be (batch, tokens, width), got shape {tuple(states.shape)}")
    if attention_mask is None:
        return states.mean(dim=1)
    if attention_mask.shape != states.shape[:2]:
        raise ValueError(
            f"attention_mask must be (batch, tokens) = {tuple(states.shape[:2])}, got "
            f"{tuple(attention_mask.shape)}"
        )
    keep = attention_mask.unsqueeze(-1).to(states.dtype)
    return (states * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)


class MeanPooledClassifier(nn.Module):
    """``body`` (a transformer returning ``last_hidden_state``), mean-pooled, then a linear head.

    Returns the logits (batch, labels). The head's dropout is the run's rate, like the body's, so
    two passes differ there too.
    """

    def __init__(self, body: nn.Module, hidden_size: int, num_labels: int, dropout: float) -> None:
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}")
        self.body = body
        self.dropout = nn.Dropout(dropout)
        self.score = nn.Linear(hidden_size, num_labels)

    def get_input_embeddings(self) -> nn.Module:
        """The body's token embeddings (where adversarial methods perturb)."""
        return self.body.get_input_embeddings()

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, **inputs: Any
    ) -> Tensor:
        """Logits of the mean of the token states the mask keeps."""
        output = self.body(input_ids=input_ids, attention_mask=attention_mask, **inputs)
        states = output["last_hidden_state"] if isinstance(output, Mapping) else output[0]
        return self.score(self.dropout(mean_pool(states, attention_mask)))
