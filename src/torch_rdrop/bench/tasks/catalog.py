"""The tasks: a task is a data set x a model family, with the family's recipe unless overridden.

A runner does::

    task = get_task("mr-cnn")                # the data set "mr", the model family "cnn"
    data = task.load()                       # verified, fixed train/test split
    split = few_shot(data, 16, seed=0)       # torch_rdrop.bench.tasks.fewshot
    encoder = task.make_encoder(data)        # fitted on the training split's text only
    model = task.make_model(data, encoder, dropout=0.3)

Names resolve in this order: a registered task (the built-in ones keep the names of earlier
releases, so stored studies still name them: ``mr-cnn``, ``fashion-mnist-cnn``...); then
``DATASET-FAMILY`` for any data set and family that fit together (``mr-lstm``,
``tweets-minilm``); then a task file, read by the reader registered for its suffix
(:func:`register_task_file_reader`).

>>> get_task("mr-lstm").dataset.name, get_task("mr-lstm").model_family.name
('mr', 'lstm')
>>> get_task("digits-mlp").epochs, get_task("fashion-mnist-cnn").model_family.name
(30, 'image-cnn')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from torch_rdrop.bench.tasks.data.base import ClassificationData, TaggingData
from torch_rdrop.bench.tasks.data.sources import Source, SourceMissingError
from torch_rdrop.bench.tasks.datasets import DATASETS, Data, Dataset, get_dataset
from torch_rdrop.bench.tasks.families import FAMILIES, ModelFamily, Predictor, get_family
from torch_rdrop.bench.tasks.metrics import get_metric
from torch_rdrop.bench.tasks.registry import Registry
from torch_rdrop.bench.tasks.text import Encoder

__all__ = [
    "TASKS",
    "Task",
    "check_data",
    "get_task",
    "register_task",
    "register_task_file",
    "register_task_file_reader",
    "resolve_task",
    "task_names",
    "task_rows",
]


@dataclass(frozen=True)
class Task:
    """A data set trained with a model family; ``epochs``... default to the family's recipe.

    ``origin`` is the task file a task was read from ("" otherwise).
    """

    name: str
    dataset: Dataset
    model_family: ModelFamily
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    dropout: float | None = None
    origin: str = ""

    def __post_init__(self) -> None:
        data, family = self.dataset, self.model_family
        why = family.refuses(data.kind, data.inputs, data.language)
        if why is not None:
            raise ValueError(
                f"task {self.name}: model family {family.name} cannot learn data set "
                f"{data.name} ({why})"
            )
        for name in ("epochs", "batch_size", "lr", "dropout"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, getattr(family, name))
        epochs, size, lr, p = self.epochs, self.batch_size, self.lr, self.dropout
        if epochs < 1 or size < 1 or lr <= 0 or not 0 <= p < 1:  # type: ignore[operator]
            raise ValueError(
                f"task {self.name}: need epochs >= 1, batch_size >= 1, lr > 0 and dropout in "
                f"[0, 1), got {epochs}, {size}, {lr}, {p}"
            )

    # What the data set decides.
    @property
    def kind(self) -> str:
        """``classification``, ``tagging`` or ``generation``."""
        return self.dataset.kind

    @property
    def language(self) -> str:
        """The data set's language (``-`` for images)."""
        return self.dataset.language

    @property
    def metric(self) -> str:
        """The data set's main metric."""
        return self.dataset.metric

    @property
    def source(self) -> Source | None:
        """Where the data set's files come from (None for a user's file)."""
        return self.dataset.source

    @property
    def family(self) -> str:
        """The R-Drop paper's task family (``NLU (text classification)``...)."""
        return self.dataset.area

    @property
    def rare(self) -> Any:
        """The few-shot policy for tagging classes rarer than K."""
        return self.dataset.rare

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger value of :attr:`metric` is better (from the metric registry)."""
        return get_metric(self.metric).higher_is_better

    # What the model family decides.
    @property
    def model_name(self) -> str:
        """The model in a few words."""
        return self.model_family.description

    @property
    def trainable(self) -> bool:
        """False for a fit/predict family: only the method ``none`` applies."""
        return self.model_family.trainable

    def load(self) -> Data:
        """The task's data set (``SourceMissingError`` names the install command)."""
        return self.dataset.load()

    def make_encoder(self, data: Data) -> Encoder | None:
        """The encoder, fitted on ``data``'s training split (None for a fit/predict family)."""
        encoder = self.model_family.encoder
        return None if encoder is None else encoder(data)

    def make_model(self, data: Data, encoder: Encoder, dropout: float | None = None) -> nn.Module:
        """A fresh model; ``dropout`` defaults to the task's rate."""
        if self.model_family.model is None:
            raise ValueError(f"task {self.name}: model family {self.model_family.name} is "
                             "fitted, not trained: it has no neural model")  # fmt: skip
        return self.model_family.model(data, encoder, self.dropout if dropout is None else dropout)

    def fit(self, data: Data, train: Any) -> Predictor:
        """The fitted predictor of a fit/predict family."""
        if self.model_family.fit is None:
            raise ValueError(f"task {self.name}: model family {self.model_family.name} is "
                             "trained, not fitted")  # fmt: skip
        return self.model_family.fit(data, train)


TASKS: Registry[Task] = Registry("task", "tasks")
"""The registered tasks (``rdrop bench --tasks all`` runs them), by name."""
_COMPOSED: dict[str, Task] = {}
_FILE_READERS: dict[str, Callable[[Path], Task]] = {}


def register_task(
    dataset: str | Dataset,
    family: str | ModelFamily,
    name: str | None = None,
    replace: bool = False,
    **recipe: Any,
) -> Task:
    """Register ``dataset`` x ``family`` as a task (``name`` defaults to ``DATASET-FAMILY``).

    ``recipe`` overrides the family's ``epochs``, ``batch_size``, ``lr`` or ``dropout``. Names
    are looked up in the registries; objects are used as given.

    >>> register_task("tweets", "cnn", name="tweets-cnn-short", epochs=5).epochs
    5
    >>> TASKS.remove("tweets-cnn-short")
    """
    data = get_dataset(dataset) if isinstance(dataset, str) else dataset
    model = get_family(family) if isinstance(family, str) else family
    unknown = sorted(set(recipe) - {"epochs", "batch_size", "lr", "dropout", "origin"})
    if unknown:
        raise ValueError(
            f"register_task: unknown recipe option(s) {unknown}; use epochs, batch_size, lr, "
            "dropout"
        )
    task = Task(name or f"{data.name}-{model.name}", data, model, **recipe)
    return TASKS.add(task.name, task, replace)


def register_task_file_reader(suffix: str, reader: Callable[[Path], Task]) -> None:
    """Read task files ending in ``suffix`` (``".toml"``) with ``reader(path) -> Task``."""
    if not suffix.startswith("."):
        raise ValueError(f"suffix must start with a dot, like '.toml', got {suffix!r}")
    _FILE_READERS[suffix.lower()] = reader


def _composed(name: str) -> Task | None:
    """``DATASET-FAMILY`` as a task, if exactly one split of ``name`` names both."""
    found = [
        (name[: -len(family) - 1], family)
        for family in FAMILIES
        if name.endswith(f"-{family}") and name[: -len(family) - 1] in DATASETS
    ]
    if len(found) > 1:
        raise ValueError(f"task {name!r} is ambiguous: it reads as {found}")
    if not found:
        return None
    dataset, family = found[0]
    return Task(name, get_dataset(dataset), get_family(family))


def _read_user_task(path: Path) -> Task:
    """The task of a ``.toml`` / ``.yaml`` task file: your own data (:mod:`.user_task`)."""
    from torch_rdrop.bench.tasks.user_task import read_task_file_as_task

    return read_task_file_as_task(path)


#: The task file endings read by :func:`~.user_task.read_task_file_as_task` (your own data).
TASK_FILE_SUFFIXES = (".toml", ".yaml", ".yml")
for _suffix in TASK_FILE_SUFFIXES:
    register_task_file_reader(_suffix, _read_user_task)


def _from_file(text: str) -> Task | None:
    path = Path(text)
    reader = _FILE_READERS.get(path.suffix.lower())
    if not path.suffix or (reader is None and not path.exists()):
        return None
    return register_task_file(text)


def register_task_file(path: str | Path) -> Task:
    """Read the task file ``path`` with the reader of its suffix and register its task.

    Reading the same file again replaces its task; a task file whose task name is taken by
    another task is an error. ``rdrop bench --tasks FILE`` does the same.

    >>> register_task_file("tickets.csv")
    Traceback (most recent call last):
    ...
    ValueError: task file 'tickets.csv': no reader for '.csv' files is registered (known: ...)
    """
    text = str(path)
    path = Path(path)
    reader = _FILE_READERS.get(path.suffix.lower())
    if reader is None:
        known = ", ".join(sorted(_FILE_READERS)) or "none"
        raise ValueError(
            f"task file {text!r}: no reader for {path.suffix!r} files is registered (known: "
            f"{known})"
        )
    if not path.is_file():
        raise ValueError(f"task file {text!r} does not exist")
    task = reader(path)
    if not isinstance(task, Task):
        raise TypeError(f"the reader of {path.suffix} files returned {type(task).__name__}")
    origin = task.origin or str(path)
    previous = TASKS.get(task.name) if task.name in TASKS else None
    if previous is not None and previous.origin != origin:
        raise ValueError(
            f"task file {text!r} defines task {task.name!r}, which is already registered; "
            "rename it in the file"
        )
    if not task.origin:
        task = dataclasses.replace(task, origin=origin)
    return TASKS.add(task.name, task, replace=True)


def resolve_task(text: str) -> str:
    """The name of the task ``text`` names: a registered task, ``DATASET-FAMILY`` or a task
    file (read and registered); ``ValueError`` listing the known tasks otherwise.

    >>> resolve_task("reviews-zh-lstm"), resolve_task("tweets-cnn")
    ('reviews-zh-lstm', 'tweets-cnn')
    >>> resolve_task("reviews-zh-minilm")
    Traceback (most recent call last):
    ...
    ValueError: task reviews-zh-minilm: model family minilm cannot learn data set reviews-zh \
(it reads en, not 'zh')
    """
    return get_task(text).name


def get_task(name: str) -> Task:
    """The task ``name`` names (see :func:`resolve_task`).

    >>> get_task("digits-mlp").metric
    'accuracy'
    >>> get_task("sst2")
    Traceback (most recent call last):
    ...
    ValueError: unknown task 'sst2'; known tasks: bbc-cnn, bbc-minilm, ...
    """
    if not isinstance(name, str):
        raise ValueError(f"task name must be a string, got {name!r}")
    if name in TASKS:
        return TASKS[name]
    if name in _COMPOSED:
        return _COMPOSED[name]
    task = _composed(name)
    if task is not None:
        _COMPOSED[name] = task
        return task
    task = _from_file(name)
    if task is not None:
        return task
    return TASKS.get(name)  # raises, naming the known tasks


def task_names() -> tuple[str, ...]:
    """The registered task names, in table order.

    >>> "mr-minilm" in task_names() and "reviews-zh-cnn" in task_names()
    True
    """
    return TASKS.names()


def check_data(name: str) -> None:
    """Read task ``name``'s data and check its model family's files (``ModelFamily.check``);
    ``ValueError`` with one line if either is not installed.

    The message ends with the install command: ``task fashion-mnist-cnn: /nowhere/train-images-
    idx3-ubyte.gz not found: the dataset-fashion-mnist ... data (Debian) is not installed; install
    it with: apt-get install -y dataset-fashion-mnist``.

    >>> check_data("digits-mlp")  # scikit-learn ships the digits
    """
    task = get_task(name)
    try:
        task.load()
    except SourceMissingError as exc:
        raise ValueError(f"task {task.name}: {exc}") from None
    except FileNotFoundError as exc:
        raise ValueError(f"task {task.name}: {exc}") from None
    if task.model_family.check is not None:
        try:
            task.model_family.check()
        except ValueError as exc:
            raise ValueError(f"task {task.name}: {exc}") from None


def _size(data: Data) -> str:
    return f"{len(data):,} ({len(data.train):,} train / {len(data.test):,} test)"


def _classes(data: Data) -> str:
    if isinstance(data, ClassificationData):
        return str(data.num_classes)
    if isinstance(data, TaggingData):
        if data.outside is not None:
            return f"{data.num_tags} tags ({', '.join(data.label_names)})"
        return f"{data.num_tags} tags"
    return "-"


def _source(source: Source | None) -> str:
    return "-" if source is None else f"{source.package} {source.version} ({source.registry})"


def task_rows(names: Sequence[str] | None = None, load: bool = True) -> list[dict[str, str]]:
    """Rows of the ``rdrop tasks`` table, one per task.

    With ``load`` the data is read (and verified) for the size and classes; a source that is not
    installed shows the command that installs it instead.

    >>> row = task_rows(("digits-mlp",))[0]
    >>> row["size"], row["classes"], row["licence"], row["dataset"], row["model family"]
    ('1,797 (1,438 train / 359 test)', '10', 'BSD-3-Clause', 'digits', 'mlp')
    """
    rows = []
    for name in names or task_names():
        task = get_task(name)
        size, classes = "-", "-"
        if load:
            try:
                data = task.load()
            except SourceMissingError:
                size = f"not installed: {task.source.install if task.source else '-'}"
            else:
                size, classes = _size(data), _classes(data)
        rows.append({
            "name": task.name,
            "dataset": task.dataset.name,
            "model family": task.model_family.name,
            "family": task.family,
            "language": task.language,
            "kind": task.kind,
            "model": task.model_name,
            "source": _source(task.source),
            "size": size,
            "classes": classes,
            "metric": task.metric,
            "licence": task.source.licence_note if task.source else "-",
        })  # fmt: skip
    return rows


# -- the built-in tasks (their names are those of earlier releases: stored studies use them) --

for _dataset, _family in [
    ("bbc", "cnn"), ("bbc", "minilm"), ("mr", "cnn"), ("mr", "minilm"), ("tweets", "lstm"),
    ("tweets", "minilm"), ("uncertainty", "cnn"), ("uncertainty", "minilm"),
    ("reviews-zh", "cnn"), ("reviews-zh", "lstm"), ("wsj-pos", "lstm"), ("wsj-pos", "minilm"),
    ("pd-ner", "lstm"), ("pd-pos", "lstm"),
]:  # fmt: skip
    register_task(_dataset, _family)
register_task("fashion-mnist", "image-cnn", name="fashion-mnist-cnn")
register_task("digits", "mlp")
register_task("bbc-headlines", "bart")
register_task("pd-lm", "gpt2")
register_task("pd-lm", "gpt2-wide")
