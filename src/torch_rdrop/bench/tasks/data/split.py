"""Fixed held-out test splits, exact-duplicate removal and count checks shared by the loaders.

The test split of a data set depends on its name only (a CRC-32 of the name seeds the
permutation), so every run, whatever its data or init seed, is scored on the same examples.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["check_counts", "dedupe", "fixed_split", "fixed_split_by_class"]


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode("utf-8")))


def fixed_split(
    size: int, name: str, test_fraction: float = 0.2, max_test: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(size)`` into sorted (train, test) index arrays fixed by ``name``.

    >>> train, test = fixed_split(10, "toy")
    >>> len(train), len(test), sorted(np.concatenate([train, test]).tolist()) == list(range(10))
    (8, 2, True)
    >>> bool((fixed_split(10, "toy")[1] == test).all())
    True
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    if size < 2:
        raise ValueError(f"size must be at least 2 to split, got {size}")
    n_test = min(max(1, round(size * test_fraction)), size - 1)
    if max_test is not None:
        n_test = min(n_test, max_test)
    order = _rng(name).permutation(size)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def fixed_split_by_class(
    labels: np.ndarray, name: str, test_fraction: float = 0.2, max_test: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified version of :func:`fixed_split`: each class keeps its share in the test split.

    With ``max_test`` the test split is shrunk to at most that many examples, proportionally.

    >>> labels = np.array([0] * 50 + [1] * 30)
    >>> train, test = fixed_split_by_class(labels, "toy", 0.2)
    >>> np.bincount(labels[test]).tolist(), np.bincount(labels[train]).tolist()
    ([10, 6], [40, 24])
    """
    labels = np.asarray(labels)
    if labels.size < 2:
        raise ValueError(f"labels must hold at least 2 examples, got {labels.size}")
    fraction = test_fraction
    if max_test is not None and labels.size * test_fraction > max_test:
        fraction = max_test / labels.size
    rng = _rng(name)
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        members = members[rng.permutation(members.size)]
        n_test = min(round(members.size * fraction), members.size - 1)
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def dedupe(texts: Sequence[str], labels: Sequence[int]) -> tuple[list[str], list[int], int]:
    """Keep the first copy of each exact text; drop texts that occur with different labels.

    Returns the kept texts, their labels and the number of conflicting texts dropped.

    >>> dedupe(["a", "b", "a", "c", "c"], [0, 1, 0, 0, 1])
    (['a', 'b'], [0, 1], 1)
    """
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    seen: dict[str, int] = {}
    conflicts: set[str] = set()
    for text, label in zip(texts, labels, strict=True):
        if text in seen and seen[text] != label:
            conflicts.add(text)
        seen.setdefault(text, label)
    kept = [(t, y) for t, y in seen.items() if t not in conflicts]
    return [t for t, _ in kept], [y for _, y in kept], len(conflicts)


def check_counts(what: str, seen: Mapping[str, int], expected: Mapping[str, int]) -> None:
    """Raise ValueError unless ``seen`` equals ``expected`` (label set and count per label).

    >>> check_counts("toy", {"a": 2}, {"a": 3})
    Traceback (most recent call last):
    ...
    ValueError: toy: expected counts {'a': 3}, read {'a': 2}: the file is not the expected version
    """
    if dict(seen) != dict(expected):
        raise ValueError(
            f"{what}: expected counts {dict(expected)}, read {dict(seen)}: "
            "the file is not the expected version"
        )
