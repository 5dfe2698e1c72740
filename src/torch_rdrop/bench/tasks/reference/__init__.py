"""Simple reference models that every network of a task must beat, scored like the networks.

>>> from torch_rdrop.bench.tasks.reference import reference_model
>>> reference_model("mr-cnn").description.startswith("TF-IDF")
True
"""

from torch_rdrop.bench.tasks.reference.score import (
    REFERENCE_MODELS,
    ReferenceModel,
    ReferencePredictor,
    ReferenceResult,
    fit_reference,
    reference_for_data,
    reference_model,
    reference_result,
    reference_score,
)

__all__ = [
    "REFERENCE_MODELS",
    "ReferenceModel",
    "ReferencePredictor",
    "ReferenceResult",
    "fit_reference",
    "reference_for_data",
    "reference_model",
    "reference_result",
    "reference_score",
]
