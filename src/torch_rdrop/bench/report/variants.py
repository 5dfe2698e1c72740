"""Variants of a method against the same method at its defaults.

A study that runs R-Drop at several settings (``passes`` 2 and 3, ``divergence`` kl and js,
``semi_supervised`` false and true) asks whether a variant beats R-Drop as it comes, not only
whether it beats ``none``. :func:`default_arm_of` finds, among the arms of a group, the arm of the
same method that differs from a variant only where it holds the default setting: the method's
own option (:meth:`~torch_rdrop.bench.tasks.methods.Method.defaults`) or the trial's training
setting (:data:`~torch_rdrop.bench.tasks.trial.TRAINING_DEFAULTS`). Settings whose default depends
on the task (``lr``, ``dropout``, ``epochs``) have none, so arms differing there are not paired.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Any

from torch_rdrop.bench.engine.runner import RunRecord

__all__ = ["NO_DEFAULT", "default_arm_of", "method_options", "setting_default"]

NO_DEFAULT = object()
"""What :func:`setting_default` returns for a setting without a task-independent default."""


@cache
def method_options(method: str) -> Mapping[str, Any]:
    """The options of ``method``'s default regularizer with their defaults (empty for ``none``
    and for a name outside the catalog), built once per method.

    >>> method_options("rdrop")["passes"], dict(method_options("none"))
    (2, {})
    """
    from torch_rdrop.bench.tasks.methods import METHODS

    return MappingProxyType(METHODS[method].defaults() if method in METHODS else {})


def setting_default(method: str, name: str) -> Any:
    """The value ``method`` runs with when a run does not set ``name``, else :data:`NO_DEFAULT`.

    >>> setting_default("rdrop", "passes"), setting_default("rdrop", "semi_supervised")
    (2, False)
    >>> setting_default("rdrop", "lr") is NO_DEFAULT
    True
    """
    from torch_rdrop.bench.tasks.trial import TRAINING_DEFAULTS

    options = method_options(method)
    if name in options:
        return options[name]
    return TRAINING_DEFAULTS.get(name, NO_DEFAULT)


def _setting(params: Mapping[str, Any], method: str, name: str) -> Any:
    return params[name] if name in params else setting_default(method, name)


def _is_default_of(method: str, own: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """True when ``other`` differs from ``own`` somewhere, and only where ``other`` is at the
    default and ``own`` is not."""
    names = own.keys() | other.keys()
    differs = [k for k in names if _setting(own, method, k) != _setting(other, method, k)]
    if not differs:
        return False
    for name in differs:
        default = setting_default(method, name)
        if default is NO_DEFAULT or _setting(other, method, name) != default:
            return False
    return True


def default_arm_of(
    arms: Mapping[str, Mapping[int, RunRecord]], arm: str
) -> tuple[str, Mapping[int, RunRecord]] | None:
    """The arm of ``arm``'s method that runs it at its defaults where ``arm`` does not, or None.

    ``arms`` maps each arm label of one group to its runs by seed (as in the report). None when
    ``arm`` is itself at the defaults, when no such arm ran, or when it is not the only one.
    """
    first = next(iter(arms[arm].values())).point
    own = dict(first.params)
    found = [
        (label, runs)
        for label, runs in arms.items()
        if label != arm
        and next(iter(runs.values())).point.method == first.method
        and _is_default_of(first.method, own, dict(next(iter(runs.values())).point.params))
    ]
    return found[0] if len(found) == 1 else None
