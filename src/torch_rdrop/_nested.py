"""Map a function over every tensor inside nested inputs and outputs, keeping their types.

Handles dicts and other mappings (``OrderedDict``, Hugging Face ``BatchEncoding`` and
``ModelOutput``), lists, tuples, named tuples and dataclass instances; anything else is returned
as is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from torch import Tensor


def _rebuild_mapping(obj: Mapping, items: dict) -> Any:
    if hasattr(obj, "to_tuple"):  # Hugging Face ModelOutput: keyword constructor
        return type(obj)(**items)
    try:
        return type(obj)(items)
    except TypeError:
        return dict(items)


def map_tensors(fn: Callable[[Tensor], Any], obj: Any) -> Any:
    """Return ``obj`` with every tensor ``t`` inside it replaced by ``fn(t)``.

    >>> import torch
    >>> map_tensors(lambda t: t * 2, {"x": torch.tensor([1]), "ys": (torch.tensor([2]), "a")})
    {'x': tensor([2]), 'ys': (tensor([4]), 'a')}
    """
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, Mapping):
        return _rebuild_mapping(obj, {k: map_tensors(fn, v) for k, v in obj.items()})
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(map_tensors(fn, v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(map_tensors(fn, v) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {
            f.name: map_tensors(fn, getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init
        }
        return dataclasses.replace(obj, **changes)
    return obj


def iter_tensors(obj: Any) -> Iterator[Tensor]:
    """Yield every tensor inside ``obj`` in a fixed order (mapping order, then sequence order).

    >>> import torch
    >>> [t.item() for t in iter_tensors([torch.tensor(1), {"a": torch.tensor(2)}])]
    [1, 2]
    """
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, Mapping):
        for value in obj.values():
            yield from iter_tensors(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from iter_tensors(value)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from iter_tensors(getattr(obj, f.name))
