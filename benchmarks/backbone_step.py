"""Cost of pretraining the pd-charlm backbone: one training step at the default recipe.

The step is the one ``rdrop backbone build pd-charlm`` runs (through the benchmark's trial): the
``pd-lm-gpt2`` task's character encoder and tiny GPT-2, a batch of 32 People's Daily training
lines, forward + backward + AdamW update with the method ``none``, on 1 CPU thread. Steps are
timed after a warm-up (median and mean over random batches); an epoch's cost is the mean times
the steps of one epoch. With ``--methods none,rdrop`` the same batches also train a copy of the
model with each other method, the methods taking turns step by step, and the table gives each
method's step against ``none``'s (the cost of a full-data study of that language model). With
``--precisions fp32,bf16`` each method also trains a copy under each trial precision (``bf16``:
the forward pass and loss under bfloat16 autocast, :mod:`torch_rdrop.bench.tasks.precision`),
and every step is compared to ``none`` in the first precision. The script also reports the
model's size and how much of the fine-tuning data's text the pretraining vocabulary covers.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/backbone_step.py --methods none,rdrop \
        --precisions fp32,bf16

writes benchmarks/results/backbone_step.md.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from torch_rdrop.bench.tasks import get_method, get_task
from torch_rdrop.bench.tasks.backbone import get_backbone
from torch_rdrop.bench.tasks.fewshot import few_shot
from torch_rdrop.bench.tasks.precision import check_precision, training_precision
from torch_rdrop.bench.tasks.text import char_tokens

RESULTS = Path(__file__).resolve().parent / "results"


def time_steps(
    name: str,
    steps: int,
    warmup: int,
    threads: int,
    methods: tuple[str, ...] = ("none",),
    precisions: tuple[str, ...] = ("fp32",),
) -> dict[tuple[str, str], dict[str, float]]:
    """Per (method, precision): seconds per training step of the backbone's pretraining, and the
    epoch it adds up to. The pairs take turns on the same batches, each training its own copy of
    the model from the same initial weights."""
    backbone = get_backbone(name)
    recipe = backbone.recipe
    task = get_task(backbone.lm_task)
    data = task.load()
    encoder = task.make_encoder(data)
    split = few_shot(data, None, recipe.seed, dev_shots=recipe.dev_lines)
    torch.set_num_threads(threads)
    trained = {}
    for method in methods:
        for precision in precisions:
            torch.manual_seed(recipe.seed)
            model = task.make_model(data, encoder, recipe.dropout)
            model.train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.01)
            trained[method, precision] = (model, get_method(method).regularizer(), optimizer)
    rng = np.random.default_rng(0)
    seconds: dict[tuple[str, str], list[float]] = {pair: [] for pair in trained}
    for step in range(warmup + steps):
        rows = rng.choice(split.train, size=recipe.batch_size, replace=False)
        for (method, precision), (model, regularizer, optimizer) in trained.items():
            start = time.perf_counter()
            batch = encoder.batch(data, rows)
            labels = batch.pop("labels")
            with training_precision(model, precision):
                loss = regularizer.training_loss(model, batch, labels).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step >= warmup:
                seconds[method, precision].append(time.perf_counter() - start)
    per_epoch = math.ceil(len(split.train) / recipe.batch_size)
    costs = {}
    for pair, values in seconds.items():
        mean = statistics.fmean(values)
        costs[pair] = {
            "median": statistics.median(values),
            "mean": mean,
            "steps_per_epoch": per_epoch,
            "epoch_minutes": per_epoch * mean / 60,
            "epochs": recipe.epochs,
            "train_lines": len(split.train),
            "dev_lines": len(split.dev),
            "test_lines": len(split.test),
            "vocab": len(encoder.vocab),
            "parameters": sum(p.numel() for p in trained[pair][0].parameters()),
        }
    return costs


def coverage(name: str) -> list[tuple[str, float, int]]:
    """Per fine-tuning data set: the share of its characters outside the pretraining vocabulary
    (read as ``<unk>``), and its character count."""
    backbone = get_backbone(name)
    task = get_task(backbone.lm_task)
    lm = task.load()
    vocab = task.make_encoder(lm).vocab
    rows = []
    for dataset in backbone.datasets:
        data = get_task(f"{dataset}-{name}").load()
        chars = [c for text in data.inputs for c in char_tokens(str(text))]
        unknown = sum(vocab.id(c) == vocab.UNK for c in chars)
        rows.append((dataset, unknown / max(len(chars), 1), len(chars)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="pd-charlm")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", default="none", help="comma-separated, none first")
    parser.add_argument(
        "--precisions", default="fp32", help="comma-separated trial precisions (fp32, bf16)"
    )
    args = parser.parse_args()
    methods = tuple(args.methods.split(","))
    if methods[0] != "none":
        parser.error(f"--methods must start with none (the step the others are compared to), "
                     f"got {args.methods!r}")  # fmt: skip
    precisions = tuple(args.precisions.split(","))
    for precision in precisions:
        try:
            check_precision(precision)
        except ValueError as error:
            parser.error(f"--precisions: {error}")
    costs = time_steps(args.backbone, args.steps, args.warmup, args.threads, methods, precisions)
    cost = costs["none", precisions[0]]
    recipe = get_backbone(args.backbone).recipe
    lines = [
        f"# Training-step cost of the {args.backbone} backbone's language model",
        "",
        f"Command: `OMP_NUM_THREADS={args.threads} PYTHONPATH=src python "
        f"benchmarks/backbone_step.py --steps {args.steps} --threads {args.threads} "
        f"--methods {args.methods} --precisions {args.precisions}`  ",
        f"Machine: {platform.machine()}, {args.threads} thread(s), torch {torch.__version__}, "
        f"Python {platform.python_version()}; {args.steps} timed steps after {args.warmup} "
        "warm-up steps, on a machine shared with other runs.",
        "",
        "| model | method | precision | parameters | vocabulary | batch | median step "
        f"| mean step | x none {precisions[0]} (median) | steps per epoch | minutes per epoch "
        "| default epochs |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    model_name = get_task(get_backbone(args.backbone).lm_task).model_name
    for (method, precision), c in costs.items():
        lines.append(
            f"| {model_name} | {method} | {precision} | {c['parameters']:,} | {c['vocab']:,} | "
            f"{recipe.batch_size} | {c['median']:.3f} s | {c['mean']:.3f} s | "
            f"{c['median'] / cost['median']:.2f}x | {c['steps_per_epoch']:,} "
            f"({c['train_lines']:,} lines) | {c['epoch_minutes']:.1f} | {c['epochs']} |"
        )
    lines += [
        "",
        f"Lines: {cost['train_lines']:,} train, {cost['dev_lines']:,} dev (held out of the "
        f"training split), {cost['test_lines']:,} test.",
        "",
        "| fine-tuning data set | characters | outside the vocabulary (<unk>) |",
        "| --- | --- | --- |",
    ]
    for dataset, share, count in coverage(args.backbone):
        lines.append(f"| {dataset} | {count:,} | {share:.2%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "backbone_step.md"
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
