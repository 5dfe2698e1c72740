"""A task from a small TOML or YAML file: the user's data, its columns and the model to train.

::

    name = "tickets"                 # letters, digits, '.', '_', '-'
    kind = "classification"          # or "tagging", "generation"
    language = "en"                  # optional, "en" by default
    model = "minilm"                 # a built-in family, or a checkpoint folder: "./my-bert"
    pooling = "head"                 # optional, checkpoint classifiers: "head" or "mean"
    metric = "macro_f1"              # optional, see default_metric

    [data]
    train = "tickets.csv"            # CSV, TSV, JSONL, Parquet, or a save_to_disk folder
    test = "tickets-test.csv"        # optional; else test_fraction of train, fixed by seed
    test_fraction = 0.2
    seed = 0
    text = "body"                    # column names, by role (default: the role's name):
    label = "queue"                  # text/label, tokens/tags or source/target

    [recipe]                         # optional: overrides the model family's defaults
    epochs = 5
    lr = 5e-5
    batch_size = 16
    dropout = 0.1
    max_length = 128

The same keys in YAML (``data:`` and ``recipe:`` mappings). Relative paths resolve against the
task file's folder. A model value with a ``/`` (``./my-bert``, ``~/models/bert``) is a checkpoint
folder; any other value names a built-in family. ``pooling`` picks a checkpoint classifier's
head (:data:`~torch_rdrop.bench.tasks.pooling.POOLINGS`): its own (``"head"``, the default) or
a new one on the mean of the token states (``"mean"``). Every problem — an unknown or missing key, a
value of the wrong type — raises :class:`TaskFileError` naming the file, the key and the
accepted keys or values.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "task.toml").write_text('name = "t"\\nkind = "classification"\\n'
...     'model = "cnn"\\n[data]\\ntrain = "t.csv"\\nlabel = "y"\\n[recipe]\\nepoch = 3\\n')
>>> load_task_file(folder / "task.toml")
Traceback (most recent call last):
...
torch_rdrop.bench.tasks.task_file.TaskFileError: .../task.toml: unknown key 'epoch' in [recipe]; \
accepted keys: epochs, lr, batch_size, dropout, max_length; did you mean 'epochs'?
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData, TaggingData
from torch_rdrop.bench.tasks.data.user_files import COLUMN_ROLES, load_user_data
from torch_rdrop.bench.tasks.pooling import POOLINGS

if TYPE_CHECKING:
    from torch_rdrop.bench.tasks.checkpoint import CheckpointFamily

__all__ = [
    "Recipe",
    "TaskFileError",
    "UserTaskSpec",
    "default_metric",
    "load_task_file",
    "load_user_task",
    "parse_task",
    "read_task_file",
]

Data = ClassificationData | TaggingData | GenerationData
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TOP_KEYS = ("name", "kind", "language", "model", "pooling", "metric", "data", "recipe")
_DATA_KEYS = ("train", "test", "test_fraction", "seed")


class TaskFileError(ValueError):
    """A task file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Recipe:
    """Training settings that override the model family's defaults (``None``: the default)."""

    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    dropout: float | None = None
    max_length: int | None = None

    def overrides(self) -> dict[str, int | float]:
        """The settings given, by name.

        >>> Recipe(epochs=3, lr=1e-4).overrides()
        {'epochs': 3, 'lr': 0.0001}
        """
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class UserTaskSpec:
    """A user's task: data files, columns, model and recipe (paths already resolved).

    ``columns`` are the (input, output) column names for the roles of
    :data:`~torch_rdrop.bench.tasks.data.user_files.COLUMN_ROLES` of ``kind``.
    """

    name: str
    kind: str
    train_file: Path
    columns: tuple[str, str]
    model: str
    language: str = "en"
    test_file: Path | None = None
    test_fraction: float = 0.2
    seed: int = 0
    metric: str | None = None
    recipe: Recipe = field(default_factory=Recipe)
    origin: Path | None = None
    pooling: str = "head"

    @property
    def checkpoint(self) -> Path | None:
        """The checkpoint folder when :attr:`model` is a path, else None (a built-in family)."""
        return Path(self.model) if _is_path(self.model) else None

    def checkpoint_family(self) -> CheckpointFamily | None:
        """The ``(data, dropout) -> (encoder, model)`` builder of a checkpoint folder, with the
        recipe's ``max_length``; None when :attr:`model` names a built-in family."""
        if self.checkpoint is None:
            return None
        from torch_rdrop.bench.tasks.checkpoint import CheckpointFamily

        if self.recipe.max_length is None:
            return CheckpointFamily(self.checkpoint, pooling=self.pooling)
        return CheckpointFamily(
            self.checkpoint, max_length=self.recipe.max_length, pooling=self.pooling
        )

    def load_data(self) -> Data:
        """The data set the files hold (raises UserDataError naming the file and column)."""
        return load_user_data(
            self.name,
            self.kind,  # type: ignore[arg-type]
            self.train_file,
            self.columns,
            test_file=self.test_file,
            test_fraction=self.test_fraction,
            seed=self.seed,
            language=self.language,
        )


def _is_path(model: str) -> bool:
    return "/" in model or "\\" in model or model.startswith(("~", "."))


def read_task_file(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a ``.toml``, ``.yaml`` or ``.yml`` task file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise TaskFileError(f"{path}: no such task file")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            from torch_rdrop.integrations import require

            tomllib = require("tomli", "bench")
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise TaskFileError(f"{path}: not valid TOML ({error})") from None
    elif suffix in (".yaml", ".yml"):
        from torch_rdrop.integrations import require

        yaml = require("yaml", "bench")
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise TaskFileError(f"{path}: not valid YAML ({error})".replace("\n", " ")) from None
    else:
        raise TaskFileError(f"{path}: a task file ends in .toml, .yaml or .yml")
    if not isinstance(raw, dict):
        raise TaskFileError(
            f"{path}: the file must hold a mapping of keys, got {type(raw).__name__}"
        )
    return raw


class _Checker:
    """Typed access to the keys of one table of a task file, with errors naming the file."""

    def __init__(self, origin: str, raw: Any, section: str, accepted: tuple[str, ...]) -> None:
        self.origin, self.section, self.where = (
            origin,
            section,
            f" in [{section}]" if section else "",
        )
        if not isinstance(raw, Mapping):
            raise TaskFileError(f"{origin}: [{section}] must be a table of keys, got {raw!r}")
        for key in raw:
            if key not in accepted:
                close = difflib.get_close_matches(str(key), accepted, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise TaskFileError(
                    f"{origin}: unknown key {key!r}{self.where}; accepted keys: "
                    f"{', '.join(accepted)}{hint}"
                )
        self.raw = raw

    def _name(self, key: str) -> str:
        return f"{self.section}.{key}" if self.section else key

    def _wrong(self, key: str, wanted: str) -> TaskFileError:
        value = self.raw[key]
        return TaskFileError(
            f"{self.origin}: {self._name(key)} must be {wanted}, got {value!r} "
            f"({type(value).__name__})"
        )

    def text(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        if key not in self.raw:
            if required:
                raise TaskFileError(f"{self.origin}: missing key {self._name(key)!r}")
            return default
        value = self.raw[key]
        if not isinstance(value, str) or not value.strip():
            raise self._wrong(key, "a non-empty string")
        return value.strip()

    def integer(self, key: str, low: int) -> int | None:
        if key not in self.raw:
            return None
        value = self.raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self._wrong(key, f"an integer >= {low}")
        return value

    def number(self, key: str, low: float, high: float, closed_low: bool = True) -> float | None:
        if key not in self.raw:
            return None
        value = self.raw[key]
        if isinstance(value, str):  # YAML 1.1 reads 5e-5 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise self._wrong(key, "a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._wrong(key, "a number")
        above = value >= low if closed_low else value > low
        if not (above and value < high):
            bracket = "[" if closed_low else "("
            raise self._wrong(key, f"a number in {bracket}{low}, {high})")
        return float(value)


def _resolve(folder: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (folder / path).resolve()


def _choice(origin: str, key: str, value: str, accepted: Collection[str]) -> str:
    if value in accepted:
        return value
    close = difflib.get_close_matches(value, list(accepted), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise TaskFileError(f"{origin}: {key} {value!r} is not one of {', '.join(accepted)}{hint}")


def parse_task(
    raw: Mapping[str, Any],
    folder: Path,
    origin: str = "task",
    families: Collection[str] | None = None,
    metrics: Collection[str] | None = None,
) -> UserTaskSpec:
    """The spec of a task file's mapping; relative paths resolve against ``folder``.

    ``families`` and ``metrics``, when given, are the accepted model family and metric names.

    >>> spec = parse_task({"name": "t", "kind": "tagging", "model": "lstm",
    ...                    "data": {"train": "ner.jsonl", "tags": "ner_tags"}}, Path("/data"))
    >>> spec.train_file, spec.columns, spec.checkpoint
    (PosixPath('/data/ner.jsonl'), ('tokens', 'ner_tags'), None)
    """
    top = _Checker(origin, raw, "", _TOP_KEYS)
    name = top.text("name", required=True)
    if not _NAME.match(name):
        raise TaskFileError(
            f"{origin}: name {name!r} must be letters, digits, '.', '_' or '-' (it is used on "
            "the command line)"
        )
    kind = _choice(origin, "kind", top.text("kind", required=True), COLUMN_ROLES)
    roles = COLUMN_ROLES[kind]
    data = _Checker(origin, raw.get("data", {}), "data", (*_DATA_KEYS, *roles))
    train = data.text("train", required=True)
    test = data.text("test")
    test_fraction = data.number("test_fraction", 0.0, 1.0, closed_low=False)
    if test is not None and test_fraction is not None:
        raise TaskFileError(
            f"{origin}: give data.test (a test file) or data.test_fraction (a split of "
            "data.train), not both"
        )
    model = top.text("model", required=True)
    if _is_path(model):
        model = str(_resolve(folder, model))
        if not Path(model).is_dir():
            raise TaskFileError(f"{origin}: model folder {model} does not exist")
    elif families is not None:
        model = _choice(origin, "model", model, families)
    pooling = _pooling(origin, top.text("pooling"), kind, model)
    metric = top.text("metric")
    if metric is not None and metrics is not None:
        metric = _choice(origin, "metric", metric, metrics)
    recipe = _Checker(
        origin, raw.get("recipe", {}), "recipe", tuple(f.name for f in fields(Recipe))
    )
    return UserTaskSpec(
        name=name,
        kind=kind,
        train_file=_resolve(folder, train),
        columns=(data.text(roles[0], roles[0]), data.text(roles[1], roles[1])),
        model=model,
        language=top.text("language", "en"),
        test_file=_resolve(folder, test) if test is not None else None,
        test_fraction=0.2 if test_fraction is None else test_fraction,
        seed=data.integer("seed", 0) or 0,
        metric=metric,
        recipe=Recipe(
            epochs=recipe.integer("epochs", 1),
            lr=recipe.number("lr", 0.0, float("inf"), closed_low=False),
            batch_size=recipe.integer("batch_size", 1),
            dropout=recipe.number("dropout", 0.0, 1.0),
            max_length=recipe.integer("max_length", 2),
        ),
        origin=Path(origin) if origin != "task" else None,
        pooling=pooling,
    )


def _pooling(origin: str, pooling: str | None, kind: str, model: str) -> str:
    """The checked ``pooling`` key: a head choice exists for a checkpoint classifier only."""
    if pooling is None:
        return "head"
    pooling = _choice(origin, "pooling", pooling, POOLINGS)
    if not _is_path(model):
        raise TaskFileError(
            f"{origin}: pooling applies to a checkpoint folder; the built-in family {model!r} "
            "has its own head"
        )
    if pooling != "head" and kind != "classification":
        raise TaskFileError(
            f"{origin}: pooling {pooling!r} is a classification head; a {kind} task uses the "
            "checkpoint's own"
        )
    return pooling


def load_task_file(
    path: str | Path,
    families: Collection[str] | None = None,
    metrics: Collection[str] | None = None,
) -> UserTaskSpec:
    """The spec of a TOML or YAML task file (see the module docstring)."""
    path = Path(path).expanduser().resolve()
    raw = read_task_file(path)
    return parse_task(raw, path.parent, str(path), families, metrics)


def default_metric(data: Data) -> str:
    """The metric of a user task that names none.

    Macro F1 for classification (user data is often imbalanced; with balanced classes it tracks
    accuracy), entity F1 for BIO tags, token accuracy for other tags, ROUGE-L for generation.

    >>> d = TaggingData("toy", (("a",),), ([1],), ("O", "B-X", "I-X"), [0], [], None, "en",
    ...                 outside=0)
    >>> default_metric(d)
    'entity_f1'
    """
    if isinstance(data, ClassificationData):
        return "macro_f1"
    if isinstance(data, TaggingData):
        return "entity_f1" if data.outside is not None else "token_accuracy"
    return "rouge_l"


def load_user_task(
    path: str | Path,
    families: Collection[str] | None = None,
    metrics: Collection[str] | None = None,
) -> tuple[UserTaskSpec, Data]:
    """The spec of a task file and its data set, checked: files, columns, labels, checkpoint.

    Everything is read before anything runs, so a task that cannot load stores nothing.
    """
    spec = load_task_file(path, families, metrics)
    if spec.checkpoint is not None:
        from torch_rdrop.bench.tasks.checkpoint import check_checkpoint

        check_checkpoint(spec.checkpoint)
    return spec, spec.load_data()
