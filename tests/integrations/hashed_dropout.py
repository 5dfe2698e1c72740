"""A deterministic stand-in for dropout, for exact invariant tests across batch splits.

A real dropout mask depends on the RNG state, so two runs that split a batch differently (gradient
accumulation, processes) draw different masks and cannot be compared exactly. Here the mask of an
example is a fixed function of its id ``uid``, of which copy of the example it is (the first or
the second occurrence of the id in the stacked batch) and of the unit: the passes still differ,
but every split of the batch sees the same masks. Torch only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def copy_index(uid: Tensor) -> Tensor:
    """For each row, how many earlier rows hold the same id (0 for the first pass, 1 for the
    second, ...), whatever the layout of the stacked batch."""
    same = uid.view(-1, 1) == uid.view(1, -1)
    earlier = torch.ones_like(same).tril(-1)
    return (same & earlier).sum(1)


def hashed_keep(uid: Tensor, shape: tuple[int, ...], p: float) -> Tensor:
    """A keep-mask of shape ``[len(uid), *shape]`` that depends only on the id, copy and unit."""
    copy = copy_index(uid).double()
    units = torch.arange(int(torch.tensor(shape).prod()), dtype=torch.float64).view(1, *shape)
    lead = (-1,) + (1,) * len(shape)
    key = uid.double().view(lead) * 12.9898 + copy.view(lead) * 78.233
    noise = torch.frac(torch.sin(key + units * 0.37719) * 43758.5453).abs()
    return noise >= p


class HashedDropoutNet(nn.Module):
    """``forward(x, uid) -> logits``: a two-layer classifier with hashed dropout."""

    def __init__(self, features: int = 6, hidden: int = 16, classes: int = 3, p: float = 0.3):
        super().__init__()
        self.inp = nn.Linear(features, hidden)
        self.out = nn.Linear(hidden, classes)
        self.p = p

    def forward(self, x: Tensor, uid: Tensor) -> Tensor:
        h = torch.tanh(self.inp(x))
        if self.training and self.p > 0:
            h = h * hashed_keep(uid, (h.shape[-1],), self.p).to(h.dtype) / (1 - self.p)
        return self.out(h)


def examples(n: int = 16, features: int = 6, classes: int = 3) -> list[dict[str, Tensor]]:
    """``n`` fixed random examples ``{"x", "uid", "labels"}``."""
    gen = torch.Generator().manual_seed(1234)
    x = torch.randn(n, features, generator=gen)
    labels = torch.randint(0, classes, (n,), generator=gen)
    return [{"x": x[i], "uid": torch.tensor(i), "labels": labels[i]} for i in range(n)]
