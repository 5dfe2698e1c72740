"""The R-Drop regularizer passes its configuration through to the core wrapper."""

from __future__ import annotations

import torch
from torch import nn

from torch_rdrop.regularizers import build_regularizer


def test_rdrop_cheap_mode_reaches_the_wrapper() -> None:
    net = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 3))
    seen: list[int] = []
    net[2].register_forward_hook(lambda m, a, o: seen.append(o.shape[0]) and None)
    net[0].register_forward_hook(lambda m, a, o: seen.append(o.shape[0]) and None)
    method = build_regularizer("rdrop", duplicate_from="1")
    out = method.training_loss(net, torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]))
    assert seen == [5, 10]
    assert out.parts["consistency"].item() > 0
