"""Padding-free (packed) batches and the stacked R-Drop copies.

A padding-free batch (TRL's ``padding_free=True``, or packing with the ``"bfd"`` strategies)
flattens several sequences into one row: ``position_ids`` restart at 0 at each sequence and
``cu_seq_lens_q`` / ``cu_seq_lens_k`` hold the cumulative sequence lengths of the flattened
tokens, which varlen (flash) attention kernels read instead of the positions. Stacking the copies
of such a batch along dim 0 keeps each copy in its own row, so masks built from ``position_ids``
(SDPA, eager) stay right; but the cumulative lengths must then describe every copy, or a varlen
kernel would score the second copy as the continuation of the first.
:func:`stack_sequence_boundaries` rewrites them for the stacked batch. Torch only.

>>> import torch
>>> batch = {"input_ids": torch.zeros(1, 5, dtype=torch.long),
...          "position_ids": torch.tensor([[0, 1, 2, 0, 1]]),
...          "cu_seq_lens_q": torch.tensor([0, 3, 5])}
>>> stack_sequence_boundaries(batch, passes=2, layout="concat")["cu_seq_lens_q"].tolist()
[0, 3, 5, 8, 10]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from torch_rdrop.layout import Layout, check_layout

__all__ = ["BOUNDARY_KEYS", "is_padding_free", "stack_sequence_boundaries"]

#: Inputs holding cumulative sequence lengths of the flattened batch.
BOUNDARY_KEYS: tuple[str, ...] = ("cu_seq_lens_q", "cu_seq_lens_k")


def is_padding_free(inputs: Mapping[str, Any]) -> bool:
    """Whether ``inputs`` are a padding-free batch: sequence boundaries or positions, no mask.

    >>> import torch
    >>> is_padding_free({"input_ids": torch.ones(1, 4), "position_ids": torch.ones(1, 4)})
    True
    >>> is_padding_free({"input_ids": torch.ones(2, 4), "attention_mask": torch.ones(2, 4)})
    False
    """
    if any(key in inputs for key in BOUNDARY_KEYS):
        return True
    return inputs.get("attention_mask") is None and inputs.get("position_ids") is not None


def stack_sequence_boundaries(
    inputs: Mapping[str, Any], passes: int, layout: Layout
) -> dict[str, Any]:
    """``inputs`` with ``cu_seq_lens_*`` extended to the ``passes`` stacked copies of the batch.

    Copy ``j`` of the flattened tokens starts ``j * numel(input_ids)`` tokens in. The layout
    ``"sequential"`` runs each copy alone and keeps the boundaries; ``"interleave"`` of a batch
    of several rows would interleave their sequences and is refused (``"concat"`` works).
    """
    check_layout(layout)
    out = dict(inputs)
    present = [key for key in BOUNDARY_KEYS if isinstance(inputs.get(key), torch.Tensor)]
    if not present or layout == "sequential" or passes == 1:
        return out
    ids = inputs.get("input_ids")
    if not isinstance(ids, torch.Tensor):
        raise ValueError("a padding-free batch with cu_seq_lens needs input_ids to count tokens")
    if layout == "interleave" and ids.shape[0] > 1:
        raise ValueError(
            f"layout 'interleave' cannot stack a padding-free batch of {ids.shape[0]} rows "
            f"(input_ids shape {tuple(ids.shape)}); use layout 'concat'"
        )
    tokens = ids.numel()
    for key in present:
        bounds = inputs[key]
        if bounds.dim() != 1 or int(bounds[-1]) != tokens:
            raise ValueError(
                f"{key} must be the cumulative lengths of the {tokens} flattened tokens of "
                f"input_ids {tuple(ids.shape)}, got {bounds.tolist()}"
            )
        shifted = [bounds[1:] + copy * tokens for copy in range(1, passes)]
        out[key] = torch.cat([bounds, *shifted])
    return out
