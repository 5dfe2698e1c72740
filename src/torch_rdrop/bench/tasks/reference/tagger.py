"""The most frequent tag of each word: the reference model of the taggers.

Fitted on the training sentences: each word (lower-cased when ``lower``, as the harness's
English taggers see it) gets the tag it carries most often there, ties going to the tag that is
more frequent overall, then to the lower tag id; a word never seen in training gets the most
frequent tag overall. For BIO entity tags this tags each character or word on its own, and the
entity spans are read from the predicted tags as the harness reads a network's
(:func:`torch_rdrop.bench.metrics.bio_spans`).
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from torch_rdrop.bench.tasks.data.base import TaggingData

__all__ = ["most_frequent_tag"]


def most_frequent_tag(
    data: TaggingData, train: np.ndarray, test: np.ndarray, lower: bool
) -> list[np.ndarray]:
    """Predicted tag ids for every token of the ``test`` sentences, one array per sentence.

    >>> d = TaggingData("toy", (("The", "dog"), ("the", "run"), ("dog", "run"), ("a", "dog")),
    ...                 ([0, 1], [0, 2], [1, 1], [0, 1]), ("DT", "NN", "VB"),
    ...                 [0, 1, 2], [3], source=None, language="en")
    >>> [row.tolist() for row in most_frequent_tag(d, d.train, d.test, lower=True)]
    [[1, 1]]
    """
    norm = str.lower if lower else str
    per_word: defaultdict[str, Counter[int]] = defaultdict(Counter)
    overall: Counter[int] = Counter()
    for i in np.asarray(train, dtype=np.int64):
        for word, tag in zip(data.tokens[i], data.tags[i].tolist(), strict=True):
            per_word[norm(word)][tag] += 1
            overall[tag] += 1
    if not overall:
        raise ValueError("train must hold at least one sentence")

    def rank(counts: Counter[int]) -> int:
        return max(counts, key=lambda tag: (counts[tag], overall[tag], -tag))

    default = rank(overall)
    best = {word: rank(counts) for word, counts in per_word.items()}
    return [
        np.array([best.get(norm(w), default) for w in data.tokens[i]], dtype=np.int64)
        for i in np.asarray(test, dtype=np.int64)
    ]
