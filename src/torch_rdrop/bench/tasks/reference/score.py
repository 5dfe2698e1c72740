"""Fit a reference model on training rows and score it exactly as the trial scores a network.

The reference model of a data set depends on its kind and inputs: TF-IDF + logistic regression
for text classification, logistic regression on the pixels for images, the most frequent tag per
word for tagging, an interpolated character n-gram model for a language model and the article's
first words for headlines (:data:`REFERENCE_MODELS` describes each). A fitted reference model
predicts :class:`~torch_rdrop.bench.tasks.metrics.Predictions` -- the object the trial hands to
the metric registry for a network -- so a reference value and a network's are one computation
on the same index arrays (``few_shot(data, K, seed, rare=task.rare).train`` and ``.test``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from torch_rdrop.bench.tasks import Task, get_family, get_metric, get_task
from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData, TaggingData
from torch_rdrop.bench.tasks.metrics import Predictions
from torch_rdrop.bench.tasks.reference.char_ngram import ORDERS, char_ngram_nll
from torch_rdrop.bench.tasks.reference.lead import LEADS, lead_headlines
from torch_rdrop.bench.tasks.reference.pixel_classifier import PIXEL_C, pixel_logreg
from torch_rdrop.bench.tasks.reference.tagger import most_frequent_tag
from torch_rdrop.bench.tasks.reference.text_classifier import TFIDF_C, tfidf_logreg

__all__ = [
    "REFERENCE_MODELS",
    "TAG_MAX_TOKENS",
    "ReferenceModel",
    "ReferencePredictor",
    "ReferenceResult",
    "fit_reference",
    "reference_for_data",
    "reference_model",
    "reference_result",
    "reference_score",
    "reference_task",
]

Data = ClassificationData | TaggingData | GenerationData
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


def reference_for_data(data: Data) -> ReferenceModel:
    """The reference model of a data set, from its type and inputs.

    >>> d = GenerationData("toy", ("a b", "c d"), ("a", "c"), [0], [1], None, "en")
    >>> reference_for_data(d).name
    'lead-n'
    """
    if isinstance(data, ClassificationData):
        images = isinstance(data.inputs, np.ndarray)
        return REFERENCE_MODELS["pixel-logreg" if images else "tfidf-logreg"]
    if isinstance(data, TaggingData):
        return REFERENCE_MODELS["most-frequent-tag"]
    if isinstance(data, GenerationData):
        return REFERENCE_MODELS["lead-n" if data.is_seq2seq else "char-ngram"]
    raise ValueError(f"data must be a bench data set, got {type(data).__name__}")


def reference_model(task: str | Task) -> ReferenceModel:
    """The reference model of ``task`` (a name or a :class:`~torch_rdrop.bench.tasks.Task`).

    >>> reference_model("bbc-cnn").name, reference_model("digits-mlp").name
    ('tfidf-logreg', 'pixel-logreg')
    >>> reference_model("wsj-pos-minilm").name, reference_model("pd-lm-gpt2").name
    ('most-frequent-tag', 'char-ngram')
    """
    t = task if isinstance(task, Task) else get_task(task)
    if t.kind == "classification":
        return REFERENCE_MODELS["pixel-logreg" if t.dataset.inputs == "images" else "tfidf-logreg"]
    if t.kind == "tagging":
        return REFERENCE_MODELS["most-frequent-tag"]
    return REFERENCE_MODELS["char-ngram" if t.metric == "perplexity" else "lead-n"]


def reference_task(task: str | Task) -> str:
    """The name of the task that runs ``task``'s reference model on the same data set.

    >>> reference_task("mr-minilm"), reference_task("digits-mlp")
    ('mr-tfidf-logreg', 'digits-pixel-logreg')
    """
    t = task if isinstance(task, Task) else get_task(task)
    return f"{t.dataset.name}-{reference_model(t).name}"


@dataclass(frozen=True)
class ReferencePredictor:
    """A reference model bound to its training rows; :meth:`predict` gives the trial's
    :class:`~torch_rdrop.bench.tasks.metrics.Predictions` on any rows of the same data set.

    The models are cheap, so each :meth:`predict` refits them on the training rows (choices
    made on those rows, such as N or the n-gram order, come out the same every time).
    """

    model: ReferenceModel
    train: np.ndarray
    seed: int
    run: Callable[[Any, np.ndarray, np.ndarray, int], tuple[Predictions, dict[str, Any]]]

    def predict(self, data: Any, indices: np.ndarray) -> Predictions:
        """Predictions on ``indices`` of ``data``."""
        return self.run(data, self.train, np.asarray(indices, dtype=np.int64), self.seed)[0]

    def predict_with_choices(self, data: Any, indices: np.ndarray) -> tuple[Predictions, dict]:
        """Predictions and what the model chose on the training rows (``N``, ``order``)."""
        return self.run(data, self.train, np.asarray(indices, dtype=np.int64), self.seed)


def _classify(data: ClassificationData, train, test, seed) -> tuple[Predictions, dict]:
    if isinstance(data.inputs, np.ndarray):
        encoder = get_family("mlp").encoder(data)  # the image networks' pixel scaling
        labels = pixel_logreg(data, train, test, encoder, seed)
    else:
        labels = tfidf_logreg(data, train, test, seed)
    return Predictions(labels.tolist(), data.labels[test].tolist(), data.label_names), {}


def _tag(data: TaggingData, train, test, seed) -> tuple[Predictions, dict]:
    rows = most_frequent_tag(data, train, test, lower=data.language == "en")
    return Predictions(
        [row[:TAG_MAX_TOKENS].tolist() for row in rows],
        [data.tags[i][:TAG_MAX_TOKENS].tolist() for i in test],
        data.tag_names,
    ), {}


def _language_model(data: GenerationData, train, test, seed) -> tuple[Predictions, dict]:
    encoder = get_family("gpt2").encoder(data)  # the char LM's vocabulary and targets
    nll, tokens, order = char_ngram_nll(data, train, test, encoder, seed)
    return Predictions(nll=nll, tokens=tokens), {"order": order}


def _headlines(data: GenerationData, train, test, seed) -> tuple[Predictions, dict]:
    texts, n = lead_headlines(data, train, test)
    return Predictions(texts=texts, references=[data.targets[i] for i in test]), {"N": n}


_RUNS = {
    "tfidf-logreg": _classify,
    "pixel-logreg": _classify,
    "most-frequent-tag": _tag,
    "char-ngram": _language_model,
    "lead-n": _headlines,
}


def fit_reference(data: Data, train: np.ndarray, seed: int = 0) -> ReferencePredictor:
    """The reference model of ``data`` bound to its ``train`` rows (a fit/predict model: the
    ``fit`` of a model family is ``lambda data, train: fit_reference(data, train)``)."""
    train = np.asarray(train, dtype=np.int64)
    if train.size == 0:
        raise ValueError("train must not be empty, got 0 rows")
    model = reference_for_data(data)
    return ReferencePredictor(model, train, seed, _RUNS[model.name])


def reference_result(
    task: str | Task,
    data: Data | None = None,
    train: np.ndarray | None = None,
    test: np.ndarray | None = None,
    seed: int = 0,
) -> ReferenceResult:
    """Fit ``task``'s reference model on ``train`` rows of ``data`` and score the ``test`` rows
    with the task's metric (the metric registry, as the trial scores a network).

    ``data`` defaults to the task's data set, ``train`` and ``test`` to its whole fixed split;
    ``seed`` draws what the model draws (the n-gram model's dev lines).
    """
    t = task if isinstance(task, Task) else get_task(task)
    data = t.load() if data is None else data
    train = np.asarray(data.train if train is None else train, dtype=np.int64)
    test = np.asarray(data.test if test is None else test, dtype=np.int64)
    if train.size == 0 or test.size == 0:
        raise ValueError(f"train and test must not be empty, got {train.size} and {test.size}")
    predictor = fit_reference(data, train, seed)
    predictions, chosen = predictor.predict_with_choices(data, test)
    value = get_metric(t.metric).score(predictions)
    return ReferenceResult(t.name, predictor.model.name, t.metric, float(value), chosen)


def reference_score(
    task: str | Task,
    data: Data | None = None,
    train: np.ndarray | None = None,
    test: np.ndarray | None = None,
    seed: int = 0,
) -> float:
    """The task metric of ``task``'s reference model (see :func:`reference_result`).

    >>> from torch_rdrop.bench.tasks.fewshot import few_shot
    >>> data = get_task("digits-mlp").load()
    >>> split = few_shot(data, 16, seed=0)
    >>> round(reference_score("digits-mlp", data, split.train, split.test), 3)
    0.908
    """
    return reference_result(task, data, train, test, seed).value
