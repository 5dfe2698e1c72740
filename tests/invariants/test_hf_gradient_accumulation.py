"""RDropTrainer: (batch 2B, accumulation 1) and (batch B, accumulation 2) give the same update and
the same logged loss, task loss and consistency.

The stand-in models use a hashed dropout mask (``integrations/stand_ins.py``) so that every split
of the batch sees the same masks and the comparison is exact; the optimizer is plain SGD without
clipping, so any scaling error of the loss shows in the weights.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

from integrations.stand_ins import (
    Examples,
    StandInClassifier,
    StandInClassifierNoKwargs,
    StandInTagger,
    step_logs,
    train_with,
)
from torch_rdrop import NoDropoutWarning
from torch_rdrop.integrations.hf import RDropTrainer

CASES = {
    # forward(**kwargs): the Trainer counts labels, the num_items_in_batch path
    "classifier": (StandInClassifier, lambda: Examples()),
    # closed forward: no count, the mean / accumulation-steps path
    "classifier-no-kwargs": (StandInClassifierNoKwargs, lambda: Examples()),
    # token labels, micro-batches with different numbers of labelled tokens
    "tagger": (StandInTagger, lambda: Examples(features=5, classes=4, tokens=6)),
}


def flat_params(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def run(tmp_path, make_model, dataset, batch_size, accumulation, trainer_cls=RDropTrainer):
    torch.manual_seed(0)
    model = make_model()
    start = flat_params(model)
    trainer = train_with(trainer_cls, model, dataset, str(tmp_path), batch_size, accumulation)
    return start, flat_params(model), step_logs(trainer)


@pytest.mark.parametrize("case", sorted(CASES))
def test_accumulation_gives_the_update_and_logs_of_the_whole_batch(tmp_path, case) -> None:
    make_model, make_data = CASES[case]
    dataset = make_data()
    start, whole, logs_whole = run(tmp_path, make_model, dataset, 8, 1)
    _, split, logs_split = run(tmp_path, make_model, dataset, 4, 2)
    assert (whole - start).abs().max() > 1e-3  # it trained
    torch.testing.assert_close(split, whole, rtol=0, atol=1e-6)
    assert len(logs_whole) == len(logs_split) == 2
    for a, b in zip(logs_whole, logs_split, strict=True):
        for key in ("loss", "task_loss", "consistency"):
            assert b[key] == pytest.approx(a[key], rel=1e-6), key
        assert a["consistency"] > 0
        assert a["loss"] == pytest.approx(a["task_loss"] + 2.0 * a["consistency"], rel=1e-5)


def test_tagger_split_is_a_real_test(tmp_path) -> None:
    """The token batches are uneven, so averaging the two micro-batch means (what a per-batch
    mean divided by the accumulation steps gives) is *not* the loss of the whole batch."""

    class MeanOfMeans(RDropTrainer):
        def micro_batch_weight(self, inputs, num_items_in_batch):
            return 1.0 / self.current_gradient_accumulation_steps

    make_model, make_data = CASES["tagger"]
    dataset = make_data()
    _, whole, logs_whole = run(tmp_path, make_model, dataset, 8, 1)
    _, naive, logs_naive = run(tmp_path, make_model, dataset, 4, 2, trainer_cls=MeanOfMeans)
    assert (naive - whole).abs().max() > 1e-4
    assert logs_naive[0]["loss"] != pytest.approx(logs_whole[0]["loss"], rel=1e-4)


def test_tiny_bert_token_classification_accumulates_exactly(tmp_path) -> None:
    """A real Hugging Face head (dropout 0 for exactness) is not over-scaled under accumulation."""
    import transformers

    config = transformers.BertConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=4,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 40, (16, 6), generator=gen)
    labels = torch.randint(0, 4, (16, 6), generator=gen)
    lengths = torch.randint(1, 7, (16,), generator=gen)
    labels[torch.arange(6).view(1, -1) >= lengths.view(-1, 1)] = -100
    dataset = [{"input_ids": i, "labels": y} for i, y in zip(ids, labels, strict=True)]

    def make_model():
        return transformers.BertForTokenClassification(config)

    with pytest.warns(NoDropoutWarning):  # identical passes: dropout is 0 here on purpose
        start, whole, logs_whole = run(tmp_path, make_model, dataset, 8, 1)
        _, split, logs_split = run(tmp_path, make_model, dataset, 4, 2)
    assert (whole - start).abs().max() > 1e-3
    torch.testing.assert_close(split, whole, rtol=0, atol=1e-6)
    for a, b in zip(logs_whole, logs_split, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-6)
