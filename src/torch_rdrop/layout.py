"""Batch layouts: how ``k`` copies of a batch are stacked for one forward, and split back.

``"concat"`` stacks whole copies, ``cat([x, x])`` (the official trick: rows ``[0, B)`` are the
first pass); ``"interleave"`` puts the copies of an example next to each other,
``x.repeat_interleave(k, 0)`` (bert4keras' layout); ``"sequential"`` does not stack at all and
runs ``k`` separate forwards. The first two give the same objective as the third in one call of
size ``k * B``, which is faster; note that batch norm then sees the stacked batch.

Only tensors whose first dimension equals the batch size are stacked; everything else (scalars,
position tables, a loss) is passed through untouched.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import torch
from torch import Tensor

from torch_rdrop._nested import iter_tensors, map_tensors

Layout = Literal["concat", "interleave", "sequential"]
LAYOUTS: tuple[str, ...] = get_args(Layout)


def check_layout(layout: str) -> None:
    """Raise unless ``layout`` is one of :data:`LAYOUTS`."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")


def batch_size_of(obj: Any) -> int:
    """Size of the first dimension of the first tensor with at least one dimension in ``obj``.

    >>> batch_size_of({"mask": torch.ones(3, 5), "ids": torch.zeros(3, 5)})
    3
    """
    for tensor in iter_tensors(obj):
        if tensor.dim() > 0:
            return tensor.shape[0]
    raise ValueError("no tensor with a batch dimension found in the model inputs")


def stack_copies(obj: Any, batch_size: int, passes: int, layout: Layout) -> Any:
    """Stack ``passes`` copies of every batch tensor in ``obj`` along dim 0.

    >>> stack_copies({"x": torch.tensor([1, 2]), "t": torch.tensor(7)}, 2, 2, "interleave")
    {'x': tensor([1, 1, 2, 2]), 't': tensor(7)}
    """
    check_layout(layout)
    if layout == "sequential":
        raise ValueError("layout 'sequential' does not stack copies; run separate forwards")

    def stack(tensor: Tensor) -> Tensor:
        if tensor.dim() == 0 or tensor.shape[0] != batch_size:
            return tensor
        if layout == "concat":
            return torch.cat([tensor] * passes, dim=0)
        return tensor.repeat_interleave(passes, dim=0)

    return map_tensors(stack, obj)


def split_copies(obj: Any, batch_size: int, passes: int, layout: Layout) -> list[Any]:
    """Split a stacked output back into ``passes`` outputs of batch size ``batch_size``.

    Tensors whose first dimension is not ``passes * batch_size`` are shared by every part.

    >>> first, second = split_copies(torch.arange(6), 3, 2, "concat")
    >>> first.tolist(), second.tolist()
    ([0, 1, 2], [3, 4, 5])
    >>> [p.tolist() for p in split_copies(torch.arange(6), 3, 2, "interleave")]
    [[0, 2, 4], [1, 3, 5]]
    """
    check_layout(layout)
    stacked = passes * batch_size

    def part(index: int):
        def take(tensor: Tensor) -> Tensor:
            if tensor.dim() == 0 or tensor.shape[0] != stacked:
                return tensor
            if layout == "concat":
                return tensor[index * batch_size : (index + 1) * batch_size]
            return tensor.unflatten(0, (batch_size, passes))[:, index]

        return take

    return [map_tensors(part(i), obj) for i in range(passes)]
