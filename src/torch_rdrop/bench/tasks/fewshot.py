"""Few-shot, dev and semi-supervised splits drawn from a data set's training split by a data seed.

Policies (the test split is always the data set's fixed test split, never sampled):

- **Classification** (:func:`sample_per_class`): each class's training examples are permuted by
  ``(seed, data set name)``; the first ``dev_shots`` go to the dev split, the next ``shots`` are
  the labelled examples — exactly ``shots`` per class — and, in semi-supervised mode, the rest
  of the training split is the unlabelled pool. Labelled sets are nested in K for one seed (the
  8-shot set is part of the 16-shot set) and the dev split does not depend on K.
- **Token labelling** (:func:`sample_sentences`): a sentence holds several classes (entity types
  or POS tags), so exactly K per class is not possible. Sentences are permuted by the seed and
  picked greedily, rarest class first, until each class occurs in at least K picked sentences;
  a sentence is only added while a class it carries is short of K, so the counts land at K or a
  little above. ``rare="error"`` refuses classes with fewer than K training sentences;
  ``rare="all"`` takes all the sentences such a class has. The dev split (``dev_shots`` per
  class, same greedy rule, at most half of a class's sentences) is drawn first, so it does not
  depend on K.
- **Generation** (:func:`sample_examples`): K examples in all.

``shots=None`` means the full training split (minus the dev split). Where a whole split costs too
much, ``train_rows`` cuts it to that many rows, drawn by the same seed after the dev split:
classification keeps each class's share (:func:`proportional_counts`), generation takes the first
rows of the permutation. Tagging has no such cut (a sentence holds several classes).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData, TaggingData

__all__ = [
    "SHOTS",
    "FewShotSplit",
    "few_shot",
    "proportional_counts",
    "sample_examples",
    "sample_per_class",
    "sample_sentences",
]

#: The K values of the benchmark protocol (None: the full training split).
SHOTS: tuple[int | None, ...] = (8, 16, 32, 64, None)
Rare = Literal["error", "all"]


@dataclass(frozen=True)
class FewShotSplit:
    """Index arrays into a data set: labelled training, dev, unlabelled and test examples."""

    train: np.ndarray
    dev: np.ndarray
    unlabelled: np.ndarray
    test: np.ndarray
    shots: int | None
    seed: int

    def __post_init__(self) -> None:
        parts = {"train": self.train, "dev": self.dev, "unlabelled": self.unlabelled}
        parts["test"] = self.test
        seen: set[int] = set()
        for name, idx in parts.items():
            values = set(idx.tolist())
            if len(values) != idx.size or seen & values:
                raise ValueError(f"few-shot split: {name} repeats or overlaps another part")
            seen |= values


def _check_shots(shots: int | None, name: str = "shots") -> None:
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
        raise ValueError(f"{name} must be a positive int or None (full), got {shots!r}")


def _rng(seed: int, name: str) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def check_train_rows(train_rows: int | None, shots: int | None) -> None:
    """Refuse a ``train_rows`` that is not a positive integer or None, or one given with shots.

    >>> check_train_rows(3000, None)
    >>> check_train_rows(3000, 16)
    Traceback (most recent call last):
    ...
    ValueError: train_rows cuts a whole training split (shots full); got shots=16, train_rows=3000
    """
    if train_rows is None:
        return
    if isinstance(train_rows, bool) or not isinstance(train_rows, int) or train_rows < 1:
        raise ValueError(f"train_rows must be a positive integer or None, got {train_rows!r}")
    if shots is not None:
        raise ValueError(
            f"train_rows cuts a whole training split (shots full); got shots={shots}, "
            f"train_rows={train_rows}"
        )


def proportional_counts(sizes: Sequence[int], total: int) -> list[int]:
    """``total`` split over groups in proportion to ``sizes`` (largest remainders, ties to the
    first group), never more than a group has.

    >>> proportional_counts([500, 300, 200], 100)
    [50, 30, 20]
    >>> proportional_counts([5, 3, 2], 7)
    [4, 2, 1]
    """
    have = np.asarray(sizes, dtype=np.int64)
    if total > int(have.sum()):
        raise ValueError(f"train_rows={total} but only {int(have.sum())} training rows are left")
    exact = total * have / max(int(have.sum()), 1)
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    for group in np.argsort(-(exact - counts), kind="stable")[:short]:
        counts[group] += 1
    return counts.tolist()


def sample_per_class(
    labels: np.ndarray,
    pool: np.ndarray,
    test: np.ndarray,
    shots: int | None,
    seed: int,
    *,
    dev_shots: int = 0,
    semi_supervised: bool = False,
    label_names: Sequence[str] | None = None,
    name: str = "",
    train_rows: int | None = None,
) -> FewShotSplit:
    """Exactly ``shots`` labelled examples per class from ``pool`` (see the module docstring);
    with ``shots=None`` and ``train_rows``, that many rows in all, each class in proportion.

    >>> labels = np.array([0] * 10 + [1] * 10)
    >>> split = sample_per_class(labels, np.arange(16), np.arange(16, 20), 3, seed=0, dev_shots=2)
    >>> np.bincount(labels[split.train]).tolist(), np.bincount(labels[split.dev]).tolist()
    ([3, 3], [2, 2])
    >>> sample_per_class(labels, np.arange(16), np.arange(16, 20), 7, seed=0)
    Traceback (most recent call last):
    ...
    ValueError: shots=7 but not every class has enough training examples: '1' has only 6
    >>> split = sample_per_class(labels, np.arange(16), np.arange(16, 20), None, 0, train_rows=5)
    >>> np.bincount(labels[split.train]).tolist()
    [3, 2]
    """
    _check_shots(shots)
    check_train_rows(train_rows, shots)
    if dev_shots < 0:
        raise ValueError(f"dev_shots must be >= 0, got {dev_shots}")
    rng = _rng(seed, name)
    labels = np.asarray(labels)
    pool = np.asarray(pool, dtype=np.int64)
    names = list(label_names) if label_names is not None else [str(c) for c in np.unique(labels)]
    per_class = [np.sort(pool[labels[pool] == cls]) for cls in range(len(names))]
    need = dev_shots + (shots or 1)
    short = [(names[c], m.size) for c, m in enumerate(per_class) if m.size < need]
    if short:
        listed = ", ".join(
            f"{name!r} has only {n}" for name, n in sorted(short, key=lambda x: x[1])
        )
        dev_note = f"; {dev_shots} per class go to the dev split first" if dev_shots else ""
        raise ValueError(
            f"shots={shots} but not every class has enough training examples: {listed}{dev_note}"
        )
    left = [m.size - dev_shots for m in per_class]
    cut = left if train_rows is None else proportional_counts(left, train_rows)
    train, dev, rest = [], [], []
    for members, count in zip(per_class, cut, strict=True):
        members = members[rng.permutation(members.size)]
        end = dev_shots + (count if shots is None else shots)
        dev.append(members[:dev_shots])
        train.append(members[dev_shots:end])
        rest.append(members[end:])
    return FewShotSplit(
        train=np.sort(np.concatenate(train)),
        dev=np.sort(np.concatenate(dev)),
        unlabelled=np.sort(np.concatenate(rest)) if semi_supervised else _empty(),
        test=np.asarray(test, dtype=np.int64),
        shots=shots,
        seed=seed,
    )


def _greedy(
    order: np.ndarray,
    classes: Sequence[frozenset[int]],
    target: np.ndarray,
) -> list[int]:
    count = np.zeros_like(target)
    chosen: list[int] = []
    taken: set[int] = set()
    available = np.zeros_like(target)
    for i in order:
        for c in classes[i]:
            available[c] += 1
    for cls in np.argsort(available, kind="stable"):
        for i in order:
            if count[cls] >= target[cls]:
                break
            if cls in classes[i] and i not in taken:
                taken.add(int(i))
                chosen.append(int(i))
                for c in classes[i]:
                    count[c] += 1
    return chosen


@lru_cache(maxsize=8)
def _sentence_classes(data: TaggingData) -> tuple[frozenset[int], ...]:
    """The classes of every sentence (cached per data set object; they are immutable)."""
    lengths = np.array([row.size for row in data.tags])
    sentence = np.repeat(np.arange(len(data)), lengths)
    found = data.tag_class()[np.concatenate(data.tags)]
    keep = found >= 0
    width = max(1, len(data.label_names))
    pairs = np.unique(sentence[keep] * width + found[keep])
    out: list[list[int]] = [[] for _ in range(len(data))]
    for i, c in zip((pairs // width).tolist(), (pairs % width).tolist(), strict=True):
        out[i].append(c)
    return tuple(frozenset(c) for c in out)


def sample_sentences(
    data: TaggingData,
    shots: int | None,
    seed: int,
    *,
    dev_shots: int = 0,
    semi_supervised: bool = False,
    rare: Rare = "error",
) -> FewShotSplit:
    """At least ``shots`` training sentences per class, greedily (see the module docstring).

    >>> from torch_rdrop.bench.tasks.data.base import TaggingData
    >>> rows = ([0, 1], [0, 1, 2], [1], [0, 0], [2, 1]) * 4
    >>> d = TaggingData("toy", tuple(("w",) * len(r) for r in rows), rows, ("O", "B-X", "I-X"),
    ...                 range(16), range(16, 20), source=None, language="en", outside=0)
    >>> split = sample_sentences(d, 3, seed=1)
    >>> sum(0 in d.sentence_labels(i) for i in split.train)
    3
    """
    _check_shots(shots)
    if rare not in ("error", "all"):
        raise ValueError(f"rare must be 'error' or 'all', got {rare!r}")
    if dev_shots < 0:
        raise ValueError(f"dev_shots must be >= 0, got {dev_shots}")
    rng = _rng(seed, data.name)
    pool = np.sort(data.train)
    order = pool[rng.permutation(pool.size)]
    lookup = _sentence_classes(data)
    classes = {i: lookup[i] for i in pool.tolist()}
    available = np.zeros(len(data.label_names), dtype=np.int64)
    for cls_set in classes.values():
        for c in cls_set:
            available[c] += 1
    # a class with few sentences gives at most half of them to the dev split
    dev = _greedy(order, lookup, np.minimum(available // 2, dev_shots)) if dev_shots else []
    dev_set = set(dev)
    remaining = np.array([i for i in order.tolist() if i not in dev_set], dtype=np.int64)
    left = available.copy()
    for i in dev:
        for c in lookup[i]:
            left[c] -= 1
    if shots is None:
        train = remaining.tolist()
    else:
        short = [(data.label_names[c], int(left[c])) for c in np.flatnonzero(left < shots)]
        if short and rare == "error":
            listed = ", ".join(f"{name!r} ({n})" for name, n in short[:10])
            raise ValueError(
                f"shots={shots} but these classes of {data.name} have fewer training sentences: "
                f"{listed}; lower shots or pass rare='all'"
            )
        train = _greedy(remaining, lookup, np.minimum(left, shots))
    rest = sorted(set(remaining.tolist()) - set(train)) if semi_supervised else []
    return FewShotSplit(
        train=np.sort(np.array(train, dtype=np.int64)),
        dev=np.sort(np.array(dev, dtype=np.int64)),
        unlabelled=np.array(rest, dtype=np.int64),
        test=np.asarray(data.test, dtype=np.int64),
        shots=shots,
        seed=seed,
    )


def sample_examples(
    data: GenerationData,
    shots: int | None,
    seed: int,
    *,
    dev: int = 0,
    train_rows: int | None = None,
) -> FewShotSplit:
    """``shots`` training examples in all (no classes), plus ``dev`` for model selection; with
    ``shots=None`` and ``train_rows``, that many training examples.

    >>> from torch_rdrop.bench.tasks.data.base import GenerationData
    >>> d = GenerationData("toy", tuple("abcdefgh"), None, range(6), range(6, 8), None, "en")
    >>> split = sample_examples(d, 2, seed=0, dev=1)
    >>> len(split.train), len(split.dev), set(split.train) & set(split.test)
    (2, 1, set())
    """
    _check_shots(shots)
    check_train_rows(train_rows, shots)
    rng = _rng(seed, data.name)
    pool = np.sort(data.train)
    order = pool[rng.permutation(pool.size)]
    need = dev + (shots or train_rows or 1)
    if order.size < need:
        wanted = f"train_rows={train_rows}" if train_rows else f"shots={shots}"
        raise ValueError(f"{wanted} and dev={dev} but {data.name} has {order.size} examples")
    end = dev + (shots or train_rows or order.size - dev)
    return FewShotSplit(
        train=np.sort(order[dev:end]),
        dev=np.sort(order[:dev]),
        unlabelled=_empty(),
        test=np.asarray(data.test, dtype=np.int64),
        shots=shots,
        seed=seed,
    )


def few_shot(
    data: ClassificationData | TaggingData | GenerationData,
    shots: int | None,
    seed: int,
    *,
    dev_shots: int = 0,
    semi_supervised: bool = False,
    rare: Rare = "error",
    train_rows: int | None = None,
) -> FewShotSplit:
    """The split of the protocol for any data set type (classification, tagging, generation).

    ``dev_shots`` is per class (classification, tagging) or in all (generation); ``train_rows``
    cuts a whole training split (classification, generation).
    """
    if isinstance(data, ClassificationData):
        return sample_per_class(
            data.labels,
            data.train,
            data.test,
            shots,
            seed,
            dev_shots=dev_shots,
            semi_supervised=semi_supervised,
            label_names=data.label_names,
            name=data.name,
            train_rows=train_rows,
        )
    if isinstance(data, TaggingData):
        if train_rows is not None:
            raise ValueError(
                f"train_rows applies to classification and generation data; {data.name} is "
                "tagging data (a sentence holds several classes)"
            )
        return sample_sentences(
            data, shots, seed, dev_shots=dev_shots, semi_supervised=semi_supervised, rare=rare
        )
    if isinstance(data, GenerationData):
        if semi_supervised:
            raise ValueError("semi_supervised splits need classes; generation data has none")
        return sample_examples(data, shots, seed, dev=dev_shots, train_rows=train_rows)
    raise ValueError(f"data must be a bench data set, got {type(data).__name__}")
