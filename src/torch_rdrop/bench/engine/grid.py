"""The grid of runs a command asks for: tasks x methods x K x seeds x hyper-parameter settings.

A :class:`GridPoint` is one distinct run, what identifies a finished result in the store; a
:class:`Grid` lists its points (a method that does not apply to a task is left out).

>>> from torch_rdrop.bench.engine.axes import parse_params
>>> grid = Grid(tasks=("digits",), methods=("none", "rdrop"), seeds=(0, 1), shots=(16,),
...             params=parse_params(["rdrop.alpha=0.5,1"]))
>>> [p.label for p in grid.points()][:3]
['digits/none/K=16/seed=0', 'digits/none/K=16/seed=1', 'digits/rdrop/K=16/seed=0 alpha=0.5']
>>> len(grid.points())
6
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch_rdrop.bench.engine.axes import UNSET, ParamSetting, Scalar, Shots, shots_label
from torch_rdrop.bench.engine.spec import TrialSpec

__all__ = ["Grid", "GridPoint"]


@dataclass(frozen=True)
class GridPoint:
    """One distinct run of a grid: what identifies a finished result in the store."""

    task: str
    method: str
    shots: Shots
    seed: int
    params: tuple[tuple[str, Scalar], ...] = ()

    @classmethod
    def make(
        cls, task: str, method: str, shots: Shots, seed: int, params: Mapping[str, Scalar]
    ) -> GridPoint:
        """Build a point with its params in a canonical (sorted) order."""
        return cls(task, method, shots, seed, tuple(sorted(params.items())))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stored with each trial).

        >>> p = GridPoint.make("digits", "rdrop", None, 3, {"alpha": 0.5})
        >>> GridPoint.from_json(p.to_json()) == p
        True
        """
        return {
            "task": self.task,
            "method": self.method,
            "shots": self.shots,
            "seed": self.seed,
            "params": dict(self.params),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GridPoint:
        """Inverse of :meth:`to_json`."""
        return cls.make(data["task"], data["method"], data["shots"], data["seed"], data["params"])

    def sort_key(self) -> tuple[Any, ...]:
        """Task, method, K (full last), seed, then params."""
        shots = self.shots if self.shots is not None else 1 << 62
        return (self.task, self.method, shots, self.seed, self.key)

    @property
    def key(self) -> str:
        """A canonical string: equal points, equal keys (stored with each trial)."""
        return json.dumps(
            [self.task, self.method, shots_label(self.shots), self.seed, dict(self.params)],
            sort_keys=True,
        )

    @property
    def label(self) -> str:
        """A short readable name: ``task/method/K=16/seed=0 alpha=0.5``."""
        extra = " ".join(f"{k}={v}" for k, v in self.params)
        base = f"{self.task}/{self.method}/K={shots_label(self.shots)}/seed={self.seed}"
        return f"{base} {extra}" if extra else base

    def spec(self, use_dev: bool = False) -> TrialSpec:
        """The trial to run: the grid seed is both the data seed and the init seed."""
        return TrialSpec(
            self.task, self.method, self.shots, self.seed, self.seed, dict(self.params), use_dev
        )


@dataclass(frozen=True)
class Grid:
    """Tasks x methods x shots x seeds, plus hyper-parameter settings (several values = an axis)."""

    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    shots: tuple[Shots, ...]
    params: tuple[ParamSetting, ...] = ()
    applies: Callable[[str, str], bool] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("tasks", "methods", "seeds", "shots"):
            if not getattr(self, name):
                raise ValueError(f"grid: {name} must not be empty")
        if self.applies is not None and not any(
            self.applies(t, m) for t in self.tasks for m in self.methods
        ):
            raise ValueError(
                f"grid: none of the methods {', '.join(self.methods)} applies to the tasks "
                f"{', '.join(self.tasks)}"
            )

    def includes(self, point: GridPoint) -> bool:
        """Whether ``point``'s method applies to its task (always, without ``applies``)."""
        return self.applies is None or self.applies(point.task, point.method)

    def search_space(self) -> dict[str, list[Any]]:
        """The GridSampler search space (``shots`` as ``"full"`` or an int)."""
        space: dict[str, list[Any]] = {
            "task": list(self.tasks),
            "method": list(self.methods),
            "seed": list(self.seeds),
            "shots": [shots_label(s) if s is None else s for s in self.shots],
        }
        for setting in self.params:
            if len(setting.values) > 1:
                space[setting.axis] = list(setting.values)
        return space

    def point(self, values: Mapping[str, Any]) -> GridPoint:
        """The point for one assignment of the search space (what a trial was given).

        Settings that do not apply to the method are dropped, so ``none`` with ``rdrop.alpha=1``
        and ``none`` with ``rdrop.alpha=4`` are the same point; so are settings at :data:`UNSET`.
        """
        method = values["method"]
        params: dict[str, Scalar] = {}
        for general in (True, False):  # a method's own settings override general ones
            for setting in self.params:
                if setting.applies_to(method) and (setting.method is None) == general:
                    value = values[setting.axis] if len(setting.values) > 1 else setting.values[0]
                    if value == UNSET:
                        params.pop(setting.name, None)
                    else:
                        params[setting.name] = value
        shots = values["shots"]
        return GridPoint.make(
            values["task"], method, None if shots == "full" else shots, values["seed"], params
        )

    def points(self) -> list[GridPoint]:
        """Every distinct point whose method applies to its task, sorted."""
        space = self.search_space()
        names = list(space)
        found = {
            self.point(dict(zip(names, combo, strict=True)))
            for combo in itertools.product(*space.values())
        }
        return sorted(filter(self.includes, found), key=GridPoint.sort_key)
