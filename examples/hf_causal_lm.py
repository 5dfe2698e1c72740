"""R-Drop on a causal language model (GPT-2 from a small random config) with the Trainer.

The "text" is scikit-learn's digits: each image pooled to 4x4 is a sentence of 16 intensity
tokens, preceded by a token for its digit. Labels are the input ids (the model shifts them);
the consistency term compares the passes where a next token is predicted. Prints one JSON line.

    python examples/hf_causal_lm.py --max-steps 40
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from torch_rdrop.integrations.hf import RDropTrainer, RDropTrainingArguments


def sentences() -> list[dict]:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.long).view(-1, 4, 2, 4, 2)
    pixels = images.sum((2, 4)).flatten(1) + 10
    ids = torch.cat([torch.tensor(data.target).view(-1, 1), pixels], dim=1)
    return [{"input_ids": row, "labels": row.clone()} for row in ids]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=80)
    parser.add_argument("--alpha", type=float, default=1.0)
    options = parser.parse_args(argv)
    torch.manual_seed(0)
    rows = sentences()
    config = GPT2Config(
        vocab_size=80, n_positions=24, n_embd=32, n_layer=2, n_head=2, bos_token_id=0,
        eos_token_id=0, resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        args = RDropTrainingArguments(
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
        trainer = RDropTrainer(model=GPT2LMHeadModel(config), args=args, train_dataset=rows[:1400])
        trainer.train()
        metrics = trainer.evaluate(rows[1400:])
    last = [log for log in trainer.state.log_history if "loss" in log][-1]
    result = {
        "task_loss": last["task_loss"],
        "consistency": last["consistency"],
        "eval_loss": metrics["eval_loss"],
        "eval_perplexity": math.exp(metrics["eval_loss"]),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
