"""The article's first N words: the reference model of the headline task.

The words are the article's whitespace-separated tokens, as written; N is the value of
:data:`LEADS` with the highest mean ROUGE-L (the harness's
:func:`~torch_rdrop.bench.metrics.rouge_l`) on the training pairs, the shortest on a tie.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from torch_rdrop.bench.tasks import metrics
from torch_rdrop.bench.tasks.data.base import GenerationData

__all__ = ["LEADS", "lead_headlines", "lead_words"]

#: The lead lengths tried on the training pairs.
LEADS: tuple[int, ...] = tuple(range(1, 31))


def lead_words(text: str, n: int) -> str:
    """The first ``n`` whitespace-separated words of ``text``.

    >>> lead_words("Profits rose at the bank,\\nits chief said.", 4)
    'Profits rose at the'
    """
    return " ".join(text.split()[:n])


def lead_headlines(
    data: GenerationData, train: np.ndarray, test: np.ndarray, leads: Sequence[int] = LEADS
) -> tuple[list[str], int]:
    """The lead of each ``test`` article, with N chosen on the ``train`` pairs: ``(texts, N)``.

    >>> d = GenerationData("toy", ("a b c d", "e f g h", "x y z w"), ("a b", "e f", "x y"),
    ...                    [0, 1], [2], source=None, language="en")
    >>> lead_headlines(d, d.train, d.test, leads=(1, 2, 3))
    (['x y'], 2)
    """
    if data.targets is None:
        raise ValueError(f"{data.name} has no targets: it is a language-model corpus")
    train = np.asarray(train, dtype=np.int64)
    if train.size == 0 or not leads:
        raise ValueError(f"need training pairs and lead lengths, got {train.size} and {leads}")
    references = [data.targets[i] for i in train]

    def score(n: int) -> float:
        return metrics.rouge_l([lead_words(data.inputs[i], n) for i in train], references)

    scores = {n: score(n) for n in leads}
    best = max(leads, key=lambda n: (scores[n], -n))
    return [lead_words(data.inputs[i], best) for i in np.asarray(test, dtype=np.int64)], best
