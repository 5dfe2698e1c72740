"""torch.compile works with the wrapper: a compiled model inside it, and the wrapper compiled."""

from __future__ import annotations

import torch
from torch import nn

from torch_rdrop import RDrop


def net() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def test_compiled_model_inside_the_wrapper_matches_eager() -> None:
    model = net()
    x, y = torch.randn(6, 5), torch.randint(0, 3, (6,))
    torch.manual_seed(2)
    eager = RDrop(model, alpha=0.5)(x, target=y)
    torch.manual_seed(2)
    compiled = RDrop(torch.compile(model, backend="aot_eager"), alpha=0.5)(x, target=y)
    torch.testing.assert_close(compiled.loss, eager.loss)
    compiled.loss.backward()
    assert model[0].weight.grad is not None


def test_compiled_wrapper_trains() -> None:
    model = net()
    rd = torch.compile(RDrop(model, alpha=1.0), backend="aot_eager")
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(5):
        out = rd(x, target=y)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.loss.item())
    assert out.consistency.item() > 0
    assert losses[-1] < losses[0]
    rd.eval()
    assert rd(x).shape == (8, 3)
