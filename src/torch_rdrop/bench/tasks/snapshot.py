"""Training snapshots: a run's whole training state on disk, so that a stopped run resumes.

A run given a :class:`~torch_rdrop.bench.engine.spec.SnapshotFile` writes its state there once
``every_seconds`` of training have passed since its last write, at the end of an optimizer step or
of an evaluated epoch (and always after its last epoch), and, when it starts and the file exists,
goes on from it: the same weights, optimizer moments, data order (within the epoch under way),
random streams and dev scores, so that a resumed run ends with the numbers an uninterrupted one
would have. A run stopped in a long epoch loses at most ``every_seconds`` of training. The file
is written beside its place and then renamed, so a run killed while writing leaves the previous
snapshot whole; it names the run it belongs to, and a file of another run is refused.

>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "run.pt"
>>> save_snapshot(path, "digits-mlp/none/K=16/seed=0", {"epoch": 3})
>>> load_snapshot(path, "digits-mlp/none/K=16/seed=0")
{'epoch': 3}
>>> load_snapshot(path, "digits-mlp/rdrop/K=16/seed=0")
Traceback (most recent call last):
...
ValueError: snapshot ...run.pt belongs to run 'digits-mlp/none/K=16/seed=0', not to \
'digits-mlp/rdrop/K=16/seed=0'; remove it to start that run afresh
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from torch_rdrop.bench.engine.spec import TrialSpec

__all__ = ["FORMAT", "READABLE", "load_snapshot", "run_identity", "save_snapshot"]

#: The layout of the snapshot files written; a file of a layout not in :data:`READABLE` is
#: refused, not misread.
FORMAT = 2

#: The layouts read: 1 was written at the end of evaluated epochs only; 2 adds the progress of an
#: epoch under way (``None`` in a snapshot written at an epoch's end).
READABLE = (1, 2)


def run_identity(spec: TrialSpec) -> str:
    """The text that names a run in its snapshot: every field of ``spec``, parameters sorted.

    >>> run_identity(TrialSpec("digits-mlp", "rdrop", 16, 0, 1, {"lr": 0.001, "alpha": 1.0}))
    '{"data_seed": 0, "init_seed": 1, "method": "rdrop", "params": {"alpha": 1.0, "lr": 0.001}, \
"shots": 16, "task": "digits-mlp", "use_dev": false}'
    """
    fields = {
        "task": spec.task, "method": spec.method, "shots": spec.shots,
        "data_seed": spec.data_seed, "init_seed": spec.init_seed,
        "params": dict(spec.params), "use_dev": spec.use_dev,
    }  # fmt: skip
    return json.dumps(fields, sort_keys=True)


def save_snapshot(path: Path, run: str, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, lists and dicts of them) for ``run`` to
    ``path``, replacing the previous snapshot only once the new one is whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    torch.save({"format": FORMAT, "run": run, "state": state}, partial)
    os.replace(partial, path)


def load_snapshot(path: Path, run: str) -> dict[str, Any] | None:
    """The state saved for ``run`` at ``path``; ``None`` when there is no file. Raise
    ``ValueError`` for a file of another run or layout (it is kept: it may be another run's)."""
    if not path.exists():
        return None
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or saved.get("format") not in READABLE:
        found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
        raise ValueError(
            f"snapshot {path} has layout {found!r}, not one of {READABLE}; remove it to start "
            "afresh"
        )
    if saved["run"] != run:
        raise ValueError(
            f"snapshot {path} belongs to run {saved['run']!r}, not to {run!r}; remove it to "
            "start that run afresh"
        )
    return saved["state"]
