"""Every supported Hugging Face head, built from a small random config, trains a few steps under
RDropTrainer with a finite loss, a positive consistency and both parts in the logs."""

from __future__ import annotations

import math

import pytest
import torch

transformers = pytest.importorskip("transformers")

from torch_rdrop.integrations.hf import (  # noqa: E402
    RDropSeq2SeqTrainer,
    RDropSeq2SeqTrainingArguments,
    RDropTrainer,
    RDropTrainingArguments,
)

N, T, V = 8, 7, 50
#: A large alpha: the consistency of fresh random heads is tiny, and the test must see the term.
ALPHA = 1000.0


def bert_config(**extra):
    settings = {
        "vocab_size": V,
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "max_position_embeddings": 16,
        "hidden_dropout_prob": 0.2,
    }
    return transformers.BertConfig(**{**settings, **extra})


def ids(*shape):
    return torch.randint(3, V, shape, generator=torch.Generator().manual_seed(5))


def rows(**columns):
    return [{key: value[i] for key, value in columns.items()} for i in range(N)]


def seq_cls(num_labels, problem_type=None):
    config = bert_config(num_labels=num_labels, problem_type=problem_type)
    return transformers.BertForSequenceClassification(config)


def padded_token_labels(classes: int) -> torch.Tensor:
    labels = torch.randint(0, classes, (N, T))
    labels[::2, T - 3 :] = -100
    return labels


def causal_lm():
    config = transformers.GPT2Config(
        vocab_size=V, n_positions=16, n_embd=16, n_layer=1, n_head=2, bos_token_id=1, eos_token_id=2
    )
    return transformers.GPT2LMHeadModel(config)


def lm_data():
    input_ids = ids(N, T)
    labels = input_ids.clone()
    labels[::2, T - 2 :] = -100
    return rows(input_ids=input_ids, labels=labels)


def bart():
    config = transformers.BartConfig(
        vocab_size=V,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=16,
        dropout=0.2,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
    )
    return transformers.BartForConditionalGeneration(config)


def t5():
    config = transformers.T5Config(
        vocab_size=V,
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        dropout_rate=0.2,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return transformers.T5ForConditionalGeneration(config)


def seq2seq_data():
    labels = ids(N, 5)
    labels[::2, 3:] = -100
    return rows(input_ids=ids(N, T), labels=labels)


def vit():
    config = transformers.ViTConfig(
        image_size=8,
        patch_size=4,
        num_channels=3,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        hidden_dropout_prob=0.2,
        num_labels=3,
    )
    return transformers.ViTForImageClassification(config)


CASES = {
    "seq-single-label": (
        lambda: seq_cls(3),
        lambda: rows(input_ids=ids(N, T), labels=torch.randint(0, 3, (N,))),
        "kl",
    ),
    "seq-multi-label": (
        lambda: seq_cls(4, "multi_label_classification"),
        lambda: rows(input_ids=ids(N, T), labels=torch.randint(0, 2, (N, 4)).float()),
        "multilabel",
    ),
    "seq-regression": (
        lambda: seq_cls(1),
        lambda: rows(input_ids=ids(N, T), labels=torch.randn(N)),
        "mse",
    ),
    "token-classification": (
        lambda: transformers.BertForTokenClassification(bert_config(num_labels=5)),
        lambda: rows(input_ids=ids(N, T), labels=padded_token_labels(5)),
        "kl",
    ),
    "multiple-choice": (
        lambda: transformers.BertForMultipleChoice(bert_config()),
        lambda: rows(input_ids=ids(N, 3, T), labels=torch.randint(0, 3, (N,))),
        "kl",
    ),
    "causal-lm": (causal_lm, lm_data, "kl"),
    "image-classification": (
        vit,
        lambda: rows(pixel_values=torch.randn(N, 3, 8, 8), labels=torch.randint(0, 3, (N,))),
        "kl",
    ),
    "bart-seq2seq": (bart, seq2seq_data, "kl"),
    "t5-seq2seq": (t5, seq2seq_data, "kl"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_head_trains_with_finite_loss_and_positive_consistency(tmp_path, case) -> None:
    make_model, make_data, divergence = CASES[case]
    model = make_model()
    data = make_data()
    seq2seq = case.endswith("seq2seq")
    args_cls = RDropSeq2SeqTrainingArguments if seq2seq else RDropTrainingArguments
    trainer_cls = RDropSeq2SeqTrainer if seq2seq else RDropTrainer
    args = args_cls(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=4,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        rdrop_alpha=ALPHA,
    )
    trainer = trainer_cls(model=model, args=args, train_dataset=data)
    chosen = trainer.consistency_divergence(model, data[0]["labels"].unsqueeze(0), args)
    assert chosen == divergence
    trainer.train()
    logs = [log for log in trainer.state.log_history if "loss" in log]
    assert len(logs) == 2
    for log in logs:
        assert math.isfinite(log["loss"]) and math.isfinite(log["task_loss"])
        assert log["task_loss"] > 0
        assert log["consistency"] > 0
        term = ALPHA * log["consistency"]
        # the term is at least 10x the tolerance below (a fresh head's logits are ~0.01 and its
        # KL ~1e-5, hence the large alpha), so a loss without it fails the equality
        assert term > 1e-3 * log["task_loss"]
        assert log["loss"] == pytest.approx(log["task_loss"] + term, rel=1e-4)


def test_causal_lm_consistency_mask_is_shifted(tmp_path) -> None:
    trainer = RDropTrainer(
        model=causal_lm(),
        args=RDropTrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True),
    )
    labels = torch.tensor([[5, 6, 7, -100], [-100, 8, -100, -100]])
    mask = trainer.consistency_mask(trainer.model, labels)
    # position t predicts label t + 1; the last position predicts nothing
    assert mask.tolist() == [[True, True, False, False], [True, False, False, False]]
    tagger = transformers.BertForTokenClassification(bert_config(num_labels=3))
    assert trainer.consistency_mask(tagger, labels).tolist() == (labels != -100).tolist()
    assert trainer.consistency_mask(tagger, torch.tensor([1, 2])) is None
