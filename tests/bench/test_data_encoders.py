"""Encoders: vocabularies, padding, label alignment (MiniLM sub-words), LM shift, pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.data_sources import load_or_skip
from torch_rdrop.bench.tasks.data import chinese_text, english_text, images, tagging
from torch_rdrop.bench.tasks.pixels import PixelEncoder
from torch_rdrop.bench.tasks.text import (
    IGNORE_INDEX,
    CharLMEncoder,
    MiniLMEncoder,
    Seq2SeqEncoder,
    TagEncoder,
    TextClassEncoder,
    Vocab,
    char_tokens,
    word_tokens,
)


def test_vocab_is_fitted_on_the_training_split_only() -> None:
    data = load_or_skip(english_text.load_mr)
    enc = TextClassEncoder.fit(data, word_tokens)
    test_only = {w for i in data.test for w in word_tokens(data.inputs[i])}
    test_only -= {w for i in data.train for w in word_tokens(data.inputs[i])}
    assert test_only and not test_only & set(enc.vocab.tokens)
    batch = enc.batch(data, data.test[:4])
    assert batch["input_ids"].shape[0] == 4 and (batch["input_ids"] == Vocab.UNK).any()
    assert torch.equal(batch["attention_mask"], (batch["input_ids"] != 0).long())


def test_char_encoder_for_chinese_reviews() -> None:
    data = load_or_skip(chinese_text.load_reviews)
    full = TextClassEncoder.fit(data, char_tokens)
    assert 4000 < len(full.vocab) < 5000  # distinct characters of the training reviews
    enc = TextClassEncoder.fit(data, char_tokens, max_len=50, max_size=3000)
    assert len(enc.vocab) == 3000 and enc.vocab.tokens[2] == "，"
    batch = enc.batch(data, data.train[:8])
    assert batch["input_ids"].shape[1] <= 50 and set(batch["labels"].tolist()) <= {0, 1}


def test_tag_encoder_pads_labels_with_ignore_index() -> None:
    data = load_or_skip(tagging.load_wsj_pos)
    batch = TagEncoder.fit(data).batch(data, [0, 1, 2])
    lengths = [len(data.tokens[i]) for i in (0, 1, 2)]
    assert batch["labels"].shape == batch["input_ids"].shape == (3, max(lengths))
    for row, n in enumerate(lengths):
        assert (batch["labels"][row, :n] >= 0).all() and (batch["labels"][row, n:] == -100).all()


def test_minilm_encoder_labels_first_subword_only() -> None:
    data = load_or_skip(tagging.load_wsj_pos)
    enc = load_or_skip(MiniLMEncoder.load)
    batch = enc.batch(data, [0])
    tokens = enc.tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    scored = batch["labels"][0] != IGNORE_INDEX
    assert int(scored.sum()) == len(data.tokens[0])  # one label per word
    assert tokens[0] == "[CLS]" and not bool(scored[0])
    assert all(not t.startswith("##") for t, s in zip(tokens, scored.tolist(), strict=True) if s)
    first_tag = data.tag_names[int(batch["labels"][0][scored][0])]
    assert first_tag == data.tag_names[int(data.tags[0][0])]


def test_minilm_encoder_for_classification() -> None:
    data = load_or_skip(english_text.load_bbc)
    enc = load_or_skip(MiniLMEncoder.load)
    batch = enc.batch(data, data.train[:3])
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    assert batch["input_ids"].shape == (3, 128)  # long articles are cut at max_len


def test_char_lm_targets_are_the_inputs_shifted() -> None:
    data = load_or_skip(chinese_text.load_peoples_daily_lm)
    enc = CharLMEncoder.fit(data, max_len=32)
    batch = enc.batch(data, data.train[:4])
    ids, labels = batch["input_ids"], batch["labels"]
    assert ids.shape == labels.shape and ids.shape[1] <= 32
    keep = (labels[:, :-1] != IGNORE_INDEX) & (labels[:, :-1] != CharLMEncoder.EOS)
    assert torch.equal(ids[:, 1:][keep], labels[:, :-1][keep])
    assert (ids[:, 0] == CharLMEncoder.BOS).all()
    ends = (labels == CharLMEncoder.EOS).sum(1)
    lengths = [len(char_tokens(data.inputs[i])) for i in data.train[:4]]
    assert ends.tolist() == [int(n < 32) for n in lengths] and 0 in ends.tolist()


def test_seq2seq_batch() -> None:
    data = load_or_skip(english_text.load_bbc_headlines)
    enc = Seq2SeqEncoder.fit(data, max_size=5000)
    batch = enc.batch(data, data.train[:2])
    dec, labels = batch["decoder_input_ids"], batch["labels"]
    assert dec.shape == labels.shape and (dec[:, 0] == Seq2SeqEncoder.BOS).all()
    keep = (labels[:, :-1] != IGNORE_INDEX) & (labels[:, :-1] != Seq2SeqEncoder.EOS)
    assert torch.equal(dec[:, 1:][keep], labels[:, :-1][keep])
    assert ((labels == Seq2SeqEncoder.EOS).sum(1) == 1).all()
    lm = chinese_text.load_peoples_daily_lm()
    with pytest.raises(ValueError, match="no targets"):
        Seq2SeqEncoder.fit(lm)


def test_pixel_encoder_standardises_the_training_images() -> None:
    data = load_or_skip(images.load_fashion_mnist)
    enc = PixelEncoder.fit(data)
    batch = enc.batch(data, np.arange(0, 60000, 30))
    assert batch["pixel_values"].shape == (2000, 1, 28, 28)
    assert abs(float(batch["pixel_values"].mean())) < 0.05
    assert abs(float(batch["pixel_values"].std()) - 1) < 0.05
