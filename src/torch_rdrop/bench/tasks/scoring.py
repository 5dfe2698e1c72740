"""What a training run watches, which checkpoint it keeps, and what it scores at the end.

>>> import torch
>>> from torch_rdrop.bench.engine.spec import TrialSpec
>>> from torch_rdrop.bench.tasks.catalog import get_task
>>> task = get_task("digits-mlp")
>>> settings = {"select": "best", "score_on": "test", "dev_shots": 4}
>>> plan = Scoring(task, TrialSpec("digits-mlp", "none", 16, 0, 0), settings)
>>> model = torch.nn.Linear(2, 1)
>>> for epoch, dev in enumerate([0.5, 0.8, 0.7]):
...     plan.observe(model, epoch, dev)
>>> plan.curve, plan.dev_shots, plan.best_epoch
('dev_accuracy', 4, 2)
>>> plan.final(lambda: 0.75, model)
{'dev_accuracy': 0.8, 'best_epoch': 2.0, 'accuracy': 0.75}
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from torch_rdrop.bench.engine.spec import TrialSpec

if TYPE_CHECKING:
    from torch_rdrop.bench.tasks.catalog import Task

__all__ = ["Scoring"]


class Scoring:
    """Which split a run watches, which checkpoint it keeps, and what it scores at the end.

    ``select="last"`` without a dev split watches the test split after every evaluated epoch and
    reports the last value (the protocol of the short-recipe studies). With a dev split
    (``select="best"``, ``score_on="dev"`` or ``spec.use_dev``) the dev split is watched; with
    ``select="best"`` the best dev checkpoint is kept and restored. The test split is scored
    once at the end, unless the run scores dev only.
    """

    def __init__(self, task: Task, spec: TrialSpec, settings: dict[str, Any]) -> None:
        self.metric = task.metric
        self.greater = task.higher_is_better
        self.best = settings["select"] == "best"
        self.dev_only = spec.use_dev or settings["score_on"] == "dev"
        uses_dev = self.best or self.dev_only
        self.dev_shots = int(settings["dev_shots"]) if uses_dev else 0
        self.curve = f"dev_{task.metric}" if uses_dev else task.metric
        self.scores: list[float] = []
        self.best_epoch, self.best_value = 0, math.nan
        self.state: dict[str, Tensor] | None = None

    def observe(self, model: nn.Module, epoch: int, value: float) -> None:
        """Record the score after ``epoch``; keep a copy of the weights if it is the best yet."""
        improved = not self.scores or (
            value > max(self.scores) if self.greater else value < min(self.scores)
        )
        self.scores.append(value)
        if self.best and improved:
            self.best_epoch, self.best_value = epoch + 1, value
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def snapshot(self) -> dict[str, Any]:
        """The scores so far and the best checkpoint, for a run's snapshot."""
        return {"scores": self.scores, "best_epoch": self.best_epoch,
                "best_value": self.best_value, "state": self.state}  # fmt: skip

    def restore(self, saved: dict[str, Any]) -> None:
        """Take back what :meth:`snapshot` gave."""
        self.scores, self.state = list(saved["scores"]), saved["state"]
        self.best_epoch, self.best_value = int(saved["best_epoch"]), float(saved["best_value"])

    def final(self, score_test: Callable[[], float], model: nn.Module) -> dict[str, float]:
        """The final metrics; restores the best checkpoint first under ``select="best"``."""
        if self.best and self.state is not None:
            model.load_state_dict(self.state)
        watched = self.best_value if self.best else self.scores[-1]
        if self.curve == self.metric:  # test watched, last epoch reported
            return {self.metric: watched}
        final = {f"dev_{self.metric}": watched}
        if self.best:
            final["best_epoch"] = float(self.best_epoch)
        final[self.metric] = watched if self.dev_only else float(score_test())
        return final
