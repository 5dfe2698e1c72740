"""Every method learns: the clean loss of the bare model falls on small learnable problems."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from regularizers.toy_models import LSTMClassifier, dense_task, mlp, token_task
from torch_rdrop.regularizers import METHODS, build_regularizer

OPTIONS = {"tmix": {"layers": (0, 1)}}
STEPS = 25


def clean_loss(model: nn.Module, x: Tensor, y: Tensor) -> float:
    model.eval()
    with torch.no_grad():
        loss = F.cross_entropy(model(x), y).item()
    model.train()
    return loss


def train(model: nn.Module, method: str, x: Tensor, y: Tensor) -> tuple[float, float]:
    regularizer = build_regularizer(method, **OPTIONS.get(method, {}))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    before = clean_loss(model, x, y)
    for step in range(STEPS):
        rows = torch.arange(step * 16, step * 16 + 16) % x.shape[0]
        optimizer.zero_grad()
        regularizer.training_loss(model, x[rows], y[rows]).loss.backward()
        optimizer.step()
    return before, clean_loss(model, x, y)


@pytest.mark.parametrize("method", METHODS)
def test_dense_problem(method: str) -> None:
    x, y = dense_task()
    before, after = train(mlp(), method, x, y)
    assert after < 0.4 * before


@pytest.mark.parametrize("method", METHODS)
def test_token_problem(method: str) -> None:
    x, y = token_task()
    before, after = train(LSTMClassifier(), method, x, y)
    assert after < 0.4 * before
