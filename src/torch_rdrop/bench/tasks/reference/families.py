"""The reference models as fit/predict model families, so that the harness runs them as tasks.

Registered with the built-in families (:func:`register_reference_families`, called when
:mod:`torch_rdrop.bench.tasks` is imported), each family pairs with every data set it can
read: ``rdrop bench --tasks bbc-tfidf-logreg,digits-pixel-logreg,wsj-pos-most-frequent-tag``
fits the reference model on the K-shot training rows of each seed and scores it with the data
set's metric, in the same store and report as the networks (only the method ``none`` applies).
A family fitted on data it is not meant for (``char-ngram`` on headline pairs) refuses it.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from torch_rdrop.bench.tasks import ModelFamily, register_family
from torch_rdrop.bench.tasks.reference.score import (
    REFERENCE_MODELS,
    Data,
    ReferencePredictor,
    fit_reference,
    reference_for_data,
)

__all__ = ["REFERENCE_FAMILIES", "register_reference_families"]


def _fit_as(model: str, data: Data, train: np.ndarray) -> ReferencePredictor:
    """:func:`fit_reference` when ``data``'s reference model is ``model``, else a ValueError."""
    meant = reference_for_data(data).name
    if meant != model:
        raise ValueError(
            f"model family {model} cannot fit data set {data.name}: its reference model is {meant}"
        )
    return fit_reference(data, train, seed=0)


def _family(name: str, kind: str, inputs: str = "text") -> ModelFamily:
    return ModelFamily(
        name, REFERENCE_MODELS[name].description, (kind,), inputs=inputs,  # type: ignore[arg-type]
        fit=partial(_fit_as, name),
    )  # fmt: skip


#: One family per reference model.
REFERENCE_FAMILIES: tuple[ModelFamily, ...] = (
    _family("tfidf-logreg", "classification"),
    _family("pixel-logreg", "classification", inputs="images"),
    _family("most-frequent-tag", "tagging"),
    _family("char-ngram", "generation"),
    _family("lead-n", "generation"),
)


def register_reference_families(replace: bool = False) -> tuple[str, ...]:
    """Add :data:`REFERENCE_FAMILIES` to the model-family registry; their names.

    >>> from torch_rdrop.bench.tasks import FAMILIES
    >>> names = register_reference_families(replace=True)  # already there since import: replaced
    >>> "tfidf-logreg" in FAMILIES and names[-1]
    'lead-n'
    """
    for family in REFERENCE_FAMILIES:
        register_family(family, replace)
    return tuple(family.name for family in REFERENCE_FAMILIES)
