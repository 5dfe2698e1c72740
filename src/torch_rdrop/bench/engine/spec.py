"""What one benchmark run is, what it returns, and the grid of runs a command asks for.

The engine and the training code meet at one seam, :class:`TrialBackend`: the names of the tasks
and methods it can run, a function ``run(spec, on_epoch=None) -> TrialResult`` and optional hooks
(metric direction, search spaces, a data check before the first run). The engine knows no task and
no method beyond what a backend tells it. Everything here is plain data; parsing functions raise
``ValueError`` naming the argument and the text they saw.

>>> parse_seeds("0-2,7")
(0, 1, 2, 7)
>>> grid = Grid(tasks=("digits",), methods=("none", "rdrop"), seeds=(0, 1), shots=(16,),
...             params=parse_params(["rdrop.alpha=0.5,1"]))
>>> [p.label for p in grid.points()][:3]
['digits/none/K=16/seed=0', 'digits/none/K=16/seed=1', 'digits/rdrop/K=16/seed=0 alpha=0.5']
>>> len(grid.points())
6
"""

from __future__ import annotations

import importlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, overload

if TYPE_CHECKING:
    import optuna

__all__ = [
    "REPLAYED",
    "UNSET",
    "EpochCallback",
    "FloatRange",
    "Grid",
    "GridPoint",
    "LiveNames",
    "ParamSetting",
    "Shots",
    "SnapshotFile",
    "TrialBackend",
    "TrialFunction",
    "TrialResult",
    "TrialSpec",
    "load_backend",
    "parse_names",
    "parse_params",
    "parse_seeds",
    "parse_shots",
    "shots_label",
]

Scalar = float | int | str | bool
UNSET = "default"
"""A ``--param`` value that leaves the setting unset: the run takes the method's default or the
task's recipe (``-p rdrop.duplicate_from=default,encoder.layer.4`` runs R-Drop as it comes and
R-Drop duplicating the batch only from layer 4)."""
Shots = int | None
"""Examples per class in the training split; ``None`` is the full training split."""


def shots_label(shots: Shots) -> str:
    """``16`` -> ``"16"``, ``None`` -> ``"full"``.

    >>> shots_label(None), shots_label(8)
    ('full', '8')
    """
    return "full" if shots is None else str(shots)


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
        return tuple(dict.fromkeys(self.resolve_task(name) for name in _split(text, "tasks")))

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


def _split(text: str, what: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise ValueError(
            f"{what}: expected a comma-separated list without empty items, got {text!r}"
        )
    return items


def parse_seeds(text: str) -> tuple[int, ...]:
    """Seeds from ``"0-4"``, ``"0,2,5"`` or a mix (``"0-2,9"``); sorted, without repeats.

    >>> parse_seeds("3,0-1")
    (0, 1, 3)
    >>> parse_seeds("4-1")
    Traceback (most recent call last):
    ...
    ValueError: seeds: range '4-1' runs backwards (4 > 1) in '4-1'
    >>> parse_seeds("a")
    Traceback (most recent call last):
    ...
    ValueError: seeds: 'a' is not an integer >= 0 or a range like 0-4, in 'a'
    """
    seeds: set[int] = set()
    for item in _split(text, "seeds"):
        low, dash, high = item.partition("-")
        if not (low.isdigit() and (not dash or high.isdigit())):
            raise ValueError(
                f"seeds: {item!r} is not an integer >= 0 or a range like 0-4, in {text!r}"
            )
        first, last = int(low), int(high) if dash else int(low)
        if first > last:
            raise ValueError(f"seeds: range {item!r} runs backwards ({first} > {last}) in {text!r}")
        seeds.update(range(first, last + 1))
    return tuple(sorted(seeds))


def parse_shots(text: str) -> tuple[Shots, ...]:
    """K values from ``"8,16,full"``; ``full`` (the whole training split) becomes ``None``.

    >>> parse_shots("16,8,full")
    (8, 16, None)
    >>> parse_shots("0")
    Traceback (most recent call last):
    ...
    ValueError: shots: '0' is not an integer >= 1 or 'full', in '0'
    """
    values: set[int] = set()
    full = False
    for item in _split(text, "shots"):
        if item.lower() == "full":
            full = True
        elif item.isdigit() and int(item) >= 1:
            values.add(int(item))
        else:
            raise ValueError(f"shots: {item!r} is not an integer >= 1 or 'full', in {text!r}")
    return (*sorted(values), *((None,) if full else ()))


def parse_names(text: str, known: Iterable[str], what: str) -> tuple[str, ...]:
    """Names from a comma-separated list, each checked against ``known``; ``all`` means every one.

    >>> parse_names("rdrop,none", ("none", "rdrop", "mixup"), "methods")
    ('rdrop', 'none')
    >>> parse_names("rdorp", ("none", "rdrop"), "methods")
    Traceback (most recent call last):
    ...
    ValueError: methods: unknown 'rdorp'; choose from none, rdrop
    """
    known = tuple(known)
    if text.strip() == "all":
        return known
    names = tuple(dict.fromkeys(_split(text, what)))
    unknown = [name for name in names if name not in known]
    if unknown:
        shown = ", ".join(repr(name) for name in unknown)
        raise ValueError(f"{what}: unknown {shown}; choose from {', '.join(known)}")
    return names


def _scalar(text: str) -> Scalar:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@dataclass(frozen=True)
class ParamSetting:
    """``--param [METHOD.]NAME=V1[,V2...]``: a fixed hyper-parameter, or an axis if several values.

    ``method`` None applies the setting to every method; a method's own setting wins.
    """

    name: str
    values: tuple[Scalar, ...]
    method: str | None = None

    @property
    def axis(self) -> str:
        """The grid axis name of a setting with several values."""
        return f"param:{self.method or '*'}.{self.name}"

    def applies_to(self, method: str) -> bool:
        """Whether this setting is used by ``method``."""
        return self.method is None or self.method == method


def parse_params(
    items: Sequence[str], methods: Iterable[str] | None = None
) -> tuple[ParamSetting, ...]:
    """Parse ``["alpha=0.5", "rdrop.dropout=0.1,0.3"]`` (numbers and true/false are typed).

    ``methods``, when given, are the names a ``METHOD.`` prefix may take.

    >>> parse_params(["rdrop.alpha=1,4", "epochs=20"])[0]
    ParamSetting(name='alpha', values=(1, 4), method='rdrop')
    >>> parse_params(["alpha"])
    Traceback (most recent call last):
    ...
    ValueError: param: expected [METHOD.]NAME=VALUE[,VALUE...], got 'alpha'
    >>> parse_params(["rdorp.alpha=1"], methods=("none", "rdrop"))
    Traceback (most recent call last):
    ...
    ValueError: param 'rdorp.alpha=1': unknown method 'rdorp'; choose from none, rdrop
    """
    known = None if methods is None else tuple(methods)
    settings: dict[tuple[str | None, str], ParamSetting] = {}
    for item in items:
        target, eq, raw = item.partition("=")
        target = target.strip()
        if not eq or not target or not raw.strip():
            raise ValueError(f"param: expected [METHOD.]NAME=VALUE[,VALUE...], got {item!r}")
        method, dot, name = target.rpartition(".")
        if dot and known is not None and method not in known:
            raise ValueError(
                f"param {item!r}: unknown method {method!r}; choose from {', '.join(known)}"
            )
        values = tuple(dict.fromkeys(_scalar(v) for v in _split(raw, f"param {item!r}")))
        settings[(method or None, name)] = ParamSetting(name, values, method or None)
    return tuple(settings.values())


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
