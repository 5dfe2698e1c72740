"""The values a benchmark grid ranges over, and how the command line gives them.

Seeds (``0-4``), K (``16,64,full``), task and method names and hyper-parameter settings
(``--param rdrop.alpha=0.5,1``: several values make an axis). The parsers raise ``ValueError``
naming the argument and the text they saw.

>>> parse_seeds("0-2,7"), parse_shots("64,full")
((0, 1, 2, 7), (64, None))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "UNSET",
    "ParamSetting",
    "Scalar",
    "Shots",
    "parse_names",
    "parse_params",
    "parse_seeds",
    "parse_shots",
    "shots_label",
    "split_list",
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


def split_list(text: str, what: str) -> list[str]:
    """The items of a comma-separated list; an error naming ``what`` for an empty item.

    >>> split_list("a, b", "tasks")
    ['a', 'b']
    """
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
    for item in split_list(text, "seeds"):
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
    for item in split_list(text, "shots"):
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
    names = tuple(dict.fromkeys(split_list(text, what)))
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
        values = tuple(dict.fromkeys(_scalar(v) for v in split_list(raw, f"param {item!r}")))
        settings[(method or None, name)] = ParamSetting(name, values, method or None)
    return tuple(settings.values())
