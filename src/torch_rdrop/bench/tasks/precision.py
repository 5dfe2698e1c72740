"""The precision a benchmark run trains in, by name (the trial parameter ``precision``).

``"fp32"`` trains in float32 throughout. ``"bf16"`` runs each training step's forward pass and
loss under bfloat16 autocast, while the weights, the optimizer and every evaluation stay in
float32. On CPUs with bfloat16 instructions (AVX512-BF16, AMX) a step of the character LM took
0.59 of its fp32 time in ``benchmarks/backbone_step.py --precisions fp32,bf16``; a whole run
beside another on the same cores gained much less (11-12 against 12-13 minutes an epoch).

>>> from torch import nn
>>> with training_precision(nn.Linear(2, 2), "bf16"):
...     nn.Linear(2, 2)(torch.ones(1, 2)).dtype
torch.bfloat16
>>> check_precision("fp16")
Traceback (most recent call last):
...
ValueError: precision must be one of ('fp32', 'bf16'), got 'fp16'
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from types import MappingProxyType

import torch
from torch import nn

__all__ = ["PRECISIONS", "check_precision", "training_precision"]

#: The dtype a training step's forward pass and loss run in, by name.
PRECISIONS: Mapping[str, torch.dtype] = MappingProxyType(
    {"fp32": torch.float32, "bf16": torch.bfloat16}
)


def check_precision(precision: object) -> str:
    """``precision`` if it names one of :data:`PRECISIONS`, else a ``ValueError``."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {precision!r}")
    return precision


def training_precision(model: nn.Module, precision: str) -> contextlib.AbstractContextManager:
    """The context a training step's forward pass and loss run in: autocast to the precision's
    dtype on the model's device, or nothing for ``"fp32"``."""
    dtype = PRECISIONS[check_precision(precision)]
    if dtype == torch.float32:
        return contextlib.nullcontext()
    device = next(model.parameters()).device.type
    return torch.autocast(device_type=device, dtype=dtype)
