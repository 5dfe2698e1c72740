"""Images to tensors: ``pixel_values [B, 1, H, W]`` scaled to [0, 1] and standardised.

The batch follows the encoders' convention of :mod:`torch_rdrop.bench.tasks.text`: the model's
keyword arguments plus ``labels``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from torch_rdrop.bench.tasks.data.base import ClassificationData

__all__ = ["PixelEncoder"]


@dataclass(frozen=True)
class PixelEncoder:
    """Scale by ``1 / max_value``, then standardise with the training split's mean and std.

    >>> from torch_rdrop.bench.tasks.data.base import ClassificationData
    >>> images = np.stack([np.zeros((2, 2)), np.full((2, 2), 16.0)])
    >>> d = ClassificationData("toy", images, [0, 1], ("a", "b"), [0, 1], [], None, "-")
    >>> b = PixelEncoder.fit(d, max_value=16.0).batch(d, [1])
    >>> b["pixel_values"].shape, b["pixel_values"].flatten().tolist(), b["labels"].tolist()
    (torch.Size([1, 1, 2, 2]), [1.0, 1.0, 1.0, 1.0], [1])
    """

    max_value: float
    mean: float
    std: float

    @classmethod
    def fit(cls, data: ClassificationData, max_value: float = 255.0) -> PixelEncoder:
        """Mean and standard deviation of the scaled training images."""
        if not isinstance(data.inputs, np.ndarray) or data.inputs.ndim != 3:
            raise ValueError(f"{data.name}: inputs must be an image array [N, H, W]")
        if max_value <= 0:
            raise ValueError(f"max_value must be positive, got {max_value}")
        train = np.asarray(data.inputs[data.train], dtype=np.float64) / max_value
        return cls(max_value, float(train.mean()), float(train.std()) or 1.0)

    def batch(self, data: ClassificationData, indices: Sequence[int] | np.ndarray) -> dict:
        """``pixel_values`` ``[B, 1, H, W]`` (float32) and ``labels`` ``[B]``."""
        idx = np.asarray(indices, dtype=np.int64)
        images = torch.as_tensor(np.asarray(data.inputs[idx], dtype=np.float32))
        pixels: Tensor = (images / self.max_value - self.mean) / self.std
        return {"pixel_values": pixels.unsqueeze(1), "labels": torch.as_tensor(data.labels[idx])}
