"""Logistic regression on the pixels: the reference model of the image classifiers.

The pixels are scaled exactly as the harness feeds them to its networks
(:class:`~torch_rdrop.bench.tasks.pixels.PixelEncoder`: divided by the data set's largest value,
then standardised with the mean and standard deviation of the training split) and flattened; the
model is scikit-learn's ``LogisticRegression(C=1.0, solver="lbfgs", max_iter=300)``
(multinomial over the classes), fitted on the training rows.
"""

from __future__ import annotations

import numpy as np

from torch_rdrop.bench.tasks.data.base import ClassificationData
from torch_rdrop.bench.tasks.pixels import PixelEncoder
from torch_rdrop.integrations import require

__all__ = ["PIXEL_C", "PIXEL_MAX_ITER", "pixel_logreg"]

#: Inverse regularisation strength of the logistic regression.
PIXEL_C = 1.0
#: Iterations of L-BFGS at most (60,000 Fashion-MNIST images: a few minutes on one core).
PIXEL_MAX_ITER = 300


def _features(encoder: PixelEncoder, data: ClassificationData, rows: np.ndarray) -> np.ndarray:
    pixels = encoder.batch(data, rows)["pixel_values"].numpy()
    return pixels.reshape(len(rows), -1).astype(np.float64)


def pixel_logreg(
    data: ClassificationData,
    train: np.ndarray,
    test: np.ndarray,
    encoder: PixelEncoder,
    seed: int = 0,
) -> np.ndarray:
    """Class predictions for the ``test`` images after fitting on the ``train`` images.

    >>> images = np.stack([np.eye(2) * 16, np.eye(2)[::-1] * 16] * 3)
    >>> d = ClassificationData("toy", images, [0, 1] * 3, ("a", "b"), range(4), [4, 5], None, "-")
    >>> pixel_logreg(d, d.train, d.test, PixelEncoder.fit(d, max_value=16.0)).tolist()
    [0, 1]
    """
    if not isinstance(data.inputs, np.ndarray):
        raise ValueError(f"{data.name}: pixel_logreg needs an image array, got texts")
    linear = require("sklearn.linear_model", "bench")
    train, test = np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)
    model = linear.LogisticRegression(C=PIXEL_C, max_iter=PIXEL_MAX_ITER, random_state=seed)
    model.fit(_features(encoder, data, train), data.labels[train])
    return model.predict(_features(encoder, data, test)).astype(np.int64)
