"""A toy data set and a fit/predict model family, registered by the registry tests (directly or
through a fake ``torch_rdrop.tasks`` entry point)."""

from __future__ import annotations

from functools import cache

import numpy as np

from torch_rdrop.bench.tasks import (
    DATASETS,
    FAMILIES,
    TASKS,
    Dataset,
    ModelFamily,
    Predictions,
    register_dataset,
    register_family,
    register_task,
)
from torch_rdrop.bench.tasks.data.base import ClassificationData

TASK = "toy-majority"


@cache
def load_toy() -> ClassificationData:
    """60 texts, 2/3 of them "b": the majority class scores 2/3 on a balanced-by-class test."""
    labels = np.array([0, 1, 1] * 20)
    texts = tuple(f"text {i}" for i in range(60))
    return ClassificationData("toy", texts, labels, ("a", "b"), np.arange(0, 45), np.arange(45, 60),
                              source=None, language="en")  # fmt: skip


class Majority:
    """Predicts the most frequent training label."""

    def __init__(self, label: int) -> None:
        self.label = label

    def predict(self, data: ClassificationData, indices: np.ndarray) -> Predictions:
        gold = data.labels[indices].tolist()
        return Predictions([self.label] * len(gold), gold, data.label_names)


def fit_majority(data: ClassificationData, train: np.ndarray) -> Majority:
    return Majority(int(np.bincount(data.labels[train]).argmax()))


def register() -> None:
    """One call each: the data set, the model family, the task."""
    register_dataset(Dataset("toy", load_toy, "classification", "en", "accuracy"))
    register_family(ModelFamily("majority", "most frequent class", ("classification",),
                                fit=fit_majority))  # fmt: skip
    register_task("toy", "majority")


def unregister() -> None:
    TASKS.remove(TASK)
    DATASETS.remove("toy")
    FAMILIES.remove("majority")
