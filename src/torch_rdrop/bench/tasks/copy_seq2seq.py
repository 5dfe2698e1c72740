"""A copy mechanism for an encoder-decoder: each output token is generated or copied.

A headline reuses words of its article, and a decoder whose cross-attention starts random learns
to copy them slowly from a thousand or so examples. A pointer-generator (See et al., 2017) mixes
the decoder's vocabulary distribution with an attention over the source tokens: with gate ``g``
from the decoder state and the attended source, ``p(w) = g p_vocab(w) + (1 - g) sum of the
attention on the source positions holding w``. :func:`copy_mixture` is that mixture, in log
space; :class:`CopyHead` computes the attention and the gate; :class:`CopyEncoderDecoder` is a
Hugging Face encoder-decoder with the head, so that training (cross-entropy on the returned
log-probabilities) and ``generate`` both use the mixture.

>>> vocab_logits = torch.zeros(1, 1, 4)            # uniform over 4 words
>>> attention = torch.tensor([[[1.0, 0.0]]])       # all on source position 0
>>> source_ids = torch.tensor([[2, 3]])            # which holds word 2
>>> copy_mixture(vocab_logits, attention, torch.tensor([[[0.5]]]), source_ids).exp()
tensor([[[0.1250, 0.1250, 0.6250, 0.1250]]])
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from transformers import EncoderDecoderModel

__all__ = ["COPY_WEIGHTS", "CopyEncoderDecoder", "CopyHead", "copy_mixture"]

#: The smallest probability the mixture gives a word (keeps the log finite and its gradient too).
_TINY = 1e-12

#: The name of the copy head in a model, a prefix of its new weights.
COPY_WEIGHTS = "copy_head"


def copy_mixture(
    vocab_logits: Tensor, attention: Tensor, gate: Tensor, source_ids: Tensor
) -> Tensor:
    """Log-probabilities of ``gate * softmax(vocab_logits) + (1 - gate) * copy``.

    ``vocab_logits`` is (batch, steps, vocab), ``attention`` (batch, steps, source) sums to 1
    over the source, ``gate`` (batch, steps, 1) lies in [0, 1] and ``source_ids`` (batch, source)
    are the source's token ids; ``copy`` puts each position's attention on its token. Computed in
    float32 whatever the inputs' dtype.
    """
    batch, steps, _ = vocab_logits.shape
    if attention.shape[:2] != (batch, steps) or attention.shape[2] != source_ids.shape[1]:
        raise ValueError(
            f"attention: expected shape ({batch}, {steps}, {source_ids.shape[1]}) to match "
            f"vocab_logits {tuple(vocab_logits.shape)} and source_ids {tuple(source_ids.shape)}, "
            f"got {tuple(attention.shape)}"
        )
    gate = gate.float()
    generated = gate * torch.softmax(vocab_logits.float(), dim=-1)
    where = source_ids[:, None, :].expand(batch, steps, source_ids.shape[1])
    copied = torch.zeros_like(generated).scatter_add_(-1, where, (1 - gate) * attention.float())
    return (generated + copied).clamp_min(_TINY).log()


class CopyHead(nn.Module):
    """The copy attention (one head, scaled dot product) and the gate between generating and
    copying, from the decoder's last states and the encoder's.

    >>> head = CopyHead(8)
    >>> out = head(torch.zeros(2, 3, 10), torch.randn(2, 3, 8), torch.randn(2, 5, 8),
    ...            torch.randint(0, 10, (2, 5)), torch.ones(2, 5, dtype=torch.long))
    >>> out.shape, bool(torch.allclose(out.exp().sum(-1), torch.ones(2, 3)))
    (torch.Size([2, 3, 10]), True)
    """

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.gate = nn.Linear(2 * hidden, 1)
        self.scale = 1.0 / math.sqrt(hidden)

    def forward(
        self,
        vocab_logits: Tensor,
        decoder_states: Tensor,
        encoder_states: Tensor,
        source_ids: Tensor,
        source_mask: Tensor | None,
    ) -> Tensor:
        """Log-probabilities (batch, steps, vocab) of the mixture; padding is never copied."""
        scores = self.query(decoder_states) @ self.key(encoder_states).transpose(1, 2)
        scores = scores * self.scale
        if source_mask is not None:
            scores = scores.masked_fill(source_mask[:, None, :] == 0, torch.finfo(scores.dtype).min)
        attention = torch.softmax(scores.float(), dim=-1)
        context = attention.to(encoder_states.dtype) @ encoder_states
        gate = torch.sigmoid(self.gate(torch.cat([decoder_states, context], dim=-1)))
        return copy_mixture(vocab_logits, attention, gate, source_ids)


class CopyEncoderDecoder(EncoderDecoderModel):
    """A Hugging Face encoder-decoder with a :class:`CopyHead` (named :data:`COPY_WEIGHTS`):
    its ``logits`` are the mixture's log-probabilities, in training and in ``generate``.

    Build it like its parent, ``CopyEncoderDecoder(encoder=..., decoder=...)`` (the two must
    have the same width). When the encoder's outputs are passed instead of ``input_ids`` (as
    ``generate`` does after its first step), ``decoder_source_ids`` gives the source ids;
    ``generate`` passes them itself.
    """

    def __init__(self, config: Any = None, encoder: Any = None, decoder: Any = None) -> None:
        super().__init__(config=config, encoder=encoder, decoder=decoder)
        hidden = self.config.decoder.hidden_size
        if self.config.encoder.hidden_size != hidden:
            raise ValueError(
                f"encoder: the copy head needs the decoder's width {hidden}, got "
                f"{self.config.encoder.hidden_size}"
            )
        self.add_module(COPY_WEIGHTS, CopyHead(hidden))

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        decoder_source_ids: Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        """The parent's forward with ``logits`` the mixture's log-probabilities."""
        source_ids = input_ids if decoder_source_ids is None else decoder_source_ids
        if source_ids is None:
            raise ValueError(
                "decoder_source_ids: a copying model needs the source token ids (input_ids, or "
                "decoder_source_ids when the encoder's outputs are given)"
            )
        kwargs["decoder_output_hidden_states"] = True
        out = super().forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        head = getattr(self, COPY_WEIGHTS)
        out.logits = head(
            out.logits,
            out.decoder_hidden_states[-1],
            out.encoder_last_hidden_state,
            source_ids,
            attention_mask,
        )
        out.decoder_hidden_states = None  # every layer's states: not needed past this point
        return out

    def generate(self, input_ids: Tensor | None = None, **kwargs: Any) -> Any:
        """The parent's ``generate``, handing the source ids to every decoding step."""
        if input_ids is not None:
            kwargs.setdefault("decoder_source_ids", input_ids)
        return super().generate(input_ids=input_ids, **kwargs)
