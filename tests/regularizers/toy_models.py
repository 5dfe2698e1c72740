"""Small models and batches for the regularizer tests: a BERT-style encoder built from a config,
a CNN image classifier, an LSTM text classifier and an MLP, with a learnable task for each input
kind."""

from __future__ import annotations

import torch
from torch import Tensor, nn

VOCAB = 50
NUM_CLASSES = 3


def tiny_bert(dropout: float = 0.1, num_labels: int = NUM_CLASSES) -> nn.Module:
    """A 4-layer BERT for sequence classification with random weights (no download)."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=VOCAB,
        max_position_embeddings=32,
        num_labels=num_labels,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    return BertForSequenceClassification(config)


class SmallCNN(nn.Module):
    """Two conv blocks (an ``nn.Sequential`` of blocks) and a linear head, for ``[B, 3, 8, 8]``."""

    def __init__(self, num_classes: int = NUM_CLASSES, dropout: float = 0.1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
            nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(8 * 2 * 2, num_classes)
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


class LSTMClassifier(nn.Module):
    """Embedding, one LSTM layer, mean over time, linear head; input ``[B, T]`` token ids."""

    def __init__(self, num_classes: int = NUM_CLASSES, dropout: float = 0.1) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 16, padding_idx=0)
        self.lstm = nn.LSTM(16, 24, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(24, num_classes)

    def forward(self, input_ids: Tensor) -> Tensor:
        hidden, _ = self.lstm(self.dropout(self.embedding(input_ids)))
        return self.head(self.dropout(hidden.mean(1)))


def mlp(features: int = 8, num_classes: int = NUM_CLASSES, dropout: float = 0.1) -> nn.Sequential:
    """Two hidden blocks and a head, as one ``nn.Sequential``."""
    return nn.Sequential(
        nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Dropout(dropout)),
        nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Dropout(dropout)),
        nn.Linear(32, num_classes),
    )


def token_batch(batch: int = 6, length: int = 7, pad_last: bool = True) -> dict[str, Tensor]:
    """Token ids with padding at the end of every other example, an attention mask and labels."""
    ids = torch.randint(1, VOCAB, (batch, length))
    mask = torch.ones(batch, length, dtype=torch.long)
    if pad_last:
        mask[::2, length - 2 :] = 0
        ids = ids * mask
    labels = torch.arange(batch) % NUM_CLASSES
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def image_batch(batch: int = 6) -> tuple[Tensor, Tensor]:
    """Random images ``[B, 3, 8, 8]`` and labels."""
    return torch.randn(batch, 3, 8, 8), torch.arange(batch) % NUM_CLASSES


def dense_task(n: int = 48, features: int = 8) -> tuple[Tensor, Tensor]:
    """A learnable dense task: the label is the argmax of a fixed linear map of the features."""
    generator = torch.Generator().manual_seed(1)
    weights = torch.randn(features, NUM_CLASSES, generator=generator)
    x = torch.randn(n, features, generator=generator)
    return x, (x @ weights).argmax(-1)


def token_task(n: int = 48, length: int = 6) -> tuple[Tensor, Tensor]:
    """A learnable token task: the label says which of three marker tokens the sequence holds."""
    generator = torch.Generator().manual_seed(2)
    ids = torch.randint(4, VOCAB, (n, length), generator=generator)
    labels = torch.arange(n) % NUM_CLASSES
    position = torch.randint(0, length, (n,), generator=generator)
    ids[torch.arange(n), position] = labels + 1
    return ids, labels
