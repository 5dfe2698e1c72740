"""RDrop around Hugging Face models built from small random configs (no downloads)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip("transformers")

from torch_rdrop import RDrop, symmetric_kl  # noqa: E402


def tiny_bert(num_labels: int = 3, token: bool = False):
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        num_labels=num_labels,
        hidden_dropout_prob=0.2,
        attention_probs_dropout_prob=0.1,
    )
    cls = (
        transformers.BertForTokenClassification
        if token
        else transformers.BertForSequenceClassification
    )
    return cls(config)


@pytest.mark.parametrize("layout", ["concat", "interleave", "sequential"])
def test_model_loss_used_when_labels_are_passed(layout) -> None:
    model = tiny_bert()
    batch = {
        "input_ids": torch.randint(1, 50, (4, 9)),
        "attention_mask": torch.ones(4, 9, dtype=torch.long),
        "labels": torch.tensor([0, 2, 1, 1]),
    }
    with torch.no_grad():  # logits of order 1, not a fresh head's 0.01: a visible KL term
        model.classifier.weight.mul_(100.0)
    rd = RDrop(model, alpha=0.5, layout=layout)
    torch.manual_seed(11)
    out = rd(**batch)
    first, second = out.logits
    assert isinstance(out.output, transformers.modeling_outputs.SequenceClassifierOutput)
    assert out.output.logits.shape == (4, 3)
    expected_task = 0.5 * (
        F.cross_entropy(first, batch["labels"]) + F.cross_entropy(second, batch["labels"])
    )
    torch.testing.assert_close(out.task_loss, expected_task, rtol=1e-5, atol=1e-6)
    term = symmetric_kl(first, second)
    assert term > 1e-3  # far above the tolerances below: dropping it would fail them
    torch.testing.assert_close(out.consistency, term)
    torch.testing.assert_close(out.loss, out.task_loss + 0.5 * term, rtol=1e-6, atol=1e-6)


def test_token_classification_masks_padding_from_labels() -> None:
    model = tiny_bert(num_labels=4, token=True)
    labels = torch.randint(0, 4, (2, 6))
    labels[0, 4:] = -100
    rd = RDrop(model, alpha=1.0)
    out = rd(input_ids=torch.randint(1, 50, (2, 6)), labels=labels)
    first, second = out.logits
    torch.testing.assert_close(out.consistency, symmetric_kl(first, second, mask=labels != -100))


def test_eval_returns_the_model_output() -> None:
    model = tiny_bert()
    rd = RDrop(model).eval()
    ids = torch.randint(1, 50, (2, 5))
    torch.testing.assert_close(rd(input_ids=ids).logits, model(input_ids=ids).logits)
