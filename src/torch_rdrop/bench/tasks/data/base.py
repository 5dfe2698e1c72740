"""The typed data sets that loaders return: classification, tagging and generation.

Each holds its examples, integer labels with their names, a fixed train/test split as index
arrays (fixed by the data set's name, never by a run's seed), and the :class:`Source` it came
from. The constructors check that labels are in range and the split is a disjoint partition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from torch_rdrop.bench.tasks.data.sources import Source

__all__ = ["ClassificationData", "GenerationData", "TaggingData", "check_split"]


def _frozen_int(array: np.ndarray | Sequence[int], name: str) -> np.ndarray:
    out = np.array(array, dtype=np.int64)
    if out.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {tuple(out.shape)}")
    out.setflags(write=False)
    return out


def check_split(train: np.ndarray, test: np.ndarray, size: int) -> None:
    """Raise unless ``train`` and ``test`` are disjoint, duplicate-free indices into ``size`` items.

    >>> check_split(np.array([0, 2]), np.array([1]), 3)
    >>> check_split(np.array([0, 1]), np.array([1]), 3)
    Traceback (most recent call last):
    ...
    ValueError: train and test overlap in 1 indices, e.g. [1]
    """
    for name, idx in (("train", train), ("test", test)):
        if idx.size and (idx.min() < 0 or idx.max() >= size):
            raise ValueError(
                f"{name} indices must lie in [0, {size}), got {idx.min()}..{idx.max()}"
            )
        if np.unique(idx).size != idx.size:
            raise ValueError(f"{name} indices contain duplicates")
    common = np.intersect1d(train, test)
    if common.size:
        raise ValueError(
            f"train and test overlap in {common.size} indices, e.g. {common[:5].tolist()}"
        )


@dataclass(frozen=True, eq=False)
class ClassificationData:
    """Examples with one label each: texts (a tuple of str) or images (an array ``[N, H, W]``).

    >>> d = ClassificationData("toy", ("a", "b", "c"), [0, 1, 1], ("neg", "pos"), [0, 1], [2],
    ...                        source=None, language="en")
    >>> d.num_classes, d.class_counts(), d.class_counts(d.train)
    (2, {'neg': 1, 'pos': 2}, {'neg': 1, 'pos': 1})
    """

    name: str
    inputs: tuple[str, ...] | np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    train: np.ndarray
    test: np.ndarray
    source: Source | None
    language: str
    raw_size: int | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        labels = _frozen_int(self.labels, "labels")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "train", _frozen_int(self.train, "train"))
        object.__setattr__(self, "test", _frozen_int(self.test, "test"))
        if len(self.inputs) != labels.size:
            raise ValueError(f"{self.name}: {len(self.inputs)} inputs but {labels.size} labels")
        if labels.size and (labels.min() < 0 or labels.max() >= len(self.label_names)):
            raise ValueError(
                f"{self.name}: labels must lie in [0, {len(self.label_names)}), "
                f"got {labels.min()}..{labels.max()}"
            )
        check_split(self.train, self.test, labels.size)

    def __len__(self) -> int:
        return int(self.labels.size)

    @property
    def num_classes(self) -> int:
        """Number of label names (every one of them occurs in the data)."""
        return len(self.label_names)

    def class_counts(self, indices: np.ndarray | None = None) -> dict[str, int]:
        """Examples per class name, over ``indices`` (default: all)."""
        labels = self.labels if indices is None else self.labels[indices]
        counts = np.bincount(labels, minlength=self.num_classes)
        return {name: int(n) for name, n in zip(self.label_names, counts, strict=True)}


@dataclass(frozen=True, eq=False)
class TaggingData:
    """Token sequences with one tag per token (POS tags or BIO entity tags).

    ``outside`` is the index of the tag that marks "no entity" (``"O"``), or None when every tag
    is a real class (part of speech). ``label_names`` are the classes the few-shot sampler counts:
    entity types for BIO tags (``PER``), the tags themselves otherwise.

    >>> d = TaggingData("toy", (("a", "b"), ("c",)), ([0, 1], [2]), ("O", "B-X", "I-X"),
    ...                 [0], [1], source=None, language="en", outside=0)
    >>> d.label_names, d.sentence_labels(0), d.token_count()
    (('X',), frozenset({0}), 3)
    """

    name: str
    tokens: tuple[tuple[str, ...], ...]
    tags: tuple[np.ndarray, ...]
    tag_names: tuple[str, ...]
    train: np.ndarray
    test: np.ndarray
    source: Source | None
    language: str
    outside: int | None = None
    raw_size: int | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        tags = tuple(_frozen_int(t, f"tags[{i}]") for i, t in enumerate(self.tags))
        object.__setattr__(self, "tags", tags)
        object.__setattr__(self, "train", _frozen_int(self.train, "train"))
        object.__setattr__(self, "test", _frozen_int(self.test, "test"))
        if len(self.tokens) != len(tags):
            raise ValueError(f"{self.name}: {len(self.tokens)} sentences but {len(tags)} tag rows")
        for i, (words, row) in enumerate(zip(self.tokens, tags, strict=True)):
            if len(words) != row.size or row.size == 0:
                raise ValueError(
                    f"{self.name}: sentence {i} has {len(words)} tokens and {row.size} tags"
                )
            if row.min() < 0 or row.max() >= len(self.tag_names):
                raise ValueError(f"{self.name}: sentence {i} has a tag outside the tag names")
        check_split(self.train, self.test, len(tags))

    def __len__(self) -> int:
        return len(self.tags)

    @property
    def num_tags(self) -> int:
        """Number of tags (the width of a tagger's output)."""
        return len(self.tag_names)

    @property
    def label_names(self) -> tuple[str, ...]:
        """Class names for few-shot sampling: entity types for BIO tags, else the tag names."""
        if self.outside is None:
            return self.tag_names
        types = [t.split("-", 1)[1] for t in self.tag_names if t.startswith("B-")]
        return tuple(dict.fromkeys(types))

    def tag_class(self) -> np.ndarray:
        """For each tag, its index in :attr:`label_names` (-1 for the outside tag)."""
        if self.outside is None:
            return np.arange(self.num_tags)
        names = self.label_names
        return np.array(
            [
                -1 if i == self.outside else names.index(t.split("-", 1)[1])
                for i, t in enumerate(self.tag_names)
            ]
        )

    def sentence_labels(self, index: int) -> frozenset[int]:
        """The classes (indices into :attr:`label_names`) that occur in sentence ``index``."""
        classes = self.tag_class()[self.tags[index]]
        return frozenset(int(c) for c in classes if c >= 0)

    def token_count(self, indices: np.ndarray | None = None) -> int:
        """Number of tokens over ``indices`` (default: all sentences)."""
        rows = range(len(self)) if indices is None else indices
        return sum(self.tags[i].size for i in rows)

    def tag_counts(self, indices: np.ndarray | None = None) -> dict[str, int]:
        """Tokens per tag name over ``indices`` (default: all sentences)."""
        rows = range(len(self)) if indices is None else indices
        counts: Counter[int] = Counter()
        for i in rows:
            counts.update(self.tags[i].tolist())
        return {name: counts[k] for k, name in enumerate(self.tag_names)}


@dataclass(frozen=True, eq=False)
class GenerationData:
    """Text pairs for sequence-to-sequence (``targets`` set) or plain texts for a language model.

    >>> d = GenerationData("toy", ("body one", "body two"), ("title one", "title two"), [0], [1],
    ...                    source=None, language="en")
    >>> len(d), d.is_seq2seq
    (2, True)
    """

    name: str
    inputs: tuple[str, ...]
    targets: tuple[str, ...] | None
    train: np.ndarray
    test: np.ndarray
    source: Source | None
    language: str
    raw_size: int | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "train", _frozen_int(self.train, "train"))
        object.__setattr__(self, "test", _frozen_int(self.test, "test"))
        if self.targets is not None and len(self.targets) != len(self.inputs):
            raise ValueError(
                f"{self.name}: {len(self.inputs)} inputs but {len(self.targets)} targets"
            )
        check_split(self.train, self.test, len(self.inputs))

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def is_seq2seq(self) -> bool:
        """True for input/target pairs, False for a language-model corpus."""
        return self.targets is not None
