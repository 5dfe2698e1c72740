"""The weights a warm-started model adds to its checkpoint, and their own learning rate.

A model loaded from a pretrained checkpoint holds weights the checkpoint did not have: a fresh
classification head, or an encoder-decoder's cross-attention and output transform. They start
random, and at the small learning rate that suits the pretrained weights they learn slowly. A
model family marks them when it builds the model (:func:`mark_new_weights`, from the loader's
missing keys); a run with ``new_lr`` trains them at that rate and the rest at ``lr``
(:func:`param_groups`).

>>> net = mark_new_weights(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)), ["weight", "bias"],
...                        prefix="1.")
>>> sorted(new_weight_names(net))
['1.bias', '1.weight']
>>> [(len(g["params"]), g["lr"]) for g in param_groups(net, lr=1e-5, new_lr=1e-3)]
[(2, 1e-05), (2, 0.001)]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn

__all__ = ["NEW_WEIGHTS", "mark_new_weights", "new_weight_names", "param_groups"]

#: The attribute of a model that names its new weights (a frozenset of parameter names).
NEW_WEIGHTS = "new_weights"


def mark_new_weights(model: nn.Module, missing: Iterable[str], prefix: str = "") -> nn.Module:
    """Add ``prefix + name`` for each ``name`` in ``missing`` (the keys a loader did not find in
    the checkpoint) to ``model``'s new weights, keeping only names of its parameters (buffers
    and tied copies are not trained apart); return ``model``."""
    own = {name for name, _ in model.named_parameters()}
    marked = {prefix + name for name in missing} & own
    setattr(model, NEW_WEIGHTS, frozenset(new_weight_names(model) or ()) | marked)
    return model


def new_weight_names(model: nn.Module) -> frozenset[str] | None:
    """The names of ``model``'s new weights; ``None`` when its family marks none (a model
    trained from scratch, or one built without a checkpoint)."""
    names = getattr(model, NEW_WEIGHTS, None)
    return None if names is None else frozenset(names)


def param_groups(model: nn.Module, lr: float, new_lr: float | None) -> list[dict[str, Any]]:
    """The optimizer's parameter groups: every weight at ``lr``, or with ``new_lr`` the new
    weights at ``new_lr`` and the others at ``lr``. Raise ``ValueError`` if ``new_lr`` is given
    for a model that marks no new weights."""
    if new_lr is None:
        return [{"params": list(model.parameters()), "lr": lr}]
    names = new_weight_names(model)
    if not names:
        raise ValueError(
            f"new_lr={new_lr!r}: {type(model).__name__} marks no new weights (only a model "
            "warm-started from a checkpoint has weights the checkpoint lacked)"
        )
    named = list(model.named_parameters())
    return [
        {"params": [p for name, p in named if name not in names], "lr": lr},
        {"params": [p for name, p in named if name in names], "lr": new_lr},
    ]
