"""The registry type behind every concept of the benchmark, and the plugins that add to them.

Methods, metrics, data sets, model families and tasks each live in one :class:`Registry`; every
consumer (the trial, the sweep, the report, the ``rdrop`` command) reads it, so nothing is listed
twice. Installed packages add to the registries through the entry-point group
``torch_rdrop.tasks``: each entry point names a function that takes no argument and registers what
the package provides (``register_dataset``, ``register_family``, ``register_task``,
``register_method``, ``register_metric``). The functions run once, the first time a registry is
read, so a package that is slow to import costs nothing until then. In ``pyproject.toml``::

    [project.entry-points."torch_rdrop.tasks"]
    tickets = "my_package.rdrop_tasks:register"

>>> colours = Registry("colour", "colours")
>>> colours.add("red", (255, 0, 0))
(255, 0, 0)
>>> colours.get("blue")
Traceback (most recent call last):
...
ValueError: unknown colour 'blue'; known colours: red
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Generic, TypeVar

__all__ = ["ENTRY_POINT_GROUP", "Registry", "load_plugins"]

ENTRY_POINT_GROUP = "torch_rdrop.tasks"
T = TypeVar("T")
_loaded = False


def load_plugins(force: bool = False) -> None:
    """Run every ``torch_rdrop.tasks`` entry point once (again with ``force``).

    A plugin that fails raises ``ValueError`` naming the entry point and the error.
    """
    global _loaded
    if _loaded and not force:
        return
    _loaded = True  # first, so that registering from a plugin does not load the plugins again
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            point.load()()
        except Exception as exc:
            raise ValueError(
                f"entry point {point.name!r} ({point.value}) of group {ENTRY_POINT_GROUP!r} "
                f"failed: {type(exc).__name__}: {exc}"
            ) from exc


class Registry(Mapping[str, T], Generic[T]):
    """Items by name, in registration order (a read-only mapping); lookups load the plugins.

    ``what`` and ``plural`` name the items in error messages (``"data set"``, ``"data sets"``).
    """

    def __init__(self, what: str, plural: str) -> None:
        self.what, self.plural = what, plural
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T, replace: bool = False) -> T:
        """Register ``item`` as ``name``; a second registration of a name needs ``replace``."""
        if not isinstance(name, str) or not name.strip() or "," in name:
            raise ValueError(f"{self.what} name must be a non-empty string without commas, "
                             f"got {name!r}")  # fmt: skip
        if name in self._items and not replace:
            raise ValueError(
                f"{self.what} {name!r} is already registered; pass replace=True to redefine it"
            )
        self._items[name] = item
        return item

    def remove(self, name: str) -> None:
        """Forget ``name`` (nothing happens if it is not registered)."""
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        """The item called ``name``; ``ValueError`` listing the known names otherwise."""
        if name not in self._items:
            load_plugins()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ValueError(
                f"unknown {self.what} {name!r}; known {self.plural}: {', '.join(self._items)}"
            ) from None

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        load_plugins()
        return tuple(self._items)

    def __getitem__(self, name: str) -> T:
        if name not in self._items:
            load_plugins()
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())
