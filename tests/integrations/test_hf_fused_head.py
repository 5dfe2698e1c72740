"""The fused LM head in RDropTrainer: the same training as the logits path on Llama and Qwen2
configs (tokenizer built here), exact under gradient accumulation, no logits computed, LoRA."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from integrations.hashed_dropout import hashed_keep  # noqa: E402
from integrations.stand_ins import step_logs, train_with  # noqa: E402
from torch_rdrop.functional import rdrop_loss  # noqa: E402
from torch_rdrop.integrations.hf import RDropTrainer, RDropTrainingArguments  # noqa: E402
from torch_rdrop.integrations.lm import (  # noqa: E402
    fused_causal_lm_rdrop,
    fused_head_obstacle,
    next_token_labels,
)

SENTENCES = [
    "question what is the cat answer the cat sat on the mat",
    "question where is the dog answer under the red rug",
    "question who ran answer a big dog ran quickly",
    "question what is blue answer the small mat was blue",
    "question who sat answer it sat on a rug and then ran",
    "question where answer on the big red mat today",
    "question what is happy answer the dog was happy today",
    "question who is sad answer a small cat was sad",
    "question what ran answer the cat ran slowly and then sat",
    "question where is it answer it is under the blue mat",
    "question who was big answer the dog was big and happy",
    "question what is red answer a rug",
    "question where sat the dog answer on the rug",
    "question who answer the red cat",
    "question what then answer then it ran quickly under the mat",
    "question where is the small dog answer the small dog sat on the big rug today",
]


WORDS = sorted({word for sentence in SENTENCES for word in sentence.split()})


def make_tokenizer():
    vocab = {"[PAD]": 0, "[UNK]": 1, "[BOS]": 2, "[EOS]": 3}
    vocab.update({word: i + 4 for i, word in enumerate(WORDS)})
    model = tokenizers.models.WordLevel(vocab=vocab, unk_token="[UNK]")
    raw = tokenizers.Tokenizer(model)
    raw.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=raw, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]"
    )


def completion_only_dataset():
    """Every example: the prompt up to 'answer' is masked out of the loss, padding too; the
    examples hold different numbers of labelled tokens."""
    tokenizer = make_tokenizer()
    batch = tokenizer(SENTENCES, padding="max_length", max_length=16, return_tensors="pt")
    answer = tokenizer.convert_tokens_to_ids("answer")
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    for row in labels:
        row[: int((row == answer).nonzero()[0]) + 1] = -100
    return [
        {"input_ids": i, "attention_mask": m, "labels": y}
        for i, m, y in zip(batch["input_ids"], batch["attention_mask"], labels, strict=True)
    ], len(tokenizer)


def add_hashed_embedding_dropout(model, p: float = 0.3):
    """Dropout on the input embeddings whose mask depends only on the example (its token ids)
    and on which copy of it a row is: every batch split sees the same masks."""

    def drop(module, args, output):
        if not module.training:
            return output
        ids = args[0]
        positions = torch.arange(1, ids.shape[1] + 1, dtype=torch.float64)
        uid = (ids.double() * positions * 0.61803).sum(-1)
        keep = hashed_keep(uid, tuple(output.shape[1:]), p)
        return output * keep.to(output.dtype) / (1 - p)

    model.get_input_embeddings().register_forward_hook(drop)
    return model


def llama(vocab, **extra):
    config = transformers.LlamaConfig(
        **extra,
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32,
        pad_token_id=0,
    )
    return transformers.LlamaForCausalLM(config)


def qwen2(vocab):
    config = transformers.Qwen2Config(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32,
        tie_word_embeddings=True,
        pad_token_id=0,
    )
    return transformers.Qwen2ForCausalLM(config)


MODELS = {"llama": llama, "qwen2": qwen2}


def flat_params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def train(tmp_path, make_model, head, batch_size=8, accumulation=1):
    dataset, vocab = completion_only_dataset()
    torch.manual_seed(0)
    model = add_hashed_embedding_dropout(make_model(vocab))
    start = flat_params(model)
    trainer = train_with(
        RDropTrainer, model, dataset, str(tmp_path), batch_size, accumulation, rdrop_lm_head=head
    )
    return start, flat_params(model), step_logs(trainer)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fused_head_trains_exactly_as_the_logits_path(tmp_path, name) -> None:
    start, logits, logs_logits = train(tmp_path, MODELS[name], "logits")
    _, fused, logs_fused = train(tmp_path, MODELS[name], "fused")
    assert (logits - start).abs().max() > 1e-3  # it trained
    torch.testing.assert_close(fused, logits, rtol=0, atol=2e-6)
    for a, b in zip(logs_logits, logs_fused, strict=True):
        for key in ("loss", "task_loss", "consistency"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), key
        assert a["consistency"] > 1e-3
        assert "entropy" not in a and 0 < b["entropy"] < 4.0
        assert 0 <= b["mean_token_accuracy"] <= 1


def test_auto_picks_the_fused_head_for_a_causal_lm(tmp_path) -> None:
    _, auto, logs = train(tmp_path, llama, "auto")
    _, fused, _ = train(tmp_path, llama, "fused")
    torch.testing.assert_close(auto, fused, rtol=0, atol=0)
    assert "entropy" in logs[0]


def test_fused_head_accumulates_exactly(tmp_path) -> None:
    """(batch 8, GA 1) and (batch 4, GA 2): micro-batches hold different numbers of labelled
    tokens, so only the token-weighted micro-batch losses give the whole batch's update."""
    start, whole, logs_whole = train(tmp_path, llama, "fused", 8, 1)
    _, split, logs_split = train(tmp_path, llama, "fused", 4, 2)
    assert (whole - start).abs().max() > 1e-3
    torch.testing.assert_close(split, whole, rtol=0, atol=1e-6)
    for a, b in zip(logs_whole, logs_split, strict=True):
        for key in ("loss", "task_loss", "consistency", "entropy", "mean_token_accuracy"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), key


def test_the_logits_are_not_computed(tmp_path) -> None:
    dataset, vocab = completion_only_dataset()
    model = add_hashed_embedding_dropout(llama(vocab))
    positions = []
    model.lm_head.register_forward_hook(lambda m, a, out: positions.append(out.shape[-2]))
    train_with(RDropTrainer, model, dataset, str(tmp_path), 8, 1, steps=1, rdrop_lm_head="auto")
    assert positions == [0]


def test_fused_refuses_a_soft_capped_head_and_label_smoothing(tmp_path) -> None:
    dataset, vocab = completion_only_dataset()
    capped = add_hashed_embedding_dropout(llama(vocab))
    capped.config.final_logit_softcapping = 30.0
    assert "final_logit_softcapping=30.0" in fused_head_obstacle(capped)
    with pytest.raises(ValueError, match="final_logit_softcapping"):
        train_with(RDropTrainer, capped, dataset, str(tmp_path), 8, rdrop_lm_head="fused")
    with pytest.raises(ValueError, match="label smoothing"):
        train_with(
            RDropTrainer,
            llama(vocab),
            dataset,
            str(tmp_path),
            8,
            rdrop_lm_head="fused",
            label_smoothing_factor=0.1,
        )
    # auto falls back to the logits: no fused statistics in the logs
    trainer = train_with(RDropTrainer, capped, dataset, str(tmp_path), 8, steps=1)
    assert "entropy" not in step_logs(trainer)[0]


def test_lm_head_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="rdrop_lm_head must be one of"):
        RDropTrainingArguments(output_dir="out", report_to="none", rdrop_lm_head="chunked")


def logits_path_loss(model, batch, alpha):
    """The materialised reference: stacked forward, the logits, rdrop_loss on shifted labels."""
    stacked = {k: torch.cat([v, v]) for k, v in batch.items() if k != "labels"}
    first, second = model(**stacked).logits.chunk(2)
    labels = next_token_labels(batch["labels"])
    return rdrop_loss([first, second], labels, alpha, mask=labels != -100)


def test_lora_adapter_with_real_dropout_matches_the_logits_path() -> None:
    """PEFT LoRA (lora_dropout 0.2, a frozen and tied head): same RNG, same masks, so the fused
    head and the logits give the same loss and the same adapter gradients."""
    peft = pytest.importorskip("peft")
    dataset, vocab = completion_only_dataset()
    batch = {k: torch.stack([row[k] for row in dataset[:6]]) for k in dataset[0]}
    base = qwen2(vocab)
    lora = peft.LoraConfig(
        r=4,
        lora_alpha=8,
        lora_dropout=0.2,
        target_modules=["q_proj", "v_proj"],
        init_lora_weights=False,  # B != 0: the adapters (and their dropout) change the output
    )
    model = peft.get_peft_model(base, lora).train()
    assert fused_head_obstacle(model) is None
    adapters = [p for p in model.parameters() if p.requires_grad]

    torch.manual_seed(3)
    fused = fused_causal_lm_rdrop(model, batch, alpha=1.5)
    fused_grads = torch.autograd.grad(fused.loss, adapters)
    torch.manual_seed(3)
    ref = logits_path_loss(model, batch, 1.5)
    ref_grads = torch.autograd.grad(ref.loss, adapters)

    assert ref.consistency > 1e-4  # LoRA dropout alone makes the passes differ
    torch.testing.assert_close(fused.loss, ref.loss, rtol=1e-5, atol=0)
    torch.testing.assert_close(fused.consistency, ref.consistency, rtol=1e-4, atol=0)
    for a, b in zip(fused_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
    assert base.lm_head.weight.grad is None


def test_interleave_layout_gives_the_concat_loss() -> None:
    dataset, vocab = completion_only_dataset()
    batch = {k: torch.stack([row[k] for row in dataset[:4]]) for k in dataset[0]}
    model = add_hashed_embedding_dropout(llama(vocab)).train()
    concat = fused_causal_lm_rdrop(model, batch, alpha=1.0)
    interleave = fused_causal_lm_rdrop(model, batch, alpha=1.0, layout="interleave")
    assert concat.consistency > 1e-3
    torch.testing.assert_close(interleave.loss, concat.loss, rtol=1e-5, atol=0)


def test_sequential_layout_runs_one_forward_per_pass() -> None:
    dataset, vocab = completion_only_dataset()
    batch = {k: torch.stack([row[k] for row in dataset[:4]]) for k in dataset[0]}
    model = llama(vocab, attention_dropout=0.2)  # real dropout: each forward its own masks
    calls = []
    model.model.register_forward_hook(lambda m, a, out: calls.append(out[0].shape[0]))
    out = fused_causal_lm_rdrop(model.train(), batch, alpha=1.0, passes=3, layout="sequential")
    assert calls == [4, 4, 4] and out.hidden.shape[0] == 12
    assert out.consistency > 1e-5  # the passes differ


def test_gpt2_tied_head_matches_the_logits_path() -> None:
    dataset, vocab = completion_only_dataset()
    batch = {k: torch.stack([row[k] for row in dataset[:4]]) for k in dataset[0]}
    config = transformers.GPT2Config(
        vocab_size=vocab, n_positions=32, n_embd=16, n_layer=1, n_head=2, embd_pdrop=0.0,
        attn_pdrop=0.0, resid_pdrop=0.0,
    )  # fmt: skip
    model = add_hashed_embedding_dropout(transformers.GPT2LMHeadModel(config)).train()
    assert model.lm_head.weight is model.transformer.wte.weight
    fused = fused_causal_lm_rdrop(model, batch, alpha=1.0)
    (got,) = torch.autograd.grad(fused.loss, [model.lm_head.weight])
    ref = logits_path_loss(model, batch, 1.0)
    (want,) = torch.autograd.grad(ref.loss, [model.lm_head.weight])
    torch.testing.assert_close(fused.loss, ref.loss, rtol=1e-5, atol=0)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-7)
