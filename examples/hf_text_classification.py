"""R-Drop with the Hugging Face Trainer: the only change from a Trainer script is the class name.

A 2-layer BERT from a small random config reads scikit-learn's digits as "sentences" (the 8x8
image pooled to 4x4: 16 tokens of intensity 0-64) and classifies them. Prints one JSON line.

    python examples/hf_text_classification.py --max-steps 100
"""

from __future__ import annotations

import argparse
import json
import tempfile

import torch
from transformers import BertConfig, BertForSequenceClassification

from torch_rdrop.integrations.hf import RDropTrainer, RDropTrainingArguments


def digits_as_sentences() -> tuple[list[dict], list[dict]]:
    """Digits images as token sequences ``[CLS] p1 ... p16`` (token = pooled intensity + 2)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.long).view(-1, 4, 2, 4, 2)
    tokens = images.sum((2, 4)).flatten(1) + 2
    ids = torch.cat([torch.ones(len(tokens), 1, dtype=torch.long), tokens], dim=1)  # 1 = [CLS]
    labels = torch.tensor(data.target)
    rows = [{"input_ids": i, "labels": y} for i, y in zip(ids, labels, strict=True)]
    return rows[:1400], rows[1400:]


def accuracy(prediction) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    options = parser.parse_args(argv)
    torch.manual_seed(0)
    train, test = digits_as_sentences()
    config = BertConfig(
        vocab_size=68,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=20,
        num_labels=10,
        hidden_dropout_prob=0.1,
    )
    model = BertForSequenceClassification(config)
    with tempfile.TemporaryDirectory() as out:
        args = RDropTrainingArguments(
            output_dir=out,
            rdrop_alpha=options.alpha,
            max_steps=options.max_steps,
            per_device_train_batch_size=options.batch_size,
            per_device_eval_batch_size=128,
            learning_rate=1e-2,
            warmup_steps=10,
            logging_steps=max(1, options.max_steps // 4),
            report_to="none",
            save_strategy="no",
            use_cpu=True,
            disable_tqdm=True,
        )
        trainer = RDropTrainer(
            model=model, args=args, train_dataset=train, compute_metrics=accuracy
        )
        trainer.train()
        metrics = trainer.evaluate(test)
    last = [log for log in trainer.state.log_history if "loss" in log][-1]
    result = {
        "task_loss": last["task_loss"],
        "consistency": last["consistency"],
        "eval_loss": metrics["eval_loss"],
        "eval_accuracy": metrics["eval_accuracy"],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
