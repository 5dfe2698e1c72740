"""Where a regularizer acts inside a model: finding modules and rewriting their outputs by hooks.

A *site* is a tensor the method replaces during one forward: a floating model input, the output
of the input embedding module, the output of a block, or the input of the classification head.
Hooks are context managers, so they are removed even when the forward raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from torch_rdrop._nested import iter_tensors
from torch_rdrop.layout import batch_size_of

__all__ = [
    "find_blocks",
    "find_embedding",
    "find_head",
    "first_floating_input",
    "get_module",
    "replace_floating_inputs",
    "rewrite_input",
    "rewrite_output",
]

TensorFn = Callable[[Tensor], Tensor]


def get_module(model: nn.Module, name: str, argument: str) -> nn.Module:
    """The submodule called ``name``, or a ValueError naming ``argument`` and some valid names.

    >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    >>> get_module(net, "0", "modules")
    Linear(in_features=2, out_features=2, bias=True)
    """
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        names = [n for n in modules if n][:12]
        raise ValueError(
            f"{argument} names no module of {type(model).__name__}: {name!r}; "
            f"module names include {names}"
        )
    return modules[name]


def find_embedding(model: nn.Module, name: str | None = None) -> nn.Module | None:
    """The input embedding module: ``name`` if given, else ``get_input_embeddings()``, else the
    first ``nn.Embedding``; None if the model has none.

    >>> find_embedding(nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2)))
    Embedding(10, 4)
    >>> find_embedding(nn.Linear(3, 2)) is None
    True
    """
    if name is not None:
        return get_module(model, name, "embedding")
    getter = getattr(model, "get_input_embeddings", None)
    if callable(getter):
        try:
            found = getter()
        except (NotImplementedError, AttributeError):
            found = None
        if isinstance(found, nn.Module):
            return found
    return next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)


def find_blocks(
    model: nn.Module, names: tuple[str, ...] | None = None
) -> list[tuple[str, nn.Module]]:
    """The blocks whose outputs are the hidden states of a model, in order.

    ``names`` if given; else the longest ``nn.ModuleList`` of modules of one class (Hugging Face
    encoder layers); else the recurrent layers (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``); else the
    children of the first ``nn.Sequential`` with at least two (all but the last when the model
    itself is the ``nn.Sequential``, whose last child makes the output).

    >>> net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> [name for name, _ in find_blocks(net)]
    ['0', '1']
    """
    if names:
        return [(name, get_module(model, name, "modules")) for name in names]
    best: tuple[str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if (
            isinstance(module, nn.ModuleList)
            and len(module) >= 2
            and len({type(child) for child in module}) == 1
            and (best is None or len(module) > len(best[1]))
        ):
            best = (name, module)
    if best is not None:
        prefix = f"{best[0]}." if best[0] else ""
        return [(f"{prefix}{i}", child) for i, child in enumerate(best[1])]
    recurrent = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.RNNBase)]
    if recurrent:
        return recurrent
    for name, module in model.named_modules():
        if isinstance(module, nn.Sequential) and len(module) >= 2:
            children = list(module.named_children())
            if module is model:
                children = children[:-1]
            prefix = f"{name}." if name else ""
            return [(f"{prefix}{child_name}", child) for child_name, child in children]
    raise ValueError(
        f"found no blocks in {type(model).__name__} (no nn.ModuleList of layers, no recurrent "
        "layer, no nn.Sequential): pass modules=(...), the names of the modules whose outputs "
        "are the hidden states"
    )


def find_head(model: nn.Module, name: str | None = None) -> nn.Module:
    """The classification head: ``name`` if given, else the last ``nn.Linear`` of the model.

    >>> find_head(nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3)))
    Linear(in_features=4, out_features=3, bias=True)
    """
    if name is not None:
        return get_module(model, name, "head")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(
            f"found no nn.Linear head in {type(model).__name__}: pass head=, the name of the "
            "module whose input is the pooled representation"
        )
    return linears[-1]


def _apply_packed(packed: PackedSequence, fn: TensorFn) -> PackedSequence:
    """``fn`` over the padded ``[B, T, ...]`` form of a packed batch, packed again with the
    same lengths (so mixing example i with j keeps i's length; j's padding contributes zeros)."""
    padded, lengths = pad_packed_sequence(packed, batch_first=True)
    return pack_padded_sequence(fn(padded), lengths, batch_first=True, enforce_sorted=False)


def _apply_first(value: Any, fn: TensorFn, where: str) -> Any:
    if isinstance(value, Tensor):
        return fn(value)
    if isinstance(value, PackedSequence):
        return _apply_packed(value, fn)
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], Tensor | PackedSequence):
        return type(value)([_apply_first(value[0], fn, where), *value[1:]])
    raise ValueError(
        f"cannot rewrite the {where}: expected a tensor, a PackedSequence or a tuple whose first "
        f"element is one, got {type(value).__name__}"
    )


@contextmanager
def rewrite_output(module: nn.Module, fn: TensorFn) -> Iterator[list[int]]:
    """Replace ``module``'s output ``h`` (or its first element) by ``fn(h)`` on every call.

    Yields a one-element list counting the calls.

    >>> import torch
    >>> lin = nn.Linear(2, 2)
    >>> with rewrite_output(lin, lambda h: h * 0) as calls:
    ...     out = lin(torch.ones(1, 2))
    >>> out.abs().sum().item(), calls[0], len(lin._forward_hooks)
    (0.0, 1, 0)
    """
    calls = [0]

    def hook(_module: nn.Module, _args: Any, output: Any) -> Any:
        calls[0] += 1
        return _apply_first(output, fn, f"output of {type(module).__name__}")

    handle = module.register_forward_hook(hook)
    try:
        yield calls
    finally:
        handle.remove()


@contextmanager
def rewrite_input(module: nn.Module, fn: TensorFn) -> Iterator[list[int]]:
    """Replace ``module``'s first positional input ``x`` by ``fn(x)`` on every call.

    >>> import torch
    >>> lin = nn.Linear(2, 1)
    >>> with rewrite_input(lin, lambda x: x * 0) as calls:
    ...     out = lin(torch.ones(1, 2))
    >>> bool(out == lin.bias), calls[0]
    (True, 1)
    """
    calls = [0]

    def hook(_module: nn.Module, args: tuple[Any, ...]) -> Any:
        calls[0] += 1
        if not args:
            raise ValueError(f"{type(module).__name__} was called without a positional input")
        return _apply_first(args, fn, f"input of {type(module).__name__}")

    handle = module.register_forward_pre_hook(hook)
    try:
        yield calls
    finally:
        handle.remove()


def first_floating_input(batch: Any) -> Tensor | None:
    """The first floating tensor with a batch dimension in the model inputs, or None.

    >>> import torch
    >>> first_floating_input({"ids": torch.ones(2, 3, dtype=torch.long), "x": torch.ones(2, 4)})
    tensor([[1., 1., 1., 1.],
            [1., 1., 1., 1.]])
    """
    size = batch_size_of(batch)
    return next(
        (
            t
            for t in iter_tensors(batch)
            if t.is_floating_point() and t.dim() > 0 and t.shape[0] == size
        ),
        None,
    )


def replace_floating_inputs(batch: Any, fn: TensorFn, first_only: bool = False) -> Any:
    """``batch`` with ``fn`` applied to its floating tensors that have the batch dimension.

    Masks and other tensors whose name says so (``*mask*`` keys of a mapping) are left alone.

    >>> import torch
    >>> replace_floating_inputs((torch.ones(2, 2), torch.ones(2)), lambda t: t * 3)[1]
    tensor([3., 3.])
    """
    size = batch_size_of(batch)
    done = [False]

    def visit(obj: Any, key: str = "") -> Any:
        if isinstance(obj, Tensor):
            eligible = obj.is_floating_point() and obj.dim() > 0 and obj.shape[0] == size
            if not eligible or "mask" in key or (first_only and done[0]):
                return obj
            done[0] = True
            return fn(obj)
        if isinstance(obj, Mapping):
            return {k: visit(v, str(k)) for k, v in obj.items()}
        if isinstance(obj, (tuple, list)):
            return type(obj)(visit(v, key) for v in obj)
        return obj

    return visit(batch)


def has_batch_input(batch: Any) -> bool:
    """Whether ``batch`` holds a floating input with a batch dimension (images, features)."""
    return first_floating_input(batch) is not None


def attention_mask_of(batch: Any) -> Tensor | None:
    """The ``attention_mask`` of a mapping batch, if any."""
    if isinstance(batch, Mapping):
        mask = batch.get("attention_mask")
        if isinstance(mask, Tensor):
            return mask
    return None


def per_example_norm(t: Tensor) -> Tensor:
    """L2 norm of each example (all dims but the first), shaped to broadcast against ``t``.

    >>> import torch
    >>> per_example_norm(torch.tensor([[3.0, 4.0], [0.0, 1.0]])).flatten().tolist()
    [5.0, 1.0]
    """
    return t.flatten(1).float().norm(dim=1).view(-1, *([1] * (t.dim() - 1)))
