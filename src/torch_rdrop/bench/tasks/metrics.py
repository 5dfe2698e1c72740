"""The tasks' metrics, computed from predictions and gold labels (``-100`` is never scored).

Names match :data:`torch_rdrop.bench.tasks.METRICS`: ``accuracy``, ``macro_f1``,
``token_accuracy``, ``entity_f1`` (exact BIO spans, micro-averaged over types), ``perplexity``
(from a summed negative log-likelihood) and ``rouge_l`` (F-measure, via ``rouge-score``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["accuracy", "bio_spans", "entity_f1", "macro_f1", "perplexity", "rouge_l"]

IGNORE_INDEX = -100


def _scored(pred: Sequence[int] | np.ndarray, gold: Sequence[int] | np.ndarray) -> tuple:
    p, g = np.asarray(pred).ravel(), np.asarray(gold).ravel()
    if p.shape != g.shape:
        raise ValueError(f"pred and gold must have the same size, got {p.size} and {g.size}")
    keep = g != IGNORE_INDEX
    if not keep.any():
        raise ValueError("gold has no scored position (all are -100)")
    return p[keep], g[keep]


def accuracy(pred: Sequence[int] | np.ndarray, gold: Sequence[int] | np.ndarray) -> float:
    """Share of scored positions predicted right (also the token accuracy of a tagger).

    >>> accuracy([1, 0, 2, 2], [1, 1, 2, -100])
    0.6666666666666666
    """
    p, g = _scored(pred, gold)
    return float((p == g).mean())


def macro_f1(
    pred: Sequence[int] | np.ndarray, gold: Sequence[int] | np.ndarray, num_classes: int
) -> float:
    """F1 averaged over the ``num_classes`` classes (a class never seen nor predicted counts 0).

    >>> round(macro_f1([0, 0, 1, 1], [0, 1, 1, 1], 2), 4)
    0.7333
    """
    p, g = _scored(pred, gold)
    scores = []
    for c in range(num_classes):
        tp = float(((p == c) & (g == c)).sum())
        denom = float((p == c).sum() + (g == c).sum())
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def bio_spans(tags: Sequence[str]) -> set[tuple[int, int, str]]:
    """Entity spans ``(start, end, type)`` of a BIO sequence; a stray ``I-X`` starts an entity.

    >>> sorted(bio_spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"]))
    [(0, 2, 'PER'), (3, 4, 'LOC'), (4, 5, 'LOC')]
    """
    spans: set[tuple[int, int, str]] = set()
    start, kind = None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, name = tag.partition("-")
        continues = prefix == "I" and name == kind
        if start is not None and not continues:
            spans.add((start, i, kind or ""))
            start, kind = None, None
        if prefix in ("B", "I") and not continues:
            start, kind = i, name
    return spans


def entity_f1(
    pred: Sequence[Sequence[int]], gold: Sequence[Sequence[int]], tag_names: Sequence[str]
) -> float:
    """Micro F1 of exact entity spans over sentences (rows of tag ids; ``-100`` positions cut).

    >>> names = ("O", "B-PER", "I-PER")
    >>> entity_f1([[1, 2, 0], [1, 0, -100]], [[1, 2, 0], [0, 1, -100]], names)
    0.5
    """
    tp = n_pred = n_gold = 0
    for p_row, g_row in zip(pred, gold, strict=True):
        p, g = _scored(p_row, g_row)
        p_spans = bio_spans([tag_names[int(t)] for t in p])
        g_spans = bio_spans([tag_names[int(t)] for t in g])
        tp += len(p_spans & g_spans)
        n_pred += len(p_spans)
        n_gold += len(g_spans)
    return 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0


def perplexity(nll_sum: float, tokens: int) -> float:
    """``exp(nll_sum / tokens)`` from a summed token negative log-likelihood (natural log).

    >>> perplexity(0.0, 10), round(perplexity(10 * math.log(4), 10), 6)
    (1.0, 4.0)
    """
    if tokens <= 0:
        raise ValueError(f"tokens must be positive, got {tokens}")
    return math.exp(nll_sum / tokens)


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-L F-measure (``rouge-score``, with stemming) over text pairs.

    >>> rouge_l(["profits rise at bank"], ["bank profits rise"])
    0.5714285714285715
    """
    if len(predictions) != len(references) or not references:
        raise ValueError(
            f"need as many predictions as references (>0), got {len(predictions)} and "
            f"{len(references)}"
        )
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [
        scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references, strict=True)
    ]
    return float(np.mean(scores))
