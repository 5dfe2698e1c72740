"""The few-shot sampler on real data: exact K, determinism, disjointness, errors, tagging."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data_sources import load_or_skip
from torch_rdrop.bench.tasks.data import chinese_text, english_text, images, tagging
from torch_rdrop.bench.tasks.fewshot import SHOTS, few_shot, proportional_counts, sample_examples


@pytest.fixture(scope="module")
def bbc():
    return load_or_skip(english_text.load_bbc)


@pytest.mark.parametrize("shots", [8, 16, 32, 64])
def test_exact_k_per_class_disjoint_from_test(bbc, shots: int) -> None:
    split = few_shot(bbc, shots, seed=0)
    assert set(bbc.class_counts(split.train).values()) == {shots}
    assert np.intersect1d(split.train, bbc.test).size == 0
    assert np.isin(split.train, bbc.train).all()
    assert np.array_equal(split.test, bbc.test)


def test_deterministic_per_seed_and_different_across_seeds(bbc) -> None:
    first, again = few_shot(bbc, 16, seed=3), few_shot(bbc, 16, seed=3)
    assert np.array_equal(first.train, again.train)
    others = [few_shot(bbc, 16, seed=s).train for s in range(4)]
    assert len({tuple(t) for t in others}) == 4


def test_nested_in_k_with_a_dev_split_that_does_not_move(bbc) -> None:
    small = few_shot(bbc, 8, seed=1, dev_shots=4)
    large = few_shot(bbc, 32, seed=1, dev_shots=4)
    assert set(small.train) <= set(large.train)
    assert np.array_equal(small.dev, large.dev)
    assert set(bbc.class_counts(small.dev).values()) == {4}
    assert not set(small.dev) & set(large.train) and not set(small.dev) & set(bbc.test)


def test_full_and_semi_supervised(bbc) -> None:
    full = few_shot(bbc, None, seed=0, dev_shots=5)
    assert len(full.train) + len(full.dev) == len(bbc.train)
    semi = few_shot(bbc, 8, seed=0, dev_shots=5, semi_supervised=True)
    parts = np.concatenate([semi.train, semi.dev, semi.unlabelled])
    assert np.array_equal(np.sort(parts), np.sort(bbc.train))
    assert len(semi.train) == 40 and len(semi.unlabelled) == len(bbc.train) - 40 - 25
    assert SHOTS == (8, 16, 32, 64, None)


def test_train_rows_cut_the_whole_split_keeping_each_class_share(bbc) -> None:
    full = few_shot(bbc, None, seed=0, dev_shots=20)
    cut = few_shot(bbc, None, seed=0, dev_shots=20, train_rows=500)
    assert len(cut.train) == 500 and set(cut.train) <= set(full.train)
    assert np.array_equal(cut.dev, full.dev) and np.array_equal(cut.test, bbc.test)
    share = {c: n / len(full.train) for c, n in bbc.class_counts(full.train).items()}
    for name, n in bbc.class_counts(cut.train).items():
        assert abs(n - 500 * share[name]) < 1, name
    again = few_shot(bbc, None, seed=0, dev_shots=20, train_rows=500)
    assert np.array_equal(again.train, cut.train)
    assert not np.array_equal(few_shot(bbc, None, seed=1, dev_shots=20, train_rows=500).train,
                              cut.train)  # fmt: skip
    assert proportional_counts([3, 3, 3], 9) == [3, 3, 3]
    with pytest.raises(ValueError, match="train_rows cuts a whole training split.*shots=16"):
        few_shot(bbc, 16, seed=0, train_rows=500)
    with pytest.raises(ValueError, match=r"train_rows=5000 but only 1601 training rows are left"):
        few_shot(bbc, None, seed=0, dev_shots=20, train_rows=5000)
    lm = load_or_skip(chinese_text.load_peoples_daily_lm)
    lines = few_shot(lm, None, seed=0, dev_shots=16, train_rows=300)
    assert len(lines.train) == 300 and len(lines.dev) == 16
    with pytest.raises(ValueError, match="train_rows applies to classification and generation"):
        few_shot(load_or_skip(tagging.load_wsj_pos), None, seed=0, train_rows=300)


def test_k_larger_than_a_class_has_is_an_error(bbc) -> None:
    smallest = min(bbc.class_counts(bbc.train).values())  # tech: 278
    with pytest.raises(
        ValueError, match=r"shots=300 .*'tech' has only 278, 'entertainment' has only 295$"
    ):
        few_shot(bbc, 300, seed=0)
    with pytest.raises(ValueError, match="dev split first"):
        few_shot(bbc, smallest, seed=0, dev_shots=1)
    with pytest.raises(ValueError, match="shots must be a positive int"):
        few_shot(bbc, 0, seed=0)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        few_shot(bbc, 8, seed=-1)


def test_images_and_digits() -> None:
    digits = images.load_digits()
    split = few_shot(digits, 16, seed=2)
    assert np.bincount(digits.labels[split.train]).tolist() == [16] * 10


def test_tagging_at_least_k_sentences_per_entity_type() -> None:
    ner = load_or_skip(chinese_text.load_peoples_daily_ner)
    for shots in (8, 32):
        split = few_shot(ner, shots, seed=0, dev_shots=4)
        per_type = np.zeros(3, dtype=int)
        for i in split.train:
            for c in ner.sentence_labels(int(i)):
                per_type[c] += 1
        assert (per_type >= shots).all() and per_type.min() == shots
        assert len(split.train) <= 3 * shots
        assert not set(split.train) & set(split.dev) and not set(split.train) & set(ner.test)
    again = few_shot(ner, 8, seed=0, dev_shots=4)
    assert np.array_equal(split.dev, again.dev)
    assert not np.array_equal(few_shot(ner, 8, seed=1).train, again.train)


def test_tagging_rare_classes_error_or_take_all() -> None:
    wsj = load_or_skip(tagging.load_wsj_pos)
    with pytest.raises(ValueError, match="fewer training sentences.*rare='all'"):
        few_shot(wsj, 8, seed=0)
    split = few_shot(wsj, 8, seed=0, rare="all", dev_shots=2)
    with_sym = [i for i in wsj.train if wsj.tag_names.index("LS") in wsj.tags[i]]
    assert len(with_sym) < 8
    kept = set(split.train) | set(split.dev)
    assert set(with_sym) <= kept


def test_generation_draws_k_examples() -> None:
    lm = load_or_skip(chinese_text.load_peoples_daily_lm)
    split = sample_examples(lm, 64, seed=0, dev=16)
    assert len(split.train) == 64 and len(split.dev) == 16
    assert not set(split.train) & set(lm.test)
    with pytest.raises(ValueError, match="need classes"):
        few_shot(lm, 8, seed=0, semi_supervised=True)
