"""Choose a method with one argument: ``build_regularizer("fgm", epsilon=0.5)``.

Names: ``"none"``, ``"rdrop"``, ``"mixup"``, ``"manifold_mixup"``, ``"tmix"`` (Manifold MixUp with
TMix's setting), ``"fgm"``, ``"pgd"``, ``"freelb"``, and R-Drop combined with an adversary:
``"rdrop+fgm"``, ``"rdrop+pgd"``, ``"rdrop+freelb"``. Keyword overrides are the fields of the
method's config (for a combination, of either config). A config object selects its method too:
``build_regularizer(FGMConfig(epsilon=0.5))``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal, get_args

from torch import Tensor

from torch_rdrop.regularizers.adversarial import (
    FGM,
    PGD,
    FGMConfig,
    FreeLB,
    FreeLBConfig,
    PGDConfig,
)
from torch_rdrop.regularizers.base import Regularizer
from torch_rdrop.regularizers.baseline import NoneConfig, NoRegularization
from torch_rdrop.regularizers.manifold_mixup import ManifoldMixup, ManifoldMixupConfig
from torch_rdrop.regularizers.mixup import Mixup, MixupConfig
from torch_rdrop.regularizers.rdrop import RDropConfig, RDropRegularizer

__all__ = ["METHODS", "MethodName", "RegularizerConfig", "build_regularizer", "config_for"]

MethodName = Literal[
    "none",
    "rdrop",
    "mixup",
    "manifold_mixup",
    "tmix",
    "fgm",
    "pgd",
    "freelb",
    "rdrop+fgm",
    "rdrop+pgd",
    "rdrop+freelb",
]
METHODS: tuple[str, ...] = get_args(MethodName)

RegularizerConfig = (
    NoneConfig
    | RDropConfig
    | MixupConfig
    | ManifoldMixupConfig
    | FGMConfig
    | PGDConfig
    | FreeLBConfig
)

_CLASSES: dict[type, Callable[..., Regularizer]] = {
    NoneConfig: NoRegularization,
    RDropConfig: RDropRegularizer,
    MixupConfig: Mixup,
    ManifoldMixupConfig: ManifoldMixup,
    FGMConfig: FGM,
    PGDConfig: PGD,
    FreeLBConfig: FreeLB,
}
_DEFAULTS: dict[str, Callable[[], Any]] = {
    "none": NoneConfig,
    "rdrop": RDropConfig,
    "mixup": MixupConfig,
    "manifold_mixup": ManifoldMixupConfig,
    "tmix": ManifoldMixupConfig.tmix,
    "fgm": FGMConfig,
    "pgd": PGDConfig,
    "freelb": FreeLBConfig,
}


def _fields(config: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(config)}


def config_for(method: str, **overrides: Any) -> Any:
    """The config of a single method with ``overrides`` applied, checked.

    >>> config_for("pgd", steps=5)
    PGDConfig(epsilon=1.0, step_size=0.3, steps=5, site='auto', embedding=None)
    """
    if method not in _DEFAULTS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    default = _DEFAULTS[method]()
    unknown = sorted(set(overrides) - _fields(default))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for method {method!r}; its options are "
            f"{sorted(_fields(default))}"
        )
    return dataclasses.replace(default, **overrides)


def build_regularizer(
    method: MethodName | RegularizerConfig,
    *,
    logits_fn: Callable[[Any], Tensor] | None = None,
    **overrides: Any,
) -> Regularizer:
    """Build the regularizer called ``method`` (or the one a config object selects).

    >>> build_regularizer("rdrop+fgm", alpha=0.5, epsilon=0.3)
    FGM(FGMConfig(epsilon=0.3, ...), inner=RDropRegularizer(RDropConfig(alpha=0.5, ...)))
    >>> build_regularizer("fgm").name, build_regularizer("rdrop+fgm").name
    ('fgm', 'rdrop+fgm')
    """
    if dataclasses.is_dataclass(method) and not isinstance(method, type):
        if type(method) not in _CLASSES:
            raise ValueError(f"method got an unknown config type {type(method).__name__}")
        config = dataclasses.replace(method, **overrides) if overrides else method
        return _CLASSES[type(config)](config, logits_fn=logits_fn)
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS} or a config object, got {method!r}")
    if "+" not in method:
        config = config_for(method, **overrides)
        return _CLASSES[type(config)](config, logits_fn=logits_fn)
    first, adversary = method.split("+")
    inner_fields = _fields(RDropConfig())
    outer_fields = _fields(_DEFAULTS[adversary]())
    shared = sorted(set(overrides) & inner_fields & outer_fields)
    if shared:
        raise ValueError(f"option(s) {shared} of {method!r} are ambiguous between its two methods")
    inner_config = config_for(first, **{k: v for k, v in overrides.items() if k in inner_fields})
    outer_overrides = {k: v for k, v in overrides.items() if k not in inner_fields}
    try:
        outer_config = config_for(adversary, **outer_overrides)
    except ValueError as error:
        raise ValueError(f"{error} (and R-Drop's {sorted(inner_fields)}, for {method!r})") from None
    inner = RDropRegularizer(inner_config, logits_fn=logits_fn)
    return _CLASSES[type(outer_config)](outer_config, inner=inner, logits_fn=logits_fn)
