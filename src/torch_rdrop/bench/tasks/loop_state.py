"""The state a training run carries from step to step, which its snapshot holds.

:class:`LoopState` gathers every object with a state of its own (weights, optimizer moments, the
data-order generator, the torch random stream, the method's step, the dev scores and best
checkpoint, the unlabelled pool's order) with the epochs, steps and seconds so far and what the
run started from (its data and weights, :mod:`.provenance`: a resumed run keeps what it first
started from, even if a checkpoint folder changed since), and writes
them to a :class:`~torch_rdrop.bench.engine.spec.SnapshotFile` or takes them back from one
(:mod:`.snapshot`); :class:`EpochProgress` is how far the epoch under way got, so that a run
stopped within a long epoch goes on from the step it had reached.

>>> import numpy as np
>>> progress = EpochProgress(np.array([3, 0, 2, 1]))
>>> progress.step(2, 0.9, 1.5)
>>> progress.at, progress.losses, progress.seconds
(2, [0.9], 1.5)
>>> again = EpochProgress.from_state(progress.to_state())
>>> again.rows.tolist(), again.at, again.losses, again.seconds
([3, 0, 2, 1], 2, [0.9], 1.5)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from torch_rdrop.bench.engine.spec import REPLAYED, EpochCallback, SnapshotFile, TrialSpec
from torch_rdrop.bench.tasks.scoring import Scoring
from torch_rdrop.bench.tasks.snapshot import load_snapshot, run_identity, save_snapshot

__all__ = ["EpochProgress", "LoopState", "UnlabelledPool"]


class UnlabelledPool(Protocol):
    """The part of a semi-supervised run's unlabelled pool that a snapshot holds: its shuffled
    order, the position reached in it and its consistency method (with a step count)."""

    order: np.ndarray
    at: int
    method: Any


@dataclasses.dataclass(eq=False)
class EpochProgress:
    """How far an epoch got: its shuffled training rows, how many of them were trained on, the
    mean loss of each step and the training seconds so far."""

    rows: np.ndarray
    at: int = 0
    losses: list[float] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def step(self, rows: int, loss: float, seconds: float) -> None:
        """Count an optimizer step on the next ``rows`` rows."""
        self.at += rows
        self.losses.append(loss)
        self.seconds += seconds

    def to_state(self) -> dict[str, Any]:
        """The progress as a snapshot holds it (tensors, numbers and lists)."""
        return {
            "rows": torch.from_numpy(self.rows), "at": self.at, "losses": self.losses,
            "seconds": self.seconds,
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EpochProgress:
        """The progress :meth:`to_state` saved."""
        rows = state["rows"].numpy()
        return cls(rows, int(state["at"]), list(state["losses"]), float(state["seconds"]))


class LoopState:
    """The state of a training loop that a snapshot holds: the epoch to start from (and how far
    it got, when the snapshot was written within it), the steps and training seconds so far, the
    learning curves, and every object with a state of its own (weights, optimizer moments, the
    data-order generator, the torch random stream, the method's step, the dev scores and best
    checkpoint, the unlabelled pool's order)."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        method: Any,
        order: np.random.Generator,
        plan: Scoring,
        unlabelled: UnlabelledPool | None,
        started_from: dict[str, str] | None = None,
    ) -> None:
        self.model, self.optimizer, self.method, self.order = model, optimizer, method, order
        self.plan, self.unlabelled = plan, unlabelled
        self.started_from = dict(started_from or {})
        self.epoch, self.steps, self.seconds, self.unsaved = 0, 0, 0.0, 0.0
        self.curves: dict[str, list[float]] = {plan.curve: [], "train_loss": []}
        self.evaluated_epochs: list[int] = []
        self.unfinished: EpochProgress | None = None  # of epoch ``self.epoch``, when resumed

    def stepped(self, seconds: float) -> None:
        """Count an optimizer step that took ``seconds``."""
        self.steps += 1
        self.unsaved += seconds

    def trained(self, epoch: int, seconds: float) -> None:
        """Count an epoch of training that took ``seconds`` (evaluation is not counted)."""
        self.epoch = epoch + 1
        self.seconds += seconds

    def evaluated(self, epoch: int, value: float, train_loss: float) -> dict[str, float]:
        """Record the watched score and the mean training loss after ``epoch``."""
        self.curves[self.plan.curve].append(value)
        self.curves["train_loss"].append(train_loss)  # at the evaluated epochs
        self.evaluated_epochs.append(epoch)
        self.plan.observe(self.model, epoch, value)
        return {self.plan.curve: value, "train_loss": train_loss}

    def save(
        self,
        snapshot: SnapshotFile,
        spec: TrialSpec,
        last: bool = False,
        unfinished: EpochProgress | None = None,
    ) -> None:
        """Write the snapshot if ``every_seconds`` of training passed since the last, or
        ``last``; ``unfinished``: the progress of the epoch under way (written within it)."""
        if not last and self.unsaved < snapshot.every_seconds:
            return
        unlabelled = self.unlabelled
        state = {
            "epoch": self.epoch, "steps": self.steps, "seconds": self.seconds,
            "curves": self.curves, "evaluated_epochs": self.evaluated_epochs,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "order": self.order.bit_generator.state, "torch_rng": torch.get_rng_state(),
            "method_step": self.method.step, "scoring": self.plan.snapshot(),
            "unlabelled": None if unlabelled is None else {
                "order": torch.from_numpy(unlabelled.order), "at": unlabelled.at,
                "step": unlabelled.method.step,
            },
            "unfinished": None if unfinished is None else unfinished.to_state(),
            "started_from": self.started_from,
        }  # fmt: skip
        save_snapshot(snapshot.path, run_identity(spec), state)
        self.unsaved = 0.0

    def resume(
        self, snapshot: SnapshotFile, spec: TrialSpec, on_epoch: EpochCallback | None
    ) -> None:
        """Take the state of ``snapshot`` if it exists, and report its evaluated epochs again
        (to a new trial of the store) through ``on_epoch``."""
        state = load_snapshot(snapshot.path, run_identity(spec))
        if state is None:
            return
        self.epoch, self.steps, self.seconds = state["epoch"], state["steps"], state["seconds"]
        self.curves, self.evaluated_epochs = state["curves"], state["evaluated_epochs"]
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.order.bit_generator.state = state["order"]
        torch.set_rng_state(state["torch_rng"])
        self.method.set_step(state["method_step"])
        self.plan.restore(state["scoring"])
        if self.unlabelled is not None:
            pool = state["unlabelled"]
            self.unlabelled.order, self.unlabelled.at = pool["order"].numpy(), pool["at"]
            self.unlabelled.method.set_step(pool["step"])
        unfinished = state.get("unfinished")  # absent from snapshots of layout 1
        self.unfinished = None if unfinished is None else EpochProgress.from_state(unfinished)
        # absent from snapshots written before runs stored it: what the run finds now, then
        self.started_from = dict(state.get("started_from", self.started_from))
        if on_epoch is None:
            return
        watched, losses = self.curves[self.plan.curve], self.curves["train_loss"]
        for epoch, value, loss in zip(self.evaluated_epochs, watched, losses, strict=True):
            on_epoch(epoch, value, {self.plan.curve: value, "train_loss": loss, REPLAYED: 1.0})
