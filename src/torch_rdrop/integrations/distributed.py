"""Per-rank seeding, so that data-parallel ranks draw different dropout masks.

Seeding every rank with the same seed (what ``set_seed(seed)`` and ``L.seed_everything(seed)``
do) gives every rank the same random stream: each rank then drops the same units of its own
examples, step after step. R-Drop wants independent masks. Seed rank ``r`` with ``seed + r``
instead: rank 0 keeps the single-process stream, the others get their own.

>>> rank_seed(42, rank=3)
45
"""

from __future__ import annotations

import gc
import os
import random

import torch

__all__ = ["current_rank", "rank_seed", "seed_per_rank", "shutdown_process_group", "world_size"]


def current_rank() -> int:
    """Global rank of this process: from ``torch.distributed`` if initialised, else ``$RANK``.

    >>> current_rank() >= 0
    True
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """Number of processes: from ``torch.distributed`` if initialised, else ``$WORLD_SIZE``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank_seed(seed: int, rank: int | None = None) -> int:
    """The seed of rank ``rank`` (default: this process's rank): ``seed + rank``."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    rank = current_rank() if rank is None else rank
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
        raise ValueError(f"rank must be an integer >= 0, got {rank!r}")
    return seed + rank


def seed_per_rank(seed: int, rank: int | None = None) -> int:
    """Seed Python's, NumPy's (if installed) and torch's generators with ``seed + rank``.

    Call it after the model is built (so every rank starts from the same weights) and before
    training. Returns the seed used.

    >>> seed_per_rank(7, rank=1)
    8
    >>> a = torch.rand(3); _ = seed_per_rank(7, rank=1); torch.equal(a, torch.rand(3))
    True
    """
    value = rank_seed(seed, rank)
    random.seed(value)
    torch.manual_seed(value)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return value
    np.random.seed(value % 2**32)
    return value


def shutdown_process_group() -> None:
    """Tear the default process group down cleanly at the end of a distributed script.

    Call it after dropping your references to the DDP model and trainer: it collects garbage
    (so nothing still holds the group), waits for every rank, and destroys the group. A gloo group
    left alive at interpreter exit can abort the process with "terminate called without an active
    exception" after the work is done. Without a process group it does nothing.

    >>> shutdown_process_group()  # no group: a no-op
    """
    gc.collect()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
