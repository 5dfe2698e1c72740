"""TF-IDF features and a logistic regression: the reference model of the text classifiers.

Settings (scikit-learn, fitted on the training rows only):

- English (``data.language == "en"``): ``TfidfVectorizer(analyzer="word", ngram_range=(1, 2),
  sublinear_tf=True)`` with scikit-learn's default tokens (lower-cased runs of two or more word
  characters);
- Chinese (any other language): ``TfidfVectorizer(analyzer="char", ngram_range=(1, 3),
  sublinear_tf=True)``, characters 1- to 3-grams (Chinese is written without spaces);
- both: ``min_df=1``, l2-normalised rows, then ``LogisticRegression(C=10, solver="lbfgs",
  max_iter=1000)`` (multinomial for more than two classes), prediction by the highest
  probability.
"""

from __future__ import annotations

import numpy as np

from torch_rdrop.bench.tasks.data.base import ClassificationData
from torch_rdrop.integrations import require

__all__ = ["TFIDF_C", "tfidf_logreg", "tfidf_vectorizer"]

#: Inverse regularisation strength of the logistic regression.
TFIDF_C = 10.0


def tfidf_vectorizer(language: str) -> object:
    """The unfitted ``TfidfVectorizer`` for ``language`` (see the module docstring).

    >>> tfidf_vectorizer("zh").get_params()["ngram_range"]
    (1, 3)
    """
    text = require("sklearn.feature_extraction.text", "bench")
    if language == "en":
        return text.TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)
    return text.TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)


def tfidf_logreg(
    data: ClassificationData, train: np.ndarray, test: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Class predictions for the ``test`` rows of ``data`` after fitting on its ``train`` rows.

    >>> d = ClassificationData("toy", ("good film", "bad film", "good plot", "bad plot"),
    ...                        [1, 0, 1, 0], ("neg", "pos"), [0, 1], [2, 3], None, "en")
    >>> tfidf_logreg(d, d.train, d.test).tolist()
    [1, 0]
    """
    if not isinstance(data.inputs, tuple):
        raise ValueError(f"{data.name}: tfidf_logreg needs texts, got {type(data.inputs).__name__}")
    linear = require("sklearn.linear_model", "bench")
    train, test = np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)
    vectorizer = tfidf_vectorizer(data.language)
    features = vectorizer.fit_transform([data.inputs[i] for i in train])
    model = linear.LogisticRegression(C=TFIDF_C, max_iter=1000, random_state=seed)
    model.fit(features, data.labels[train])
    return model.predict(vectorizer.transform([data.inputs[i] for i in test])).astype(np.int64)
