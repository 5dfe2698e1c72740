"""R-Drop with the Hugging Face Seq2SeqTrainer on a BART (or T5) built from a small random config.

The task: read a digit image of scikit-learn's digits as 16 tokens (the 8x8 image pooled to 4x4)
and write its label as a word ("three"), one token per letter. Token labels are padded with
-100; the consistency term skips those positions. Prints one JSON line.

    python examples/hf_seq2seq.py --max-steps 40 --model t5
"""

from __future__ import annotations

import argparse
import json
import tempfile

import torch
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    T5Config,
    T5ForConditionalGeneration,
)

from torch_rdrop.integrations.hf import RDropSeq2SeqTrainer, RDropSeq2SeqTrainingArguments

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
LETTERS = sorted(set("".join(WORDS)))
PAD, EOS, START, FIRST_LETTER = 0, 1, 2, 3
FIRST_PIXEL = FIRST_LETTER + len(LETTERS)
VOCAB = FIRST_PIXEL + 65
TARGET_LENGTH = 6


def examples() -> list[dict]:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.long).view(-1, 4, 2, 4, 2)
    sources = images.sum((2, 4)).flatten(1) + FIRST_PIXEL
    rows = []
    for source, label in zip(sources, data.target, strict=True):
        word = [FIRST_LETTER + LETTERS.index(c) for c in WORDS[label]] + [EOS]
        target = torch.full((TARGET_LENGTH,), -100)
        target[: len(word)] = torch.tensor(word)
        rows.append({"input_ids": source, "labels": target})
    return rows


def build(kind: str):
    if kind == "t5":
        config = T5Config(
            vocab_size=VOCAB, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2,
            dropout_rate=0.1, pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD,
        )  # fmt: skip
        return T5ForConditionalGeneration(config)
    config = BartConfig(
        vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
        decoder_ffn_dim=64, max_position_embeddings=32, dropout=0.1, pad_token_id=PAD,
        bos_token_id=START, eos_token_id=EOS, decoder_start_token_id=START,
    )  # fmt: skip
    return BartForConditionalGeneration(config)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=80)
    parser.add_argument("--alpha", type=float, default=0.7)
    parser.add_argument("--model", choices=["bart", "t5"], default="bart")
    options = parser.parse_args(argv)
    torch.manual_seed(0)
    rows = examples()
    train, test = rows[:1400], rows[1400:]
    with tempfile.TemporaryDirectory() as out:
        args = RDropSeq2SeqTrainingArguments(
            output_dir=out,
            rdrop_alpha=options.alpha,
            max_steps=options.max_steps,
            per_device_train_batch_size=32,
            per_device_eval_batch_size=128,
            learning_rate=5e-3,
            logging_steps=max(1, options.max_steps // 4),
            report_to="none",
            save_strategy="no",
            use_cpu=True,
            disable_tqdm=True,
        )
        trainer = RDropSeq2SeqTrainer(model=build(options.model), args=args, train_dataset=train)
        trainer.train()
        metrics = trainer.evaluate(test)
    last = [log for log in trainer.state.log_history if "loss" in log][-1]
    result = {
        "task_loss": last["task_loss"],
        "consistency": last["consistency"],
        "eval_loss": metrics["eval_loss"],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
