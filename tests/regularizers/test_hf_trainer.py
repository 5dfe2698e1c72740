"""``rdrop_method`` selects a regularizer inside ``RDropTrainer``; one argument switches methods."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from regularizers.toy_models import tiny_bert, token_batch

pytest.importorskip("transformers")  # the [hf] extra; an import error of our own module fails
from torch_rdrop import functional
from torch_rdrop.integrations import hf


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int = 4) -> None:
        self.batch = token_batch(batch=n)

    def __len__(self) -> int:
        return len(self.batch["labels"])

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {key: value[i] for key, value in self.batch.items()}


def train(
    method: str,
    tmp_path,
    batch_size: int,
    accumulation: int,
    dropout: float = 0.0,
    model=None,
    data=None,
):
    torch.manual_seed(0)
    model = model if model is not None else tiny_bert(dropout=dropout)
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
    trainer = hf.RDropTrainer(model=model, args=args, train_dataset=data or Tokens())
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


class Scores(torch.utils.data.Dataset):
    """Sentences with a real-valued score: a regression head (num_labels=1)."""

    def __init__(self, n: int = 4) -> None:
        self.batch = token_batch(batch=n)
        self.batch["labels"] = torch.linspace(-1.0, 1.0, n)

    def __len__(self) -> int:
        return len(self.batch["labels"])

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {key: value[i] for key, value in self.batch.items()}


@pytest.mark.parametrize("method", ["rdrop", "rdrop+fgm", "rdrop+pgd"])
def test_every_rdrop_method_uses_mse_on_a_regression_head(tmp_path, method, monkeypatch) -> None:
    # A softmax KL over a single logit is 0 whatever the passes: 'auto' must mean MSE for every
    # method with an R-Drop term, not only for plain rdrop.
    used: list[str] = []
    for name in ("kl", "mse"):
        original = functional.DIVERGENCES[name]

        def recording(a, b, *args, _name=name, _fn=original, **kwargs):
            used.append(_name)
            return _fn(a, b, *args, **kwargs)

        monkeypatch.setitem(functional.DIVERGENCES, name, recording)
    trainer = train(
        method,
        tmp_path,
        batch_size=4,
        accumulation=1,
        model=tiny_bert(dropout=0.1, num_labels=1),
        data=Scores(),
    )
    log = next(entry for entry in trainer.state.log_history if "loss" in entry)
    consistency = log.get("consistency_loss", log.get("consistency"))
    assert used and set(used) == {"mse"}
    assert consistency > 1e-6


def test_rdrop_plus_fgm_on_a_causal_lm_scores_shifted_positions(tmp_path, monkeypatch) -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(
        vocab_size=50, n_positions=16, n_embd=16, n_layer=1, n_head=2, resid_pdrop=0.2
    )
    model = transformers.GPT2LMHeadModel(config)
    seen: list[tuple[int, Tensor | None]] = []
    original = functional.DIVERGENCES["kl"]

    def recording(a, b, mask=None, **kwargs):
        seen.append((a.shape[-2], None if mask is None else mask.clone()))
        return original(a, b, mask=mask, **kwargs)

    monkeypatch.setitem(functional.DIVERGENCES, "kl", recording)
    trainer = hf.RDropTrainer(
        model=model,
        args=hf.RDropTrainingArguments(
            output_dir=str(tmp_path), rdrop_method="rdrop+fgm", report_to="none", use_cpu=True
        ),
    )
    ids = torch.randint(3, 50, (2, 6), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[1, 3:] = -100  # the second sequence has 3 tokens
    model.train()
    trainer.method_loss(model, {"input_ids": ids, "labels": labels}, trainer.rdrop_arguments())
    length, mask = seen[0]
    # position t predicts label t + 1: 5 scored positions; the second row's third position
    # predicts padding and leaves the term
    assert length == 5
    assert mask.tolist() == (labels[:, 1:] != -100).tolist()
