"""``rdrop_method`` selects a regularizer inside ``RDropTrainer``; one argument switches methods."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from regularizers.toy_models import tiny_bert, token_batch

hf = pytest.importorskip("torch_rdrop.integrations.hf")


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int = 4) -> None:
        self.batch = token_batch(batch=n)

    def __len__(self) -> int:
        return len(self.batch["labels"])

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {key: value[i] for key, value in self.batch.items()}


def train(method: str, tmp_path, batch_size: int, accumulation: int, dropout: float = 0.0):
    torch.manual_seed(0)
    model = tiny_bert(dropout=dropout)
    args = hf.RDropTrainingArguments(
        output_dir=str(tmp_path / f"{method}-{batch_size}"),
        rdrop_method=method,
        max_steps=1,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        learning_rate=0.5,
        optim="sgd",
        lr_scheduler_type="constant",
        max_grad_norm=0.0,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        seed=7,
    )
    trainer = hf.RDropTrainer(model=model, args=args, train_dataset=Tokens())
    trainer.train()
    return trainer


def test_fgm_in_the_trainer_logs_its_parts_and_is_the_same_under_accumulation(tmp_path) -> None:
    whole = train("fgm", tmp_path, batch_size=4, accumulation=1)
    split = train("fgm", tmp_path, batch_size=2, accumulation=2)
    log = next(entry for entry in whole.state.log_history if "loss" in entry)
    assert {"task_loss", "adversarial_loss"} <= set(log) and "rdrop_alpha" not in log
    assert log["adversarial_loss"] > log["task_loss"]
    for (name, a), b in zip(whole.model.named_parameters(), split.model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name
    torch.manual_seed(0)  # the same initial weights: the step did move the embeddings
    untrained = tiny_bert(dropout=0.0)
    moved = whole.model.get_input_embeddings().weight
    assert not torch.equal(moved, untrained.get_input_embeddings().weight)


def test_rdrop_plus_fgm_logs_both_terms_and_the_alpha(tmp_path) -> None:
    trainer = train("rdrop+fgm", tmp_path, batch_size=4, accumulation=1, dropout=0.1)
    log = next(entry for entry in trainer.state.log_history if "loss" in entry)
    assert {"task_loss", "consistency_loss", "adversarial_loss", "rdrop_alpha"} <= set(log)
    assert log["consistency_loss"] > 0


def test_an_unknown_method_is_refused_by_the_arguments(tmp_path) -> None:
    with pytest.raises(ValueError, match="rdrop_method must be one of"):
        hf.RDropTrainingArguments(output_dir=str(tmp_path), rdrop_method="cutmix")
