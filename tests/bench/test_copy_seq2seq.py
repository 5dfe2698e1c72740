"""The copy mechanism: an exact mixture, and an encoder-decoder that copies words it never saw
in that order, in training and in ``generate``."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from torch import nn

from bench.tiny_checkpoints import bert_checkpoint
from torch_rdrop.bench.tasks.copy_seq2seq import copy_mixture
from torch_rdrop.bench.tasks.models import minilm_encoder_decoder
from torch_rdrop.bench.tasks.new_weights import new_weight_names


def test_the_mixture_is_the_gated_sum_of_generating_and_copying() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7)
    attention = torch.softmax(torch.randn(2, 3, 4), dim=-1)
    gate = torch.rand(2, 3, 1)
    source = torch.tensor([[1, 5, 5, 0], [2, 3, 4, 6]])  # word 5 twice: its attention adds up
    copied = torch.zeros(2, 3, 7)
    for b in range(2):
        for s in range(4):
            copied[b, :, source[b, s]] += attention[b, :, s]
    expected = gate * torch.softmax(logits, -1) + (1 - gate) * copied
    got = copy_mixture(logits, attention, gate, source).exp()
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(got.sum(-1), torch.ones(2, 3))
    only_copy = copy_mixture(logits, attention, torch.zeros(2, 3, 1), source).exp()
    assert float(only_copy[0, :, 5].min()) > float(attention[0, :, 1].min())  # both positions
    with pytest.raises(ValueError, match=r"attention: expected shape \(2, 3, 4\)"):
        copy_mixture(logits, attention[:, :, :3], gate, source)


def _copy_task(tmp_path: Path):
    from transformers import AutoTokenizer

    from torch_rdrop.bench.tasks.checkpoint import CheckpointEncoder
    from torch_rdrop.bench.tasks.data.base import GenerationData

    words = [f"w{i}" for i in range(40)]
    folder = bert_checkpoint(tmp_path / "bert", words, dropout=0.0)
    rng = random.Random(0)
    sources = [" ".join(rng.sample(words, 8)) for _ in range(80)]
    targets = [" ".join(s.split()[:3]) for s in sources]  # a "headline": the first three words
    data = GenerationData("lead", tuple(sources), tuple(targets), range(64), range(64, 80), None,
                          "en")  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return folder, data, CheckpointEncoder(tokenizer, 16, 8, decoder_start=tokenizer.cls_token_id)


def _train_and_decode(folder: Path, data, encoder, copy: bool) -> float:
    """Exact-match rate on 16 held-out sources after 60 full-batch steps."""
    torch.manual_seed(0)
    model = minilm_encoder_decoder(dropout=0.0, path=folder, copy=copy)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = encoder.batch(data, range(64))
    labels = batch.pop("labels")
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(**batch).logits.flatten(0, 1), labels.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    held_out = encoder.batch(data, range(64, 80))
    out = model.generate(input_ids=held_out["input_ids"],
                         attention_mask=held_out["attention_mask"], max_new_tokens=8)  # fmt: skip
    texts = [encoder.decode(row[1:]) for row in out.tolist()]
    return sum(t == data.targets[i] for t, i in zip(texts, range(64, 80), strict=True)) / 16


def test_the_copying_model_copies_unseen_word_orders_where_the_plain_one_cannot(tmp_path) -> None:
    folder, data, encoder = _copy_task(tmp_path)
    assert _train_and_decode(folder, data, encoder, copy=True) == 1.0
    assert _train_and_decode(folder, data, encoder, copy=False) <= 0.25


def test_the_copy_head_is_marked_new_and_needs_the_source_ids(tmp_path) -> None:
    folder, data, encoder = _copy_task(tmp_path)
    model = minilm_encoder_decoder(dropout=0.0, path=folder, copy=True)
    names = new_weight_names(model)
    assert names is not None and {n for n in names if n.startswith("copy_head.")} == {
        f"copy_head.{layer}.{kind}" for layer in ("query", "key", "gate")
        for kind in ("weight", "bias")
    }  # fmt: skip
    batch = encoder.batch(data, range(2))
    batch.pop("labels")
    encoded = model.get_encoder()(input_ids=batch["input_ids"],
                                  attention_mask=batch["attention_mask"])  # fmt: skip
    rest = {k: v for k, v in batch.items() if k != "input_ids"}
    with pytest.raises(ValueError, match="decoder_source_ids: a copying model needs"):
        model(encoder_outputs=encoded, **rest)
    given = model(encoder_outputs=encoded, decoder_source_ids=batch["input_ids"], **rest).logits
    torch.testing.assert_close(given, model(**batch).logits)
