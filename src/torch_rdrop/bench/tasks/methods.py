"""The methods the benchmark compares: name -> regularizer, defaults, search space, task kinds.

Each :class:`Method` builds a regularizer of :mod:`torch_rdrop.regularizers` (by default
``build_regularizer(name, **params)``), says which kinds of task it applies to and what a sweep
searches. The trial, the sweep, the ``rdrop`` command and the report read this registry only;
the report orders its arms as the methods are registered here.

Adding a method is one file and one line: write the regularizer (a config dataclass and a
:class:`~torch_rdrop.regularizers.base.Regularizer`), then register it::

    register_method(Method("dropconnect", ("classification",),
                           (FloatRange("p", 0.05, 0.5),), build=lambda **p: DropConnect(**p)))

>>> get_method("rdrop").search_space[0]
FloatRange(name='alpha', low=0.05, high=10.0, log=True)
>>> method_names("generation")
('none', 'rdrop')
>>> get_method("fgm").defaults()["epsilon"]
1.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch_rdrop.bench.engine.spec import FloatRange
from torch_rdrop.bench.tasks.registry import Registry
from torch_rdrop.regularizers import Regularizer, build_regularizer

__all__ = [
    "KINDS",
    "METHODS",
    "Method",
    "get_method",
    "method_names",
    "methods_by_kind",
    "register_method",
]

KINDS: tuple[str, ...] = ("classification", "tagging", "generation")
"""The kinds of task: one label per example, one tag per token, or text out."""


@dataclass(frozen=True)
class Method:
    """A training method of the benchmark.

    Attributes:
        name: the name on the command line (``rdrop``, ``rdrop+fgm``...).
        kinds: the kinds of task (:data:`KINDS`) it applies to.
        search_space: what ``rdrop sweep`` draws (names as the regularizer's options).
        build: ``(**params) -> Regularizer``; by default ``build_regularizer(name, **params)``.
        description: one line for ``rdrop tasks``.
    """

    name: str
    kinds: tuple[str, ...]
    search_space: tuple[FloatRange, ...] = ()
    build: Callable[..., Regularizer] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in KINDS]
        if not self.kinds or unknown:
            raise ValueError(f"method {self.name}: kinds must be some of {KINDS}, got {self.kinds}")

    def regularizer(self, **params: Any) -> Regularizer:
        """The regularizer with ``params`` as its options."""
        if self.build is not None:
            return self.build(**params)
        return build_regularizer(self.name, **params)

    def defaults(self) -> dict[str, Any]:
        """The options of the default regularizer (both configs of a composition)."""
        built = self.regularizer()
        options: dict[str, Any] = {}
        for part in (getattr(built, "inner", None), built):
            config = getattr(part, "config", None)
            if dataclasses.is_dataclass(config) and not isinstance(config, type):
                options.update(dataclasses.asdict(config))
        return options


METHODS: Registry[Method] = Registry("method", "methods")
"""Every method, by name, in the order reports show them."""


def register_method(method: Method, replace: bool = False) -> Method:
    """Add ``method`` to :data:`METHODS` (``replace`` to redefine a name)."""
    return METHODS.add(method.name, method, replace)


def get_method(name: str) -> Method:
    """The method called ``name`` (``ValueError`` listing the known ones otherwise)."""
    return METHODS.get(name)


def method_names(kind: str | None = None) -> tuple[str, ...]:
    """The methods, in registration order; with ``kind``, those that apply to it."""
    return tuple(m.name for m in METHODS.values() if kind is None or kind in m.kinds)


def methods_by_kind() -> dict[str, tuple[str, ...]]:
    """For each kind of task, the methods that apply to it.

    >>> methods_by_kind()["tagging"]
    ('none', 'rdrop', 'fgm', 'pgd', 'freelb', 'rdrop+fgm')
    """
    return {kind: method_names(kind) for kind in KINDS}


_DROPOUT = FloatRange("dropout", 0.0, 0.5)
_LABELS = ("classification", "tagging")
_ALL = KINDS
register_method(Method("none", _ALL, (_DROPOUT,), description="plain training (the baseline)"))
register_method(
    Method(
        "rdrop",
        _ALL,
        (FloatRange("alpha", 0.05, 10.0, log=True), _DROPOUT),
        description="R-Drop: two dropout passes + alpha x symmetric KL",
    )
)
register_method(
    Method(
        "mixup",
        ("classification",),
        (FloatRange("alpha", 0.1, 4.0, log=True), _DROPOUT),
        description="MixUp of inputs or embeddings",
    )
)
register_method(
    Method(
        "manifold_mixup",
        ("classification",),
        (FloatRange("alpha", 0.1, 16.0, log=True), _DROPOUT),
        description="MixUp of the hidden states at a random layer",
    )
)
register_method(
    Method(
        "fgm",
        _LABELS,
        (FloatRange("epsilon", 0.05, 5.0, log=True), _DROPOUT),
        description="adversarial training, one gradient step on the embeddings",
    )
)
register_method(
    Method(
        "pgd",
        _LABELS,
        (
            FloatRange("epsilon", 0.05, 5.0, log=True),
            FloatRange("step_size", 0.01, 1.0, log=True),
            _DROPOUT,
        ),
        description="adversarial training, projected gradient steps",
    )
)
register_method(
    Method(
        "freelb",
        _LABELS,
        (
            FloatRange("step_size", 0.01, 1.0, log=True),
            FloatRange("init_magnitude", 0.01, 2.0, log=True),
            _DROPOUT,
        ),
        description="adversarial training, FreeLB's accumulated ascent",
    )
)
register_method(
    Method(
        "rdrop+fgm",
        _LABELS,
        (
            FloatRange("alpha", 0.05, 10.0, log=True),
            FloatRange("epsilon", 0.05, 5.0, log=True),
            _DROPOUT,
        ),
        description="R-Drop on the clean pass + FGM",
    )
)
