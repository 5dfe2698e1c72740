"""The tasks' metrics: name -> function of the predictions, and whether higher is better.

A :class:`Metric` scores the :class:`Predictions` a model made on held-out examples (``-100`` gold
positions are never scored). The built-in ones: ``accuracy``, ``macro_f1`` (scikit-learn's
``f1_score``), ``token_accuracy``, ``entity_f1`` (exact BIO spans, micro-averaged over types, by
``seqeval``), ``perplexity`` (from a summed negative log-likelihood; lower is better) and
``rouge_l`` (F-measure, via ``rouge-score``, of generated text). The trial, the sweep's direction
and the report's read :data:`METRICS` only.

Adding a metric is one function and one line::

    register_metric(Metric("balanced_accuracy", True, lambda p: balanced(p.labels, p.gold)))

>>> get_metric("perplexity").higher_is_better
False
>>> get_metric("accuracy").score(Predictions(labels=[1, 0, 1], gold=[1, 1, 1]))
0.6666666666666666
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from torch_rdrop.bench.tasks.registry import Registry

__all__ = [
    "METRICS",
    "Metric",
    "Predictions",
    "accuracy",
    "bio_spans",
    "entity_f1",
    "get_metric",
    "macro_f1",
    "metric_names",
    "perplexity",
    "register_metric",
    "rouge_l",
]

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
    from sklearn.metrics import f1_score

    p, g = _scored(pred, gold)
    labels = list(range(num_classes))
    return float(f1_score(g, p, labels=labels, average="macro", zero_division=0.0))


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

    ``seqeval``'s default (CoNLL) scheme, the one :func:`bio_spans` follows: a stray ``I-X``
    starts an entity. No entity predicted nor gold scores 0.

    >>> names = ("O", "B-PER", "I-PER")
    >>> entity_f1([[1, 2, 0], [1, 0, -100]], [[1, 2, 0], [0, 1, -100]], names)
    0.5
    """
    from seqeval.metrics import f1_score

    pred_tags, gold_tags = [], []
    for p_row, g_row in zip(pred, gold, strict=True):
        p, g = _scored(p_row, g_row)
        pred_tags.append([tag_names[int(t)] for t in p])
        gold_tags.append([tag_names[int(t)] for t in g])
    return float(f1_score(gold_tags, pred_tags, average="micro", zero_division=0))


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


@dataclass(frozen=True)
class Predictions:
    """What a model produced on held-out examples, for a :class:`Metric` to score.

    Attributes:
        labels: predicted ids, one per example, or a row per sentence (tagging).
        gold: gold ids of the same shape; ``-100`` is never scored.
        names: the class or tag names (entity F1 reads the BIO tags from them).
        nll, tokens: summed negative log-likelihood of the gold tokens and how many (LMs).
        texts, references: generated and reference texts (sequence to sequence).
    """

    labels: Sequence = ()
    gold: Sequence = ()
    names: Sequence[str] = ()
    nll: float = 0.0
    tokens: int = 0
    texts: Sequence[str] = ()
    references: Sequence[str] = ()


@dataclass(frozen=True)
class Metric:
    """A metric: its name, its direction and how it scores :class:`Predictions`.

    ``generates``: the metric scores generated text, so the trial decodes (``texts``) instead of
    taking the arg-max labels.
    """

    name: str
    higher_is_better: bool
    score: Callable[[Predictions], float]
    generates: bool = False


METRICS: Registry[Metric] = Registry("metric", "metrics")
"""Every metric, by name."""


def register_metric(metric: Metric, replace: bool = False) -> Metric:
    """Add ``metric`` to :data:`METRICS` (``replace`` to redefine a name)."""
    return METRICS.add(metric.name, metric, replace)


def get_metric(name: str) -> Metric:
    """The metric called ``name`` (``ValueError`` listing the known ones otherwise)."""
    return METRICS.get(name)


def metric_names() -> tuple[str, ...]:
    """Every registered metric, in registration order."""
    return METRICS.names()


def _flat(rows: Sequence) -> list[int]:
    return [int(x) for row in rows for x in row]


register_metric(Metric("accuracy", True, lambda p: accuracy(p.labels, p.gold)))
register_metric(Metric("macro_f1", True, lambda p: macro_f1(p.labels, p.gold, len(p.names))))
register_metric(Metric("token_accuracy", True, lambda p: accuracy(_flat(p.labels), _flat(p.gold))))
register_metric(Metric("entity_f1", True, lambda p: entity_f1(p.labels, p.gold, p.names)))
register_metric(Metric("perplexity", False, lambda p: perplexity(p.nll, p.tokens)))
register_metric(Metric("rouge_l", True, lambda p: rouge_l(p.texts, p.references), generates=True))
