"""RDropSFTTrainer: (batch 2B, accumulation 1) and (batch B, accumulation 2) give the same LoRA
update and the same logs under SFT's token-count normalisation.

The LoRA dropouts are replaced by a hashed dropout (``integrations/hashed_token_dropout.py``), so
every split of the batch sees the same masks; plain SGD without clipping shows any scaling error
in the weights. The texts have different lengths, so the micro-batches hold different numbers of
labelled tokens and a per-micro-batch mean would be wrong.

Why plain SFT looked inexact: ``SFTConfig`` turns ``bf16`` on by default, on CPU too, and bf16
autocast rounds the matmuls differently for micro-batches of other shapes. In fp32 plain SFT
and R-Drop SFT are both exact.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("trl")
pytest.importorskip("peft")
pytest.importorskip("datasets")

import datasets
from peft import LoraConfig
from trl import SFTConfig, SFTTrainer

from integrations.hashed_token_dropout import install
from integrations.stand_ins import PLAIN_SGD
from integrations.tiny_lm import make_llama, make_tokenizer, text_dataset
from torch_rdrop.integrations.trl import RDropSFTConfig, RDropSFTTrainer

datasets.disable_progress_bars()


def lora_weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for n, p in model.named_parameters() if "lora_" in n])


def train(tmp_path, trainer_cls, batch_size, accumulation, data, hashed=True, **overrides):
    config_cls = RDropSFTConfig if issubclass(trainer_cls, RDropSFTTrainer) else SFTConfig
    settings = {
        **PLAIN_SGD,
        "output_dir": str(tmp_path),
        "max_steps": 2,
        "per_device_train_batch_size": batch_size,
        "gradient_accumulation_steps": accumulation,
        "bf16": False,
        "disable_tqdm": True,
        "seed": 7,
        **overrides,
    }
    if config_cls is RDropSFTConfig:
        settings["rdrop_alpha"] = 2.0
    lora = LoraConfig(
        r=4,
        lora_alpha=8,
        lora_dropout=0.3 if hashed else 0.0,
        target_modules=["q_proj", "v_proj"],
        init_lora_weights=not hashed,  # random B: the adapter and its dropout act from step 1
    )
    trainer = trainer_cls(
        model=make_llama(),
        args=config_cls(**settings),
        train_dataset=data,
        processing_class=make_tokenizer(),
        peft_config=lora,
    )
    if hashed:
        install(trainer.model, p=0.3)
    start = lora_weights(trainer.model)
    trainer.train()
    logs = [log for log in trainer.state.log_history if "loss" in log and "step" in log]
    return start, lora_weights(trainer.model), logs


def test_rdrop_sft_accumulates_exactly(tmp_path) -> None:
    data = text_dataset(16)
    start, whole, logs_whole = train(tmp_path, RDropSFTTrainer, 8, 1, data)
    _, split, logs_split = train(tmp_path, RDropSFTTrainer, 4, 2, data)
    assert (whole - start).abs().max() > 1e-2  # it trained
    torch.testing.assert_close(split, whole, rtol=0, atol=1e-6)
    assert len(logs_whole) == len(logs_split) == 2
    for a, b in zip(logs_whole, logs_split, strict=True):
        for key in ("loss", "task_loss", "consistency", "entropy", "num_tokens"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), key
        assert a["consistency"] > 0
        assert a["loss"] == pytest.approx(a["task_loss"] + 2.0 * a["consistency"], rel=1e-5)


def test_the_split_is_a_real_test(tmp_path) -> None:
    """The micro-batches hold different numbers of labelled tokens: weighting each micro-batch
    mean by 1 / accumulation steps instead of its token share gives another update."""

    class MeanOfMeans(RDropSFTTrainer):
        def micro_batch_weight(self, inputs, num_items_in_batch):
            return 1.0 / self.current_gradient_accumulation_steps

    data = text_dataset(16)
    _, whole, _ = train(tmp_path, RDropSFTTrainer, 8, 1, data)
    _, naive, _ = train(tmp_path, MeanOfMeans, 4, 2, data)
    assert (naive - whole).abs().max() > 1e-4


def test_plain_sft_is_inexact_only_under_bf16_autocast(tmp_path) -> None:
    """Plain SFTTrainer, equal-length texts, all dropout 0: SFTConfig's default bf16 gives LoRA
    weights that differ between the splits; fp32 gives the same weights."""
    data = text_dataset(8, length=6)
    gaps = {}
    for bf16 in (True, False):
        _, whole, _ = train(tmp_path, SFTTrainer, 4, 1, data, hashed=False, bf16=bf16)
        _, split, _ = train(tmp_path, SFTTrainer, 2, 2, data, hashed=False, bf16=bf16)
        gaps[bf16] = (split - whole).abs().max().item()
    assert gaps[True] > 1e-5
    assert gaps[False] < 1e-6
