"""One benchmark run and what it returns: the seam between the engine and the training code.

The engine and the training code meet at one seam, :class:`TrialBackend`: the names of the tasks
and methods it can run, a function ``run(spec, on_epoch=None) -> TrialResult`` and optional hooks
(metric direction, search spaces, a data check before the first run). The engine knows no task and
no method beyond what a backend tells it. Everything here is plain data. The grid of runs a
command asks for is in :mod:`~torch_rdrop.bench.engine.grid`, the values of its axes in
:mod:`~torch_rdrop.bench.engine.axes`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, overload

from torch_rdrop.bench.engine.axes import Scalar, Shots, parse_names, split_list

if TYPE_CHECKING:
    import optuna

__all__ = [
    "REPLAYED",
    "EpochCallback",
    "FloatRange",
    "LiveNames",
    "SnapshotFile",
    "TrialBackend",
    "TrialFunction",
    "TrialResult",
    "TrialSpec",
    "load_backend",
]


@dataclass(frozen=True)
class TrialSpec:
    """One run: which task and method, on which data and init seeds, with which hyper-parameters.

    ``shots`` is K examples per class (``None`` = the full training split); ``params`` overrides the
    method's and the task's defaults (``alpha``, ``dropout``, ``epochs``, ...); ``use_dev`` asks
    the trial to report its per-epoch values on a dev split carved from training (model
    selection) instead of on the test split.
    """

    task: str
    method: str
    shots: Shots
    data_seed: int
    init_seed: int
    params: Mapping[str, Scalar] = field(default_factory=dict)
    use_dev: bool = False

    def __post_init__(self) -> None:
        if self.shots is not None and (isinstance(self.shots, bool) or self.shots < 1):
            raise ValueError(f"shots must be an integer >= 1 or None (full), got {self.shots!r}")


EpochCallback = Callable[[int, float, Mapping[str, float]], None]
"""``on_epoch(epoch, value, values)``: called after each epoch (from 0) with the primary metric's
value on the evaluation split (dev if ``spec.use_dev``) and every per-epoch value by name. It may
raise (``optuna.TrialPruned``) to stop the run early. A run resumed from a snapshot reports its
epochs trained before the stop again, first, each with :data:`REPLAYED` among its values."""

REPLAYED = "replayed"
"""The key (value 1.0) in the ``values`` of an epoch that a resumed run reports again: it was
trained before the run's last start (``rdrop status`` paces the run on the epochs after it)."""


@dataclass(frozen=True)
class TrialResult:
    """What a finished run measured.

    ``metrics`` holds the final values (``metric`` names the primary one, the value optimised and
    compared); ``curves`` the per-epoch values, one list per name; ``seconds`` the training time;
    ``peak_memory_mb`` the peak memory seen; ``versions`` library versions.

    >>> r = TrialResult("accuracy", {"accuracy": 0.9}, {"accuracy": [0.5, 0.9]}, 1.5, 100.0, {})
    >>> r.value, TrialResult.from_json(r.to_json()) == r
    (0.9, True)
    """

    metric: str
    metrics: Mapping[str, float]
    curves: Mapping[str, Sequence[float]]
    seconds: float
    peak_memory_mb: float
    versions: Mapping[str, str]
    greater_is_better: bool = True

    def __post_init__(self) -> None:
        if self.metric not in self.metrics:
            raise ValueError(
                f"metric {self.metric!r} is not among the metrics {sorted(self.metrics)}"
            )

    @property
    def value(self) -> float:
        """The primary metric's final value."""
        return float(self.metrics[self.metric])

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what the store keeps)."""
        return {
            "metric": self.metric,
            "metrics": {k: float(v) for k, v in self.metrics.items()},
            "curves": {k: [float(x) for x in v] for k, v in self.curves.items()},
            "seconds": float(self.seconds),
            "peak_memory_mb": float(self.peak_memory_mb),
            "versions": dict(self.versions),
            "greater_is_better": bool(self.greater_is_better),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrialResult:
        """Inverse of :meth:`to_json`."""
        return cls(
            metric=data["metric"],
            metrics=dict(data["metrics"]),
            curves={k: list(v) for k, v in data["curves"].items()},
            seconds=data["seconds"],
            peak_memory_mb=data["peak_memory_mb"],
            versions=dict(data["versions"]),
            greater_is_better=data.get("greater_is_better", True),
        )


@dataclass(frozen=True)
class FloatRange:
    """A float hyper-parameter a sweep draws from ``[low, high]`` (log-uniform if ``log``).

    >>> FloatRange("alpha", 0.0, 1.0, log=True)
    Traceback (most recent call last):
    ...
    ValueError: alpha: need low < high (and low > 0 on a log scale), got [0.0, 1.0]
    """

    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError(
                f"{self.name}: need low < high (and low > 0 on a log scale), "
                f"got [{self.low}, {self.high}]"
            )

    def suggest(self, trial: optuna.trial.Trial) -> float:
        """Draw the value for ``trial``."""
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


class LiveNames(Sequence[str]):
    """A sequence of names read afresh from ``source`` at every use (a registry that grows).

    >>> registry = ["a"]
    >>> names = LiveNames(lambda: tuple(registry))
    >>> registry.append("b")
    >>> tuple(names), "b" in names, len(names)
    (('a', 'b'), True, 2)
    """

    def __init__(self, source: Callable[[], Iterable[str]]) -> None:
        self._source = source

    def _names(self) -> tuple[str, ...]:
        return tuple(self._source())

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __repr__(self) -> str:
        return f"LiveNames({self._names()!r})"


@dataclass(frozen=True)
class SnapshotFile:
    """Where a resumable run keeps its training state, and how often it writes it.

    The run writes ``path`` once at least ``every_seconds`` of training have passed since its last
    write, at the end of an optimizer step or of an evaluated epoch (and after its last epoch);
    started again with the file present, it resumes from it instead of from scratch.

    >>> SnapshotFile(Path("runs/a.pt"), every_seconds=-1)
    Traceback (most recent call last):
    ...
    ValueError: every_seconds must be >= 0, got -1
    """

    path: Path
    every_seconds: float = 300.0

    def __post_init__(self) -> None:
        if not self.every_seconds >= 0:
            raise ValueError(f"every_seconds must be >= 0, got {self.every_seconds!r}")


class TrialFunction(Protocol):
    """The seam the training loop fills: run one spec, report epochs, return the result.

    Raise ``ValueError`` for a spec the data cannot serve (K larger than a class has, a method the
    task cannot use); the engine stops and shows the message.
    """

    def __call__(self, spec: TrialSpec, on_epoch: EpochCallback | None = None) -> TrialResult: ...


@dataclass(frozen=True)
class TrialBackend:
    """A trial function with the task and method names it runs.

    ``tasks`` and ``methods`` may be :class:`LiveNames`, read from a registry at each use. The
    optional hooks:

    - ``task_rows()``: the rows of the ``rdrop tasks`` table;
    - ``applies(task, method)``: whether a method can run on a task (a grid skips the pairs it
      refuses);
    - ``resolve_task(text)``: the task name for what the user typed (a name, an alias or a task
      file), or ``ValueError``; without it, ``text`` must be one of ``tasks``;
    - ``greater_is_better(task)``: the direction of the task's metric (default: higher is better);
    - ``search_space(method)``: the ranges a sweep draws for the method;
    - ``check_data(task)``: raise ``ValueError`` with one line (what is missing, the command that
      installs it) when the task's data cannot be read; commands call it before they store
      anything.
    - ``check_shots(task, shots, params, use_dev)``: raise ``ValueError`` with one line when the
      task's training split cannot give ``shots`` examples per class (plus the dev split's, with
      ``use_dev``) under the run parameters ``params``; commands call it before they store
      anything.
    - ``check_trial(spec)``: raise ``ValueError`` with one line when a run would fail before it
      trains (a bad setting or method option); ``rdrop bench`` calls it for every distinct run
      of its grid before it stores anything.
    - ``planned_epochs(spec)``: the number of epochs the run will train (its recipe's, or the one
      its parameters set), or ``None``; ``rdrop status`` uses it for the epoch total and the
      time left of runs whose parameters do not state their epochs.

    ``resumable``: ``run`` also takes ``snapshot=`` (a :class:`SnapshotFile` or ``None``), saves
    its state there as it trains and resumes from it; the engine then gives every run of a grid
    its own file when asked to (``rdrop bench --snapshots DIR``).
    """

    name: str
    tasks: Sequence[str]
    methods: Sequence[str]
    run: TrialFunction
    task_rows: Callable[[], list[dict[str, Any]]] | None = None
    applies: Callable[[str, str], bool] | None = None
    resolve_task: Callable[[str], str] | None = None
    greater_is_better: Callable[[str], bool] | None = None
    search_space: Callable[[str], Sequence[FloatRange]] | None = None
    check_data: Callable[[str], None] | None = None
    check_shots: Callable[[str, int | None, Mapping[str, Scalar], bool], None] | None = None
    check_trial: Callable[[TrialSpec], None] | None = None
    planned_epochs: Callable[[TrialSpec], int | None] | None = None
    resumable: bool = False

    def parse_tasks(self, text: str) -> tuple[str, ...]:
        """Task names from a comma-separated list (``all``: every task of :attr:`tasks`).

        >>> backend = TrialBackend("toy", ("a", "b"), ("none",), lambda spec, on_epoch=None: None)
        >>> backend.parse_tasks("b,a,b"), backend.parse_tasks("all")
        (('b', 'a'), ('a', 'b'))
        >>> backend.parse_tasks("c")
        Traceback (most recent call last):
        ...
        ValueError: tasks: unknown 'c'; choose from a, b
        """
        if text.strip() == "all":
            return tuple(self.tasks)
        if self.resolve_task is None:
            return parse_names(text, self.tasks, "tasks")
        return tuple(dict.fromkeys(self.resolve_task(name) for name in split_list(text, "tasks")))

    def higher_is_better(self, task: str) -> bool:
        """Whether a larger value of ``task``'s metric is better (True without the hook)."""
        return True if self.greater_is_better is None else bool(self.greater_is_better(task))


def load_backend(ref: str) -> TrialBackend:
    """Import ``"package.module:ATTRIBUTE"`` and check that it is a :class:`TrialBackend`.

    >>> load_backend("torch_rdrop.bench.tasks.trial:BACKEND").name
    'tasks'
    >>> load_backend("nowhere")
    Traceback (most recent call last):
    ...
    ValueError: backend must look like 'package.module:ATTRIBUTE', got 'nowhere'
    """
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"backend must look like 'package.module:ATTRIBUTE', got {ref!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"backend {ref!r}: cannot import {module_name!r} ({exc})") from exc
    backend = getattr(module, attr, None)
    if not isinstance(backend, TrialBackend):
        raise ValueError(f"backend {ref!r} must name a TrialBackend, got {type(backend).__name__}")
    return backend
