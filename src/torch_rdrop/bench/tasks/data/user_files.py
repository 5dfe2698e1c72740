"""Your own data: a local CSV / TSV / JSONL / Parquet file or a ``save_to_disk`` folder.

:func:`~torch_rdrop.bench.tasks.data.tables.read_table` reads a file into columns;
:func:`load_user_data` picks the named columns and returns the benchmark's typed data sets
(:mod:`torch_rdrop.bench.tasks.data.base`):

- ``classification``: a text column and a label column (strings or integers);
- ``tagging``: a tokens column and a tags column, as lists (JSONL, Parquet, ``datasets``) or as
  whitespace-separated strings (CSV, TSV); ``O`` with ``B-X`` / ``I-X`` tags is read as BIO;
- ``generation``: a source column and a target column (sequence to sequence).

Like the built-in loaders, exact duplicates are kept once (an input seen with two different
labels is dropped), and the test split is fixed: a test file, or a stratified split of the
training file fixed by ``seed`` (never by a run's seed). Test rows whose input also occurs in the
training file are dropped. The notes of the data set count what was removed.

Every problem raises :class:`UserDataError`, a ValueError whose one-line message names the file,
the column and the values seen.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "reviews.csv").write_text("text,label\\ngood,pos\\nbad,neg\\ngood,pos\\n")
>>> data = load_user_data("reviews", "classification", folder / "reviews.csv",
...                       columns=("text", "label"), test_fraction=0.5)
>>> data.label_names, len(data), data.notes
(('neg', 'pos'), 2, ('1 duplicate row removed from reviews.csv',))
>>> load_user_data("reviews", "classification", folder / "reviews.csv", columns=("txt", "label"))
Traceback (most recent call last):
...
torch_rdrop.bench.tasks.data.tables.UserDataError: .../reviews.csv: no column 'txt' (the text \
column); columns found: text, label; did you mean 'text'?
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData, TaggingData
from torch_rdrop.bench.tasks.data.split import dedupe, fixed_split, fixed_split_by_class
from torch_rdrop.bench.tasks.data.tables import (
    Table,
    UserDataError,
    has_split,
    read_table,
    user_source,
)

__all__ = [
    "COLUMN_ROLES",
    "UserDataError",
    "check_shots",
    "load_user_data",
]

Kind = Literal["classification", "tagging", "generation"]
Data = ClassificationData | TaggingData | GenerationData
#: The two columns each kind of task reads: (input role, output role).
COLUMN_ROLES: dict[str, tuple[str, str]] = {
    "classification": ("text", "label"),
    "tagging": ("tokens", "tags"),
    "generation": ("source", "target"),
}
_BIO = re.compile(r"^[BI]-.+")


# -- cells --------------------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value == ""


def _texts(table: Table, name: str, role: str) -> list[str]:
    values = table.column(name, role)
    out = []
    for row, value in enumerate(values, start=1):
        if _empty(value) or not isinstance(value, str) or not value.strip():
            raise UserDataError(
                f"{table.path}: row {row} of column {name!r} (the {role} column) is "
                f"{value!r}, not a non-empty text"
            )
        out.append(value)
    return out


def _labels(table: Table, name: str, role: str) -> list[str]:
    out = []
    for row, value in enumerate(table.column(name, role), start=1):
        if isinstance(value, float) and not np.isnan(value) and value.is_integer():
            value = int(value)
        if _empty(value) or not isinstance(value, (str, int)):
            raise UserDataError(
                f"{table.path}: row {row} of column {name!r} (the {role} column) is "
                f"{value!r}, not a label (a string or an integer)"
            )
        out.append(str(value).strip())
    return out


def _sequence(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, (list, tuple, np.ndarray)) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value)
    return None


def _sequences(table: Table, name: str, role: str) -> list[tuple[str, ...]]:
    out = []
    for row, value in enumerate(table.column(name, role), start=1):
        items = _sequence(value)
        if not items or not all(items):
            raise UserDataError(
                f"{table.path}: row {row} of column {name!r} (the {role} column) is "
                f"{value!r}, not a non-empty list of strings or a space-separated string"
            )
        out.append(items)
    return out


def _tagged(table: Table, columns: tuple[str, str]) -> tuple[list, list]:
    tokens = _sequences(table, columns[0], "tokens")
    tags = _sequences(table, columns[1], "tags")
    for row, (words, labels) in enumerate(zip(tokens, tags, strict=True), start=1):
        if len(words) != len(labels):
            raise UserDataError(
                f"{table.path}: row {row} has {len(words)} tokens in {columns[0]!r} but "
                f"{len(labels)} tags in {columns[1]!r}"
            )
    return tokens, tags


# -- label sets ---------------------------------------------------------------------------------


def _ordered(values: set[str]) -> tuple[str, ...]:
    """Integers in numeric order, other names in text order."""
    if all(re.fullmatch(r"-?\d+", v) for v in values):
        return tuple(sorted(values, key=int))
    return tuple(sorted(values))


def _tag_names(tags: set[str]) -> tuple[tuple[str, ...], int | None]:
    """Tag order and the outside tag: ``O`` first for BIO tags (every type with a ``B-``)."""
    others = tags - {"O"}
    types = {t[2:] for t in others}
    bio = (
        "O" in tags and all(_BIO.match(t) for t in others) and all(f"B-{x}" in tags for x in types)
    )
    if not bio:
        return _ordered(tags), None
    return ("O", *sorted(others, key=lambda t: (t[2:], t[0]))), 0


def _describe(counts: Counter[str], unit: str = "rows", limit: int = 8) -> str:
    shown = ", ".join(f"{v!r} ({n} {unit})" for v, n in counts.most_common(limit))
    return shown + (f" and {len(counts) - limit} more" if len(counts) > limit else "")


def _check_classes(table: Table, column: str, values: Sequence[str]) -> None:
    counts = Counter(values)
    if len(counts) < 2:
        raise UserDataError(
            f"{table.path}: column {column!r} has one class, {_describe(counts)}; "
            "a classifier needs at least two"
        )


def _check_unseen(
    test: Table, train: Table, column: str, seen: set[str], values: Sequence, unit: str = "rows"
) -> None:
    unseen = Counter(v for v in values if v not in seen)
    if unseen:
        raise UserDataError(
            f"{test.path}: labels in column {column!r} that the training file {train.path.name} "
            f"does not have: {_describe(unseen, unit)}; training labels: {', '.join(sorted(seen))}"
        )


# -- assembling ---------------------------------------------------------------------------------


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class _Rows:
    inputs: list[Any]
    outputs: list[Any]
    notes: list[str]


def _unique(table: Table, inputs: list, outputs: list, key: str) -> _Rows:
    """:func:`~torch_rdrop.bench.tasks.data.split.dedupe` with a note of what it removed."""
    kept, kept_out, conflicts = dedupe(inputs, outputs)
    notes = []
    removed = len(inputs) - len(kept)
    if removed:
        detail = f", incl. {_count(conflicts, key)} seen with two outputs" if conflicts else ""
        notes.append(f"{_count(removed, 'duplicate row')} removed from {table.path.name}{detail}")
    return _Rows(kept, kept_out, notes)


def _without_leaks(test: _Rows, train: _Rows, table: Table) -> _Rows:
    seen = set(train.inputs)
    keep = [i for i, x in enumerate(test.inputs) if x not in seen]
    notes = list(test.notes)
    if len(keep) < len(test.inputs):
        dropped = _count(len(test.inputs) - len(keep), "row")
        notes.append(f"{dropped} of {table.path.name} also in the training file removed")
    if not keep:
        raise UserDataError(f"{table.path}: every test row also occurs in the training file")
    return _Rows([test.inputs[i] for i in keep], [test.outputs[i] for i in keep], notes)


def _pairs(kind: str, table: Table, columns: tuple[str, str]) -> tuple[list, list]:
    if kind == "classification":
        return _texts(table, columns[0], "text"), _labels(table, columns[1], "label")
    if kind == "tagging":
        return _tagged(table, columns)
    return _texts(table, columns[0], "source"), _texts(table, columns[1], "target")


def load_user_data(
    name: str,
    kind: Kind,
    train_file: str | Path,
    columns: tuple[str, str] | None = None,
    *,
    test_file: str | Path | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    language: str = "en",
) -> Data:
    """A typed data set from the user's files (see the module docstring).

    ``columns`` names the (input, output) columns, by default the roles of
    :data:`COLUMN_ROLES`. Without ``test_file`` the test split is ``test_fraction`` of the
    training file, stratified by class for classification, fixed by ``seed``. A ``DatasetDict``
    folder gives its ``train`` split, and its ``test`` split when there is no test file.
    """
    if kind not in COLUMN_ROLES:
        raise UserDataError(f"kind must be one of {', '.join(COLUMN_ROLES)}, got {kind!r}")
    columns = tuple(columns) if columns is not None else COLUMN_ROLES[kind]  # type: ignore[assignment]
    if len(columns) != 2 or not all(isinstance(c, str) and c for c in columns):
        raise UserDataError(f"columns must be two column names, got {columns!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserDataError(f"seed must be a non-negative integer, got {seed!r}")
    train_path = Path(train_file).expanduser()
    test_path = Path(test_file).expanduser() if test_file is not None else None
    train_table = read_table(train_path, "train" if has_split(train_path, "train") else None)
    if test_path is None and has_split(train_path, "test"):
        test_path = train_path
    test_table = None
    if test_path is not None:
        test_table = read_table(test_path, "test" if has_split(test_path, "test") else None)
    inputs, outputs = _pairs(kind, train_table, columns)
    key = "token sequence" if kind == "tagging" else ("source" if kind == "generation" else "text")
    train = _unique(train_table, inputs, outputs, key)
    test = None
    if test_table is not None:
        test = _unique(test_table, *_pairs(kind, test_table, columns), key)
        test = _without_leaks(test, train, test_table)
    raw = train_table.rows + (test_table.rows if test_table is not None else 0)
    source = user_source(train_path, test_path if test_path != train_path else None)
    build = {"classification": _classification, "tagging": _tagging, "generation": _generation}
    return build[kind](
        name, train, test, (train_table, test_table), columns, test_fraction, seed,
        language=language, source=source, raw_size=raw,
    )  # fmt: skip


def _indices(
    train: _Rows, test: _Rows | None, split: tuple[float, int], labels: np.ndarray | None
) -> tuple[list, list, np.ndarray, np.ndarray]:
    """All inputs and outputs (train first) with the train and test index arrays."""
    if test is not None:
        n, m = len(train.inputs), len(test.inputs)
        everything = (train.inputs + test.inputs, train.outputs + test.outputs)
        return *everything, np.arange(n), np.arange(n, n + m)
    fraction, seed = split
    if not 0.0 < fraction < 1.0:
        raise UserDataError(f"test_fraction must lie in (0, 1), got {fraction!r}")
    size = len(train.inputs)
    if size < 2:
        raise UserDataError(f"{size} unique row: too few to split off a test set")
    key = f"user-data-split-{seed}"
    if labels is not None:
        tr, te = fixed_split_by_class(labels, key, fraction)
    else:
        tr, te = fixed_split(size, key, fraction)
    return train.inputs, train.outputs, tr, te


def _classification(name, train, test, tables, columns, fraction, seed, **kw) -> ClassificationData:
    train_table, test_table = tables
    _check_classes(train_table, columns[1], train.outputs)
    names = _ordered(set(train.outputs))
    if test is not None:
        _check_unseen(test_table, train_table, columns[1], set(names), test.outputs)
    index = {label: k for k, label in enumerate(names)}
    train_ids = np.array([index[y] for y in train.outputs])
    inputs, outputs, tr, te = _indices(train, test, (fraction, seed), train_ids)
    labels = [index[y] for y in outputs]
    notes = tuple(train.notes + (test.notes if test else []))
    return ClassificationData(name, tuple(inputs), labels, names, tr, te, notes=notes, **kw)


def _tagging(name, train, test, tables, columns, fraction, seed, **kw) -> TaggingData:
    train_table, test_table = tables
    seen = {t for row in train.outputs for t in row}
    if len(seen) < 2:
        counts = _describe(Counter(t for row in train.outputs for t in row), "tokens")
        raise UserDataError(
            f"{train_table.path}: column {columns[1]!r} has one tag, {counts}; "
            "a tagger needs at least two"
        )
    if test is not None:
        tags = [t for row in test.outputs for t in row]
        _check_unseen(test_table, train_table, columns[1], seen, tags, "tokens")
    names, outside = _tag_names(seen)
    index = {t: k for k, t in enumerate(names)}
    tokens, rows, tr, te = _indices(train, test, (fraction, seed), None)
    ids = tuple(np.array([index[t] for t in row], dtype=np.int64) for row in rows)
    notes = tuple(train.notes + (test.notes if test else []))
    return TaggingData(name, tuple(tokens), ids, names, tr, te, outside=outside, notes=notes, **kw)


def _generation(name, train, test, tables, columns, fraction, seed, **kw) -> GenerationData:
    sources, targets, tr, te = _indices(train, test, (fraction, seed), None)
    notes = tuple(train.notes + (test.notes if test else []))
    return GenerationData(name, tuple(sources), tuple(targets), tr, te, notes=notes, **kw)


def check_shots(data: Data, shots: int | None, dev_shots: int = 0) -> None:
    """Raise unless every class has ``shots + dev_shots`` training examples (``None``: 1 + dev).

    Classes are labels (classification), the classes of :attr:`TaggingData.label_names` counted
    in sentences (tagging), or all examples together (generation).

    >>> d = ClassificationData("toy", ("a", "b", "c"), [0, 0, 1], ("neg", "pos"), [0, 1, 2], [],
    ...                        source=None, language="en")
    >>> check_shots(d, 2)
    Traceback (most recent call last):
    ...
    torch_rdrop.bench.tasks.data.tables.UserDataError: toy: shots=2 needs 2 training \
examples of every class; too few: 'pos' has 1
    """
    for value, what in ((shots, "shots"), (dev_shots, "dev_shots")):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise UserDataError(f"{what} must be a non-negative integer or None, got {value!r}")
    need = (shots or 1) + dev_shots
    if isinstance(data, ClassificationData):
        counts = data.class_counts(data.train)
    elif isinstance(data, TaggingData):
        tally: Counter[int] = Counter()
        for i in data.train:
            tally.update(data.sentence_labels(int(i)))
        counts = {label: tally[k] for k, label in enumerate(data.label_names)}
    elif isinstance(data, GenerationData):
        if len(data.train) < need:
            raise UserDataError(
                f"{data.name}: shots={shots} and dev_shots={dev_shots} need {need} training "
                f"examples; the training split has {len(data.train)}"
            )
        return
    else:
        raise UserDataError(f"data must be a bench data set, got {type(data).__name__}")
    short = sorted(((n, label) for label, n in counts.items() if n < need))
    if short:
        listed = ", ".join(f"{label!r} has {n}" for n, label in short[:10])
        dev = f" (+{dev_shots} for the dev split)" if dev_shots else ""
        raise UserDataError(
            f"{data.name}: shots={shots} needs {need} training examples of every class{dev}; "
            f"too few: {listed}"
        )
