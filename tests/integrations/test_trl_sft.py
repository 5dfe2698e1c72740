"""RDropSFTTrainer: TRL's SFTTrainer with R-Drop, on tiny Llama and Qwen2 configs with LoRA.

SFT's metrics, completion-only and assistant-only loss masks, packed / padding-free batches, PEFT
models (``peft_config=`` or a ``PeftModel``), the dropout checks and the refusals. Models,
tokenizer and data are built here; nothing is downloaded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pytest
import torch

pytest.importorskip("trl")
pytest.importorskip("peft")
pytest.importorskip("datasets")

import datasets
from peft import LoraConfig, get_peft_model
from trl import SFTConfig, SFTTrainer
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from integrations.hashed_token_dropout import install
from integrations.stand_ins import PLAIN_SGD
from integrations.tiny_lm import (
    conversation_dataset,
    make_llama,
    make_mixtral,
    make_qwen2,
    make_tokenizer,
    prompt_completion_dataset,
    repeated_words_dataset,
    text_dataset,
)
from torch_rdrop import NoDropoutWarning
from torch_rdrop.functional import symmetric_kl
from torch_rdrop.integrations.trl import RDropSFTConfig, RDropSFTMixin, RDropSFTTrainer

datasets.disable_progress_bars()

MODELS = {"llama": make_llama, "qwen2": make_qwen2}
SFT_METRICS = ("entropy", "mean_token_accuracy", "num_tokens")


def lora(dropout: float = 0.1, **options) -> LoraConfig:
    return LoraConfig(
        r=4, lora_alpha=8, lora_dropout=dropout, target_modules=["q_proj", "v_proj"], **options
    )


def config(tmp_path, config_cls=RDropSFTConfig, **overrides):
    settings = {
        **PLAIN_SGD,
        "output_dir": str(tmp_path),
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 4,
        "bf16": False,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "seed": 7,
        "max_length": 64,
    }
    settings.update(overrides)
    if config_cls is SFTConfig:
        settings = {k: v for k, v in settings.items() if not k.startswith("rdrop_")}
    return config_cls(**settings)


def step_logs(trainer) -> list[dict]:
    return [log for log in trainer.state.log_history if "loss" in log and "step" in log]


def first_batch(trainer) -> dict:
    batch = next(iter(trainer.get_train_dataloader()))
    return trainer._prepare_inputs(batch)


def reference_passes(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits of both passes, from one forward of the batch stacked with itself."""
    stacked = {k: torch.cat([v, v]) for k, v in batch.items() if k != "labels"}
    logits = model(**stacked, use_cache=False).logits
    half = batch["input_ids"].shape[0]
    return logits[:half], logits[half:]


# --- SFT's metrics ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_name", "lm_head"), [("qwen2", "fused"), ("qwen2", "logits"), ("mixtral", "auto")]
)
def test_sft_metrics_are_those_of_a_plain_sft_step(tmp_path, model_name, lm_head) -> None:
    """With every dropout 0 the first pass *is* the plain step: SFT's logged metrics (train and
    eval) must be exactly the plain SFTTrainer's, next to R-Drop's own, whether they come from
    the fused head's sums or from the logits. Qwen2's tied embeddings give a non-zero token
    accuracy; Mixtral adds the router's aux_loss (so 'auto' keeps the logits there)."""
    data, held_out = repeated_words_dataset(8), text_dataset(4, length=5)
    make_model = make_mixtral if model_name == "mixtral" else make_qwen2
    metrics = (*SFT_METRICS, "aux_loss") if model_name == "mixtral" else SFT_METRICS
    runs = {}
    for cls, args_cls in ((SFTTrainer, SFTConfig), (RDropSFTTrainer, RDropSFTConfig)):
        trainer = cls(
            model=make_model(),
            args=config(tmp_path, args_cls, rdrop_alpha=1.0, learning_rate=3.0)
            if cls is SFTTrainer
            else config(
                tmp_path, args_cls, rdrop_alpha=1.0, learning_rate=3.0, rdrop_lm_head=lm_head
            ),
            train_dataset=data,
            eval_dataset=held_out,
            processing_class=make_tokenizer(),
            peft_config=lora(dropout=0.0),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoDropoutWarning)
            trainer.train()
        runs[cls] = (step_logs(trainer), trainer.evaluate())
    (plain, plain_eval), (rdrop, rdrop_eval) = runs[SFTTrainer], runs[RDropSFTTrainer]
    assert len(plain) == len(rdrop) == 2
    if model_name == "qwen2":
        assert max(log["mean_token_accuracy"] for log in plain) > 0  # a metric that can differ
    for a, b in zip(plain, rdrop, strict=True):
        for key in (*metrics, "loss"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-7), key
        assert b["consistency"] < 1e-12 and b["task_loss"] == pytest.approx(a["loss"], rel=1e-5)
        assert b["rdrop_alpha"] == 1.0
    for key in ("eval_loss", "eval_entropy", "eval_mean_token_accuracy"):
        assert rdrop_eval[key] == pytest.approx(plain_eval[key], rel=1e-5), key


def test_sft_metrics_are_logged_with_dropout_on(tmp_path) -> None:
    trainer = RDropSFTTrainer(
        model=make_llama(),
        args=config(tmp_path, max_steps=3, logging_steps=3),
        train_dataset=text_dataset(12),
        processing_class=make_tokenizer(),
        peft_config=lora(dropout=0.2),
    )
    trainer.train()
    (log,) = step_logs(trainer)
    assert set(SFT_METRICS) | {"task_loss", "consistency", "rdrop_alpha"} <= set(log)
    assert log["num_tokens"] == sum(len(ids) for ids in trainer.train_dataset["input_ids"][:12])
    assert 2.0 < log["entropy"] <= torch.log(torch.tensor(43.0)).item() + 1e-4
    assert log["consistency"] > 0


# --- completion-only and assistant-only masks ------------------------------------------------


def masked_trainer(tmp_path, kind: str, model_name: str):
    tokenizer = make_tokenizer()
    if kind == "completion":
        data, options = prompt_completion_dataset(8), {}
    else:
        data, options = conversation_dataset(8), {"assistant_only_loss": True}
    trainer = RDropSFTTrainer(
        model=MODELS[model_name](),
        args=config(tmp_path, rdrop_alpha=1.0, **options),
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=lora(dropout=0.3, init_lora_weights=False),
    )
    install(trainer.model, p=0.3)
    return trainer


@pytest.mark.parametrize("model_name", sorted(MODELS))
@pytest.mark.parametrize("kind", ["completion", "assistant"])
def test_the_loss_and_consistency_cover_only_the_trained_tokens(tmp_path, kind, model_name) -> None:
    """TRL turns the completion / assistant masks into labels = -100; the task loss and the
    consistency must both cover exactly the positions whose next label is kept."""
    trainer = masked_trainer(tmp_path, kind, model_name)
    model = trainer.model.train()
    batch = first_batch(trainer)
    labels = batch["labels"]
    kept = labels[:, 1:] != -100
    real = batch["attention_mask"][:, 1:].bool()
    assert kept.any() and (real & ~kept).sum() >= labels.shape[0]  # some real tokens are masked
    with torch.no_grad():
        result = trainer.regularized_loss(model, batch)
        first, second = reference_passes(model, batch)
    first, second = first[:, :-1], second[:, :-1]
    expected = symmetric_kl(first, second, mask=kept)
    everywhere = symmetric_kl(first, second, mask=real)
    assert abs(everywhere - expected) > 1e-3 * expected  # the mask matters here
    torch.testing.assert_close(result.metrics["consistency"], expected, rtol=1e-5, atol=0)
    nll = [
        torch.nn.functional.cross_entropy(logits[kept], labels[:, 1:][kept])
        for logits in (first, second)
    ]
    torch.testing.assert_close(result.metrics["task_loss"], sum(nll) / 2, rtol=1e-5, atol=0)


# --- packing / padding-free ------------------------------------------------------------------


def sequences(trainer, n: int) -> list[dict]:
    rows = trainer.train_dataset.select(range(n))
    return [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows]


def test_packed_batch_gives_the_loss_of_the_same_sequences_unpacked(tmp_path) -> None:
    """Four sequences in one padding-free row and the same four padded: with a dropout mask that
    depends only on (sequence, position, copy), the R-Drop loss and its parts are equal."""
    trainer = masked_trainer(tmp_path, "completion", "llama")
    model = trainer.model.train()
    examples = sequences(trainer, 4)
    packed = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(examples)
    padded = DataCollatorForLanguageModeling(pad_token_id=0)(examples)
    assert packed["input_ids"].shape[0] == 1 and "attention_mask" not in packed
    with torch.no_grad():
        one_row = trainer.regularized_loss(model, packed)
        rows = trainer.regularized_loss(model, padded)
        one_sequence = torch.arange(packed["input_ids"].shape[1]).unsqueeze(0)
        merged = trainer.regularized_loss(model, {**packed, "position_ids": one_sequence})
    for key in ("task_loss", "consistency"):
        torch.testing.assert_close(one_row.metrics[key], rows.metrics[key], rtol=1e-5, atol=0)
    torch.testing.assert_close(one_row.loss, rows.loss, rtol=1e-5, atol=0)
    # the same row read as one long sequence is another loss: the test can see a merge
    assert abs(merged.metrics["task_loss"] - rows.metrics["task_loss"]) > 1e-3


def test_varlen_boundaries_cover_every_stacked_copy(tmp_path) -> None:
    """Flash-style kernels read cu_seq_lens instead of the positions: in the stacked batch they
    must mark a boundary wherever a position restarts, in either copy."""
    trainer = masked_trainer(tmp_path, "completion", "llama")
    model = trainer.model.train()
    packed = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(
        sequences(trainer, 3)
    )
    seen = {}

    def spy(module, args, kwargs):
        seen.update(kwargs)

    trainer.model.get_base_model().model.register_forward_pre_hook(spy, with_kwargs=True)
    with torch.no_grad():
        trainer.regularized_loss(model, packed)
    flat = seen["position_ids"].flatten()
    starts = torch.cat([(flat == 0).nonzero().flatten(), torch.tensor([flat.numel()])])
    assert seen["input_ids"].shape[0] == 2
    for key in ("cu_seq_lens_q", "cu_seq_lens_k"):
        assert seen[key].tolist() == starts.tolist(), key


def test_sft_packing_trains_with_rdrop(tmp_path) -> None:
    trainer = RDropSFTTrainer(
        model=make_llama(),
        args=config(tmp_path, packing=True, max_length=24, per_device_train_batch_size=2),
        train_dataset=text_dataset(12),
        processing_class=make_tokenizer(),
        peft_config=lora(dropout=0.2, init_lora_weights=False),
    )
    assert trainer.padding_free
    trainer.train()
    logs = step_logs(trainer)
    assert all(log["consistency"] > 0 for log in logs)
    assert logs[-1]["num_tokens"] > 0


# --- PEFT and the dropout checks -------------------------------------------------------------


def flat(model, part: str) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for n, p in model.named_parameters() if part in n])


def test_a_prewrapped_peft_model_trains_its_adapter_only(tmp_path) -> None:
    model = get_peft_model(make_qwen2(), lora(dropout=0.2))
    base_before, lora_before = flat(model, "base_layer").clone(), flat(model, "lora_").clone()
    trainer = RDropSFTTrainer(
        model=model,
        args=config(tmp_path, max_steps=3),
        train_dataset=text_dataset(12),
        processing_class=make_tokenizer(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoDropoutWarning)
        trainer.train()
    assert torch.equal(flat(model, "base_layer"), base_before)
    assert (flat(model, "lora_") - lora_before).abs().max() > 1e-3
    assert step_logs(trainer)[-1]["consistency"] > 0


@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_lora_dropout_alone_raises_no_warning(tmp_path, model_name) -> None:
    """The model's own dropouts are 0 and LoRA's B starts at 0: the passes are identical until
    the first update, which must not be taken for disabled dropout."""
    trainer = RDropSFTTrainer(
        model=MODELS[model_name](dropout=0.0),
        args=config(tmp_path, max_steps=3, gradient_accumulation_steps=2),
        train_dataset=text_dataset(24),
        processing_class=make_tokenizer(),
        peft_config=lora(dropout=0.1),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoDropoutWarning)
        trainer.train()
    logs = step_logs(trainer)
    # B = 0: the adapter's dropout changes nothing yet (rounding aside: the two passes' kernels
    # need not sum in the same order); after updates it must, far above that rounding
    assert logs[0]["consistency"] < 1e-12
    assert logs[-1]["consistency"] > 1e-9


def test_no_dropout_anywhere_warns(tmp_path) -> None:
    trainer = RDropSFTTrainer(
        model=make_llama(dropout=0.0),
        args=config(tmp_path, max_steps=3),
        train_dataset=text_dataset(12),
        processing_class=make_tokenizer(),
        peft_config=lora(dropout=0.0),
    )
    with pytest.warns(NoDropoutWarning, match="identical"):
        trainer.train()


@dataclass
class ConfigThatDisablesDropout(RDropSFTConfig):
    disable_dropout: bool = True


def test_refusals(tmp_path) -> None:
    from transformers import Trainer

    common = {
        "model": make_llama(),
        "train_dataset": text_dataset(4),
        "processing_class": make_tokenizer(),
    }
    with pytest.raises(ValueError, match="disable_dropout=True"):
        RDropSFTTrainer(args=config(tmp_path, ConfigThatDisablesDropout), **common)
    with pytest.raises(ValueError, match="loss_type='dft'"):
        RDropSFTTrainer(args=config(tmp_path, loss_type="dft"), **common)

    class NotSFT(RDropSFTMixin, Trainer):
        pass

    with pytest.raises(TypeError, match="needs an SFTTrainer"):
        NotSFT(model=make_llama(), args=config(tmp_path))
