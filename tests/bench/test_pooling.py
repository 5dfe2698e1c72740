"""The mean-pooled classification head: the mean over kept tokens only, and its checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torch_rdrop.bench.tasks.pooling import MeanPooledClassifier, check_pooling, mean_pool


def test_mean_pool_averages_the_kept_tokens_of_each_row() -> None:
    torch.manual_seed(0)
    states = torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    pooled = mean_pool(states, mask)
    for row, kept in enumerate([5, 2, 1]):
        torch.testing.assert_close(pooled[row], states[row, :kept].mean(dim=0))
    torch.testing.assert_close(mean_pool(states, None), states.mean(dim=1))
    assert torch.equal(mean_pool(states, torch.zeros(3, 5)), torch.zeros(3, 4))  # no 0 / 0


def test_mean_pool_names_the_shapes_it_refuses() -> None:
    with pytest.raises(ValueError, match=r"states must be \(batch, .*got shape \(2, 3\)"):
        mean_pool(torch.zeros(2, 3), None)
    with pytest.raises(ValueError, match=r"attention_mask must be .* = \(2, 3\), got \(2, 4\)"):
        mean_pool(torch.zeros(2, 3, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"pooling must be one of \('head', 'mean'\), got 'cls'"):
        check_pooling("cls")


class _Body(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)

    def get_input_embeddings(self) -> nn.Module:
        return self.embed

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> tuple:
        return (self.embed(input_ids),)


def test_the_classifier_reads_the_body_and_drops_out_before_its_head() -> None:
    torch.manual_seed(0)
    model = MeanPooledClassifier(_Body(), hidden_size=4, num_labels=3, dropout=0.5)
    assert model.get_input_embeddings() is model.body.embed
    ids, mask = torch.tensor([[1, 2, 0]]), torch.tensor([[1, 1, 0]])
    model.eval()
    expected = model.score(model.body.embed(ids[:, :2]).mean(dim=1))
    torch.testing.assert_close(model(input_ids=ids, attention_mask=mask), expected)
    model.train()
    first, second = (model(input_ids=ids, attention_mask=mask) for _ in range(2))
    assert not torch.allclose(first, second)  # two dropout passes differ: R-Drop has a term
    with pytest.raises(ValueError, match="num_labels must be >= 1, got 0"):
        MeanPooledClassifier(_Body(), hidden_size=4, num_labels=0, dropout=0.1)
