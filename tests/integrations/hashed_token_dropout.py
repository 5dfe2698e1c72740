"""A deterministic stand-in for LoRA's dropout in a real causal LM, for exact comparisons.

Real dropout masks follow the RNG, so a batch split into micro-batches, or packed into one row,
draws other masks than the whole batch. Here the mask of a token is a fixed function of its
sequence (a hash of the sequence's token ids), its position in that sequence, the copy (the
first or second occurrence of the same row in the stacked R-Drop batch) and the unit: the two
passes still differ, but any split, padding or packing of the same sequences sees the same masks.

``install(peft_model, p)`` swaps every LoRA dropout for it and hooks the backbone to read the
token ids and positions of each forward.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def _row_copies(ids: Tensor) -> Tensor:
    """For each row, how many earlier rows are identical to it."""
    same = (ids.unsqueeze(1) == ids.unsqueeze(0)).all(-1)
    earlier = torch.ones_like(same).tril(-1)
    return (same & earlier).sum(1)


def token_keys(ids: Tensor, positions: Tensor) -> Tensor:
    """For each token, a hash of the whole sequence it belongs to (sequences restart where the
    position is 0; padding, id 0, adds nothing)."""
    segment = (positions == 0).long().cumsum(-1)
    weights = ids.double() * (1.0 + 0.61803 * positions.double())
    keys = torch.zeros(ids.shape[0], ids.shape[1] + 1, dtype=torch.float64)
    keys.scatter_add_(1, segment, weights)
    return keys.gather(1, segment)


class TokenHashState:
    """What the hooked backbone saw last: per-token keys, positions and copy index."""

    keys: Tensor
    positions: Tensor
    copies: Tensor

    def read(self, module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        positions = kwargs.get("position_ids")
        if positions is None:
            positions = torch.arange(ids.shape[1]).expand_as(ids)
        self.positions = positions.expand_as(ids)
        self.keys = token_keys(ids, self.positions)
        self.copies = _row_copies(ids)


class HashedTokenDropout(nn.Module):
    """Dropout on ``[rows, tokens, units]`` whose mask is a hash of (sequence, position, copy,
    unit), read from a shared :class:`TokenHashState`."""

    def __init__(self, state: TokenHashState, p: float, salt: float) -> None:
        super().__init__()
        self.state, self.p, self.salt = state, p, salt

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        state = self.state
        units = torch.arange(x.shape[-1], dtype=torch.float64)
        angle = (
            state.keys.unsqueeze(-1) * 12.9898
            + state.positions.double().unsqueeze(-1) * 4.1414
            + state.copies.double().view(-1, 1, 1) * 78.233
            + units * 0.37719
            + self.salt
        )
        keep = torch.frac(torch.sin(angle) * 43758.5453).abs() >= self.p
        return x * keep.to(x.dtype) / (1 - self.p)


def install(peft_model: nn.Module, p: float) -> TokenHashState:
    """Replace each LoRA dropout of ``peft_model`` by a :class:`HashedTokenDropout` (rate ``p``)."""
    state = TokenHashState()
    base = peft_model.get_base_model()
    base.model.register_forward_pre_hook(state.read, with_kwargs=True)
    salt = 0.0
    for module in peft_model.modules():
        dropouts = getattr(module, "lora_dropout", None)
        if isinstance(dropouts, nn.ModuleDict):
            for name in list(dropouts):
                salt += 1.0
                dropouts[name] = HashedTokenDropout(state, p, salt)
    return state
