"""Local checkpoints as a model family: folder checks, heads, dropout, batches, and learning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bench.tiny_checkpoints import bart_checkpoint, bert_checkpoint
from torch_rdrop.bench.tasks.checkpoint import (
    CheckpointError,
    CheckpointFamily,
    check_checkpoint,
    load_checkpoint_tokenizer,
)
from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData, TaggingData
from torch_rdrop.regularizers import build_regularizer
from torch_rdrop.wrapper import default_logits

POSITIVE = ["good", "great", "fine", "nice", "superb", "lovely"]
NEGATIVE = ["bad", "awful", "poor", "dull", "weak", "sad"]
NOUNS = ["film", "movie", "play", "show"]
NAMES = ["ann", "bob", "eve"]
PLACES = ["paris", "rome", "lon", "##don"]
WORDS = [*POSITIVE, *NEGATIVE, *NOUNS, *NAMES, *PLACES, "in", "lives", "met"]


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bert_checkpoint(tmp_path_factory.mktemp("bert"), WORDS)


@pytest.fixture(scope="module")
def bart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bart_checkpoint(tmp_path_factory.mktemp("bart"), WORDS)


def reviews() -> ClassificationData:
    texts = [f"{a} {n}" for a in POSITIVE + NEGATIVE for n in NOUNS[:2]]
    labels = [int(t.split()[0] in POSITIVE) for t in texts]
    return ClassificationData(
        "reviews", tuple(texts), labels, ("neg", "pos"), range(len(texts)), [], None, "en"
    )


def people() -> TaggingData:
    sentences = [(name, "lives", "in", place) for name in NAMES for place in ("paris", "rome")]
    sentences += [(a, "met", b) for a in NAMES for b in NAMES if a != b]
    names = ("O", "B-LOC", "B-PER")
    tag = {"paris": 1, "rome": 1, **dict.fromkeys(NAMES, 2)}
    rows = tuple([tag.get(w, 0) for w in s] for s in sentences)
    return TaggingData("people", tuple(sentences), rows, names, range(len(rows)), [], None, "en",
                       outside=0)  # fmt: skip


# -- the folder ---------------------------------------------------------------------------------


def test_a_folder_that_is_not_a_model_names_what_is_missing(tmp_path: Path, bert: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nowhere: no such checkpoint folder"):
        check_checkpoint(tmp_path / "nowhere")
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(CheckpointError, match=r"model\.bin is a file; a checkpoint is a folder"):
        check_checkpoint(tmp_path / "model.bin")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text((bert / "config.json").read_text())
    with pytest.raises(CheckpointError) as error:
        check_checkpoint(partial)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{partial} is not a model checkpoint: missing weights (")
    assert "tokenizer files (" in message and "files found: config.json." in message
    assert "missing config.json" not in message
    for name in ("model.safetensors", "vocab.txt"):
        (partial / name).write_bytes((bert / name).read_bytes())
    assert check_checkpoint(partial) == partial
    (partial / "config.json").write_text('{"hidden_size": 8}')
    with pytest.raises(CheckpointError, match=r"config\.json has no model_type"):
        check_checkpoint(partial)


def test_the_family_checks_its_folder_when_made(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a model checkpoint"):
        CheckpointFamily(tmp_path)


# -- models, dropout and batches ----------------------------------------------------------------


@pytest.mark.parametrize("p", [0.0, 0.37])
def test_a_classifier_head_sized_to_the_labels_with_the_runs_dropout(bert: Path, p: float) -> None:
    data = reviews()
    encoder, model = CheckpointFamily(bert)(data, p)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.id2label == {0: "neg", 1: "pos"}
    assert model.classifier.out_features == 2
    rates = {m.p for m in model.modules() if isinstance(m, nn.Dropout)}
    assert rates == {p}
    assert model.config.hidden_dropout_prob == p == model.config.attention_probs_dropout_prob
    batch = encoder.batch(data, [0, 13])
    labels = batch.pop("labels")
    assert labels.tolist() == [1, 0]
    assert default_logits(model(**batch)).shape == (2, 2)


def test_the_encoder_model_weights_come_from_the_checkpoint(bert: Path) -> None:
    from transformers import BertModel

    saved = BertModel.from_pretrained(str(bert), local_files_only=True)
    _, model = CheckpointFamily(bert)(reviews(), 0.1)
    torch.testing.assert_close(
        model.bert.embeddings.word_embeddings.weight, saved.embeddings.word_embeddings.weight
    )


def test_a_tag_goes_to_the_first_sub_word_of_its_word(bert: Path) -> None:
    data = TaggingData("t", (("eve", "lives", "in", "london"),), ([2, 0, 0, 1],),
                       ("O", "B-LOC", "B-PER"), [0], [], None, "en", outside=0)  # fmt: skip
    encoder, model = CheckpointFamily(bert)(data, 0.1)
    assert type(model).__name__ == "BertForTokenClassification"
    batch = encoder.batch(data, [0])
    pieces = encoder.tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    assert pieces == ["[CLS]", "eve", "lives", "in", "lon", "##don", "[SEP]"]
    assert batch["labels"].tolist() == [[-100, 2, 0, 0, 1, -100, -100]]
    logits = default_logits(model(**{k: v for k, v in batch.items() if k != "labels"}))
    assert logits.shape[:-1] == batch["labels"].shape and logits.shape[-1] == 3


def test_seq2seq_batches_shift_the_target_after_the_decoder_start(bart: Path) -> None:
    data = GenerationData("g", ("good film", "bad movie in rome"), ("good", "bad movie"),
                          [0, 1], [], None, "en")  # fmt: skip
    encoder, model = CheckpointFamily(bart, max_target=8)(data, 0.2)
    assert type(model).__name__ == "BartForConditionalGeneration"
    assert model.config.dropout == 0.2 == model.config.attention_dropout
    batch = encoder.batch(data, [0, 1])
    labels = batch.pop("labels")
    vocab = encoder.tokenizer.get_vocab()
    good, bad, movie, eos = vocab["good"], vocab["bad"], vocab["movie"], vocab["</s>"]
    assert labels.tolist() == [[good, eos, -100], [bad, movie, eos]]
    assert batch["decoder_input_ids"].tolist() == [[2, good, eos], [2, bad, movie]]
    assert batch["decoder_attention_mask"].tolist() == [[1, 1, 1], [1, 1, 1]]
    logits = default_logits(model(**batch))
    assert logits.shape[:-1] == labels.shape
    assert encoder.decode([2, bad, movie, eos, 0]) == "bad movie"


def test_an_encoder_checkpoint_cannot_generate(bert: Path) -> None:
    data = GenerationData("g", ("a", "b"), ("c", "d"), [0, 1], [], None, "en")
    with pytest.raises(CheckpointError, match=r"no decoder_start_token_id; is it an encoder-dec"):
        CheckpointFamily(bert).encoder(data)
    with pytest.raises(CheckpointError, match=r"a bert checkpoint cannot load as AutoModelForSeq2"):
        CheckpointFamily(bert).model(data, 0.1)


def test_a_tokenizer_without_padding_pads_with_its_end_token(tmp_path: Path, bart: Path) -> None:
    folder = tmp_path / "nopad"
    folder.mkdir()
    for file in bart.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("pad_token", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = load_checkpoint_tokenizer(str(folder))
    assert tokenizer.pad_token == "</s>"


# -- it learns ----------------------------------------------------------------------------------


def eval_loss(model: nn.Module, encoder, data, indices: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        batch = encoder.batch(data, indices)
        labels = batch.pop("labels")
        logits = default_logits(model(**batch))
        return float(nn.functional.cross_entropy(logits.flatten(0, -2), labels.flatten()))


@pytest.fixture
def one_thread():
    """One CPU thread, as a benchmark trial runs (tiny models are slower with more)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("make_data", [reviews, people])
def test_the_checkpoint_family_learns_with_rdrop(bert: Path, make_data, one_thread) -> None:
    data = make_data()
    torch.manual_seed(0)
    encoder, model = CheckpointFamily(bert)(data, 0.1)
    method = build_regularizer("rdrop", alpha=1.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    everything = np.asarray(data.train)
    before = eval_loss(model, encoder, data, everything)
    consistency = []
    order = np.random.default_rng(0)
    for _ in range(20):
        for first in range(0, everything.size, 8):
            model.train()
            batch = encoder.batch(data, order.permutation(everything)[first : first + 8])
            labels = batch.pop("labels")
            out = method.training_loss(model, batch, labels)
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
            consistency.append(float(out.parts["consistency"]))
    after = eval_loss(model, encoder, data, everything)
    assert after < 0.25 * before, (before, after)
    assert min(consistency) > 0  # the two passes differ: dropout is on
