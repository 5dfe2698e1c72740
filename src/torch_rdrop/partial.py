"""Cheap R-Drop: duplicate the batch only from a chosen module onward.

The modules before the split point run once on the original batch and share their dropout masks
across the passes; from the split module on, every batch tensor is stacked (concat or interleave
layout), so only the top of the network pays for the extra passes. It is enabled with
``RDrop(model, duplicate_from="encoder.layer.4")``.

Mechanism: a forward pre-hook on every submodule. The hook of the split module switches the
duplication on; from then until the model's forward returns, each module's tensor arguments whose
first dimension is the original batch size are stacked before the module runs, and tensors that
are already stacked are left alone. That covers the hidden states entering the split module and
side inputs handed to every later module (attention masks, position ids, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from torch import nn
from torch.utils.hooks import RemovableHandle

from torch_rdrop.layout import Layout, stack_copies


@dataclass
class _State:
    batch_size: int = 0
    passes: int = 2
    layout: Layout = "concat"
    active: bool = False


class PartialDuplication:
    """Hooks that stack the batch from ``split_name`` onward while :meth:`duplicating` is entered.

    >>> import torch
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    >>> cheap = PartialDuplication(net, "1")
    >>> with cheap.duplicating(batch_size=5, passes=2, layout="concat"):
    ...     out = net(torch.randn(5, 3))
    >>> out.shape
    torch.Size([10, 2])
    """

    def __init__(self, model: nn.Module, split_name: str) -> None:
        modules = dict(model.named_modules())
        if split_name not in modules or split_name == "":
            candidates = [name for name in modules if name][:12]
            raise ValueError(
                f"duplicate_from must name a submodule of the model, got {split_name!r}; "
                f"submodules include {candidates}"
            )
        self.split_name = split_name
        self._split_module = modules[split_name]
        self._modules = [module for name, module in modules.items() if name]
        self._state = _State()

    def _make_hook(self, is_split: bool):
        state = self._state

        def hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
            if is_split:
                state.active = True
            if not state.active:
                return None
            return stack_copies((args, kwargs), state.batch_size, state.passes, state.layout)

        return hook

    @contextmanager
    def duplicating(self, batch_size: int, passes: int, layout: Layout) -> Iterator[None]:
        """Install the hooks for one forward of the model on a batch of ``batch_size``.

        The hooks exist only inside the context, so evaluation runs the bare model.
        """
        if layout == "sequential":
            raise ValueError(
                "duplicate_from needs layout 'concat' or 'interleave', got 'sequential'"
            )
        state = self._state
        state.batch_size, state.passes, state.layout = batch_size, passes, layout
        state.active = False
        handles: list[RemovableHandle] = [
            module.register_forward_pre_hook(
                self._make_hook(module is self._split_module), with_kwargs=True
            )
            for module in self._modules
        ]
        try:
            yield
            if not state.active:
                raise ValueError(
                    f"duplicate_from module {self.split_name!r} did not run in the forward pass, "
                    "so nothing was duplicated; name a module that the forward calls"
                )
        finally:
            state.active = False
            for handle in handles:
                handle.remove()
