"""One entry point per task: fit the task's reference model and score it with the task's metric.

The reference model of a task depends on its kind and data: TF-IDF + logistic regression for
text classification, logistic regression on the pixels for images, the most frequent tag per
word for tagging, an interpolated character n-gram model for the language model and the
article's first words for headlines (:data:`REFERENCE_MODELS` describes each). Metrics are
computed by :mod:`torch_rdrop.bench.metrics` exactly as the trial function computes them, on the
same index arrays (``few_shot(data, K, seed, rare=task.rare).train`` and ``.test``), so a
reference value sits beside a network's in one table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from torch_rdrop.bench import metrics
from torch_rdrop.bench.data.base import ClassificationData, GenerationData, TaggingData
from torch_rdrop.bench.reference.char_ngram import ORDERS, char_ngram_nll
from torch_rdrop.bench.reference.lead import LEADS, lead_headlines
from torch_rdrop.bench.reference.pixel_classifier import PIXEL_C, pixel_logreg
from torch_rdrop.bench.reference.tagger import most_frequent_tag
from torch_rdrop.bench.reference.text_classifier import TFIDF_C, tfidf_logreg
from torch_rdrop.bench.tasks import Task, get_task

__all__ = [
    "REFERENCE_MODELS",
    "TAG_MAX_TOKENS",
    "ReferenceModel",
    "ReferenceResult",
    "reference_model",
    "reference_result",
    "reference_score",
]

#: Tokens per sentence a tagger is scored on (the harness's ``TagEncoder`` cuts there).
TAG_MAX_TOKENS = 256


@dataclass(frozen=True)
class ReferenceModel:
    """A simple model that every network of a task must beat: its name and settings."""

    name: str
    description: str


REFERENCE_MODELS: dict[str, ReferenceModel] = {
    model.name: model
    for model in (
        ReferenceModel(
            "tfidf-logreg",
            "TF-IDF (sublinear tf; word 1-2-grams for English, character 1-3-grams for Chinese) "
            f"+ logistic regression (scikit-learn, C = {TFIDF_C:g})",
        ),
        ReferenceModel(
            "pixel-logreg",
            "logistic regression (scikit-learn, C = "
            f"{PIXEL_C:g}) on the pixels scaled and standardised as the networks see them",
        ),
        ReferenceModel(
            "most-frequent-tag",
            "each word's most frequent training tag (English lower-cased); unknown words get "
            "the most frequent tag overall",
        ),
        ReferenceModel(
            "char-ngram",
            "interpolated Witten-Bell character n-gram model, order "
            f"{min(ORDERS)}-{max(ORDERS)} chosen on 10 % of the training lines",
        ),
        ReferenceModel(
            "lead-n",
            f"the article's first N words, N in {min(LEADS)}-{max(LEADS)} chosen by ROUGE-L on "
            "the training pairs",
        ),
    )
}


@dataclass(frozen=True)
class ReferenceResult:
    """A reference model's score on a task, with what it chose on the training rows."""

    task: str
    model: str
    metric: str
    value: float
    chosen: dict[str, Any] = field(default_factory=dict)


def _task(task: str | Task) -> Task:
    return task if isinstance(task, Task) else get_task(task)


def reference_model(task: str | Task) -> ReferenceModel:
    """The reference model of ``task`` (a name or a :class:`~torch_rdrop.bench.tasks.Task`).

    >>> reference_model("bbc-cnn").name, reference_model("digits-mlp").name
    ('tfidf-logreg', 'pixel-logreg')
    >>> reference_model("wsj-pos-minilm").name, reference_model("pd-lm-gpt2").name
    ('most-frequent-tag', 'char-ngram')
    """
    t = _task(task)
    if t.kind == "classification":
        return REFERENCE_MODELS["pixel-logreg" if t.language == "-" else "tfidf-logreg"]
    if t.kind == "tagging":
        return REFERENCE_MODELS["most-frequent-tag"]
    if t.metric == "perplexity":
        return REFERENCE_MODELS["char-ngram"]
    if t.metric == "rouge_l":
        return REFERENCE_MODELS["lead-n"]
    raise ValueError(f"task {t.name}: no reference model for a {t.kind} task scored by {t.metric}")


def _classification(
    t: Task, data: ClassificationData, train: np.ndarray, test: np.ndarray, seed: int
) -> float:
    if t.language == "-":
        preds = pixel_logreg(data, train, test, t.make_encoder(data), seed)
    else:
        preds = tfidf_logreg(data, train, test, seed)
    gold = data.labels[test]
    if t.metric == "macro_f1":
        return metrics.macro_f1(preds, gold, len(data.label_names))
    return metrics.accuracy(preds, gold)


def _tagging(t: Task, data: TaggingData, train: np.ndarray, test: np.ndarray) -> float:
    rows = most_frequent_tag(data, train, test, lower=data.language == "en")
    preds = [row[:TAG_MAX_TOKENS] for row in rows]
    golds = [data.tags[i][:TAG_MAX_TOKENS] for i in test]
    if t.metric == "entity_f1":
        return metrics.entity_f1(preds, golds, data.tag_names)
    return metrics.accuracy(np.concatenate(preds), np.concatenate(golds))


def reference_result(
    task: str | Task,
    data: ClassificationData | TaggingData | GenerationData | None = None,
    train: np.ndarray | None = None,
    test: np.ndarray | None = None,
    seed: int = 0,
) -> ReferenceResult:
    """Fit ``task``'s reference model on ``train`` rows of ``data`` and score the ``test`` rows.

    ``data`` defaults to the task's data set, ``train`` and ``test`` to its whole fixed split;
    ``seed`` draws what the model draws (the n-gram model's dev lines).
    """
    t = _task(task)
    data = t.load() if data is None else data
    train = np.asarray(data.train if train is None else train, dtype=np.int64)
    test = np.asarray(data.test if test is None else test, dtype=np.int64)
    if train.size == 0 or test.size == 0:
        raise ValueError(f"train and test must not be empty, got {train.size} and {test.size}")
    model = reference_model(t)
    chosen: dict[str, Any] = {}
    if isinstance(data, ClassificationData) and t.kind == "classification":
        value = _classification(t, data, train, test, seed)
    elif isinstance(data, TaggingData) and t.kind == "tagging":
        value = _tagging(t, data, train, test)
    elif isinstance(data, GenerationData) and t.metric == "perplexity":
        nll, tokens, order = char_ngram_nll(data, train, test, t.make_encoder(data), seed)
        value, chosen = metrics.perplexity(nll, tokens), {"order": order}
    elif isinstance(data, GenerationData) and t.metric == "rouge_l":
        texts, n = lead_headlines(data, train, test)
        value, chosen = metrics.rouge_l(texts, [data.targets[i] for i in test]), {"N": n}
    else:
        raise ValueError(
            f"task {t.name} ({t.kind}) cannot score data of type {type(data).__name__}"
        )
    return ReferenceResult(t.name, model.name, t.metric, float(value), chosen)


def reference_score(
    task: str | Task,
    data: ClassificationData | TaggingData | GenerationData | None = None,
    train: np.ndarray | None = None,
    test: np.ndarray | None = None,
    seed: int = 0,
) -> float:
    """The task metric of ``task``'s reference model (see :func:`reference_result`).

    >>> from torch_rdrop.bench.fewshot import few_shot
    >>> data = get_task("digits-mlp").load()
    >>> split = few_shot(data, 16, seed=0)
    >>> round(reference_score("digits-mlp", data, split.train, split.test), 3)
    0.908
    """
    return reference_result(task, data, train, test, seed).value
