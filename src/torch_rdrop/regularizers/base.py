"""The common interface of the training regularizers: one entry point, the loss and its parts.

Every method is a small class built from a typed, frozen config dataclass and has one entry point::

    out = method.training_loss(model, batch, target=None, task_loss=None)
    out.loss.backward()        # exactly once, scaled as the caller likes
    optimizer.step()

The contract, shared by all methods:

- ``batch`` holds the model inputs: a tensor (called as ``model(batch)``), a mapping
  (``model(**batch)``, e.g. a Hugging Face batch) or a tuple / list (``model(*batch)``).
- ``target`` is the task target. If it is None and ``batch`` is a mapping with ``"labels"``, the
  labels are the target and are not passed to the model (the task loss is computed here, from the
  logits, so that MixUp can mix it).
- ``task_loss(logits, target) -> scalar`` defaults to
  :func:`torch_rdrop.functional.cross_entropy` (class indices with ``-100`` ignored, or soft
  targets).
- The method runs every forward pass its algorithm needs. Adversarial methods take the gradient
  with respect to their perturbation with ``torch.autograd.grad``: they never call ``backward``,
  never read or write any parameter's ``.grad``, never step an optimizer and never write a
  parameter (the perturbation is added to the embedding *output* by a forward hook, so the
  embedding weights stay bit-exactly what they were). The returned ``loss`` is built so that one
  ``loss.backward()`` accumulates exactly the gradient of the method's algorithm. Hence the
  returned loss can be scaled (gradient accumulation) and returned from a Hugging Face Trainer's
  ``compute_loss`` like any other loss, and gradients already accumulated in ``.grad`` do not
  change the attack direction.
- Hooks live only for the duration of the call (removed in ``finally``). Evaluation is the bare
  model: call ``model`` itself in eval mode.
- ``parts`` are the weighted terms of the loss, detached; they add up to ``loss``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from torch_rdrop.functional import cross_entropy
from torch_rdrop.wrapper import default_logits

__all__ = [
    "Batch",
    "LogitsFn",
    "Regularizer",
    "RegularizerOutput",
    "TaskLoss",
    "call_model",
    "split_target",
]

Batch = Tensor | Mapping[str, Any] | tuple[Any, ...] | list[Any]
TaskLoss = Callable[[Tensor, Tensor], Tensor]
LogitsFn = Callable[[Any], Tensor]


@dataclass
class RegularizerOutput:
    """What :meth:`Regularizer.training_loss` returns.

    Attributes:
        loss: the training loss; call ``backward()`` on it once.
        parts: the weighted terms of ``loss``, detached, for logging; they sum to ``loss``.
        output: the model output of the method's main forward (the clean pass; for MixUp the
            mixed pass).
        details: what the method drew or computed (lambda, permutation, layer, perturbations...).
    """

    loss: Tensor
    parts: dict[str, Tensor]
    output: Any
    details: dict[str, Any] = field(default_factory=dict)


def call_model(model: Callable[..., Any], batch: Batch) -> Any:
    """Call ``model`` on a batch: a tensor positionally, a mapping as keywords, a tuple unpacked.

    >>> import torch
    >>> call_model(lambda x, y: x + y, (torch.tensor(1), torch.tensor(2))).item()
    3
    """
    if isinstance(batch, Tensor):
        return model(batch)
    if isinstance(batch, Mapping):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    raise ValueError(
        f"batch must be a tensor, a mapping or a tuple/list of model inputs, "
        f"got {type(batch).__name__}"
    )


def split_target(batch: Batch, target: Tensor | None) -> tuple[Batch, Tensor | None]:
    """Take the target out of a mapping batch's ``"labels"`` when ``target`` is None.

    >>> import torch
    >>> batch = {"input_ids": torch.ones(2, 3), "labels": torch.tensor([0, 1])}
    >>> inputs, y = split_target(batch, None)
    >>> sorted(inputs), y.tolist()
    (['input_ids'], [0, 1])
    """
    if target is None and isinstance(batch, Mapping) and "labels" in batch:
        target = batch["labels"]
        batch = {key: value for key, value in batch.items() if key != "labels"}
    return batch, target


def require_target(target: Tensor | None, method: str) -> Tensor:
    """Raise unless a target was given (every method but R-Drop needs one)."""
    if target is None:
        raise ValueError(
            f"target is None: the {method} regularizer needs a task target; pass target= or a "
            "mapping batch with 'labels'"
        )
    return target


class Regularizer(ABC):
    """A training method behind the common entry point :meth:`training_loss`.

    Args:
        logits_fn: picks the logits from the model output (default: the tensor itself,
            ``.logits`` or ``["logits"]``).
    """

    #: The method's name, as :func:`~torch_rdrop.regularizers.build_regularizer` spells it.
    name: str = ""

    def __init__(self, logits_fn: LogitsFn | None = None) -> None:
        self.logits_fn = logits_fn or default_logits
        self.step = 0

    def set_step(self, step: int) -> None:
        """Set the training step that schedules (R-Drop's alpha) are evaluated at."""
        self.step = int(step)

    def task(self, task_loss: TaskLoss | None) -> TaskLoss:
        """The task loss to use: the given one, or cross-entropy."""
        return task_loss or cross_entropy

    @abstractmethod
    def training_loss(
        self,
        model: nn.Module,
        batch: Batch,
        target: Tensor | None = None,
        task_loss: TaskLoss | None = None,
    ) -> RegularizerOutput:
        """Run the method's passes on ``batch`` and return the training loss and its parts."""

    def __repr__(self) -> str:
        config = getattr(self, "config", None)
        return f"{type(self).__name__}({config!r})" if config is not None else type(self).__name__
