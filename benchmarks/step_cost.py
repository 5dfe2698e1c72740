"""Training-step cost of R-Drop against the plain step, per layout, on three model families.

A step is forward + backward + AdamW update. Variants are timed in interleaved rounds in one
process (medians; ratios to the plain step are what to read on a noisy machine). Extra peak
memory of one step is measured per variant in a fresh process (peak RSS reset after warm-up).

    python benchmarks/step_cost.py                  # writes benchmarks/results/step_cost.md
    python benchmarks/step_cost.py --models cnn --rounds 5
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from peak_rss import peak_growth, reset_peak_rss, run_child
from torch import nn

from torch_rdrop import RDrop

RESULTS = Path(__file__).resolve().parent / "results"
MIB = 1024 * 1024


@dataclass
class Workload:
    """A model, one batch and where its top third starts (for the cheap mode)."""

    model: nn.Module
    inputs: dict
    target: torch.Tensor
    top_third: str
    description: str


def minilm_sized_bert() -> Workload:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
        intermediate_size=1536, max_position_embeddings=512, num_labels=2,
    )  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 30000, (8, 64), generator=gen)
    return Workload(
        BertForSequenceClassification(config),
        {"input_ids": ids, "attention_mask": torch.ones_like(ids)},
        torch.randint(0, 2, (8,), generator=gen),
        "bert.encoder.layer.4",
        "BERT encoder, MiniLM-L6 sized (6 x 384, 22.7 M params), batch 8 x 64 tokens",
    )


class ImageCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, 10)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))


def image_cnn() -> Workload:
    gen = torch.Generator().manual_seed(0)
    return Workload(
        ImageCNN(),
        {"images": torch.randn(64, 1, 28, 28, generator=gen)},
        torch.randint(0, 10, (64,), generator=gen),
        "classifier",
        "CNN on 28 x 28 images (2 conv + MLP head, 0.8 M params), batch 64",
    )


class LSTMTagger(nn.Module):
    def __init__(self, vocab: int = 5000, tags: int = 45) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 100)
        self.drop = nn.Dropout(0.3)
        self.lstm = nn.LSTM(100, 128, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(256, 128), nn.ReLU(),
                                  nn.Dropout(0.3), nn.Linear(128, tags))  # fmt: skip

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(self.drop(self.embed(tokens)))
        return self.head(hidden)


def lstm_tagger() -> Workload:
    gen = torch.Generator().manual_seed(0)
    return Workload(
        LSTMTagger(),
        {"tokens": torch.randint(0, 5000, (32, 40), generator=gen)},
        torch.randint(0, 45, (32, 40), generator=gen),
        "head",
        "2-layer BiLSTM tagger (vocab 5,000, 45 tags), batch 32 x 40 tokens",
    )


MODELS: dict[str, Callable[[], Workload]] = {
    "bert": minilm_sized_bert,
    "cnn": image_cnn,
    "lstm": lstm_tagger,
}


def logits_of(output) -> torch.Tensor:
    return output if isinstance(output, torch.Tensor) else output.logits


def seed_snippet_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    p_loss = F.kl_div(F.log_softmax(p, dim=-1), F.softmax(q, dim=-1), reduction="none")
    q_loss = F.kl_div(F.log_softmax(q, dim=-1), F.softmax(p, dim=-1), reduction="none")
    return (p_loss.sum() + q_loss.sum()) / 2


def make_step(variant: str, work: Workload) -> Callable[[], None]:
    """One training step of ``variant`` on ``work`` (forward, backward, optimizer update)."""
    model, inputs, target = work.model, work.inputs, work.target
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def ce(logits: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))

    if variant == "plain":

        def loss_fn() -> torch.Tensor:
            return ce(logits_of(model(**inputs)))
    elif variant == "plain, doubled batch (compute floor)":
        doubled = {k: torch.cat([v, v]) for k, v in inputs.items()}
        doubled_target = torch.cat([target, target])

        def loss_fn() -> torch.Tensor:
            logits = logits_of(model(**doubled))
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), doubled_target.reshape(-1))
    elif variant == "seed snippet (two forwards, two kl_div)":

        def loss_fn() -> torch.Tensor:
            first, second = logits_of(model(**inputs)), logits_of(model(**inputs))
            return 0.5 * (ce(first) + ce(second)) + seed_snippet_kl(first, second)
    elif variant.startswith("rdrop"):
        layout = variant.split()[1]
        options = {"duplicate_from": work.top_third} if "top third" in variant else {}
        wrapped = RDrop(model, alpha=1.0, layout=layout if layout != "cheap" else "concat",
                        logits_fn=logits_of, **options)  # fmt: skip

        def loss_fn() -> torch.Tensor:
            return wrapped(**inputs, target=target).loss
    elif variant == "eval: bare model":

        def loss_fn() -> None:
            with torch.no_grad():
                model.eval()(**inputs)
    elif variant == "eval: RDrop wrapper":
        wrapped_eval = RDrop(model)

        def loss_fn() -> None:
            with torch.no_grad():
                wrapped_eval.eval()(**inputs)
    else:
        raise ValueError(f"unknown variant {variant!r}")

    def step() -> None:
        loss = loss_fn()
        if loss is None:
            return
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


VARIANTS = [
    "plain",
    "plain, doubled batch (compute floor)",
    "rdrop concat",
    "rdrop interleave",
    "rdrop sequential",
    "seed snippet (two forwards, two kl_div)",
    "rdrop cheap (top third)",
    "eval: bare model",
    "eval: RDrop wrapper",
]


def child_memory(model_name: str, variant: str) -> dict:
    torch.manual_seed(0)
    step = make_step(variant, MODELS[model_name]())
    step()  # optimizer state and allocator warm-up
    before = reset_peak_rss()
    step()
    return {"extra_bytes": peak_growth(before)}


def time_variants(model_name: str, rounds: int) -> dict[str, list[float]]:
    torch.manual_seed(0)
    work = MODELS[model_name]()
    steps = {v: make_step(v, work) for v in VARIANTS}
    for step in steps.values():
        step()
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        for variant, step in steps.items():
            start = time.perf_counter()
            step()
            times[variant].append(time.perf_counter() - start)
    return times


PAIRED = ["rdrop concat", "seed snippet (two forwards, two kl_div)", "rdrop cheap (top third)"]


def paired_ratios(model_name: str, rounds: int) -> dict[str, float]:
    """Each variant timed in alternation with the plain step only, as a two-variant contest.

    The round-robin over every variant above changes the plain step's own time by up to about
    20 % on these machines (cache and allocator state left by the other variants), so the ratio
    of a variant against plain is also measured with nothing else in between.
    """
    ratios = {}
    for variant in PAIRED:
        torch.manual_seed(0)
        work = MODELS[model_name]()
        pair = (make_step("plain", work), make_step(variant, work))
        for step in pair:
            step()
            step()
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(rounds):
            for step, bucket in zip(pair, times, strict=True):
                start = time.perf_counter()
                step()
                bucket.append(time.perf_counter() - start)
        ratios[variant] = statistics.median(times[1]) / statistics.median(times[0])
    return ratios


def compile_speedup(model_name: str, rounds: int) -> dict[str, tuple[float, float]]:
    """Median step times eager vs ``torch.compile(model)``, for the plain step and R-Drop concat."""
    torch.manual_seed(0)
    work = MODELS[model_name]()
    compiled_work = Workload(torch.compile(work.model), work.inputs, work.target,
                             work.top_third, work.description)  # fmt: skip
    pairs = {
        variant: (make_step(variant, work), make_step(variant, compiled_work))
        for variant in ("plain", "rdrop concat")
    }
    for eager, compiled in pairs.values():
        for _ in range(3):
            eager()
            compiled()
    medians = {}
    for variant, steps in pairs.items():
        buckets: tuple[list[float], list[float]] = ([], [])
        for _ in range(rounds):
            for step, bucket in zip(steps, buckets, strict=True):
                start = time.perf_counter()
                step()
                bucket.append(time.perf_counter() - start)
        medians[variant] = (statistics.median(buckets[0]), statistics.median(buckets[1]))
    return medians


def report(model_name: str, rounds: int, with_compile: bool) -> list[str]:
    work = MODELS[model_name]()
    samples = time_variants(model_name, rounds)
    times = {v: statistics.median(t) for v, t in samples.items()}
    fastest = {v: min(t) for v, t in samples.items()}
    lines = [f"### {work.description}", "",
             "| variant | median step | x plain step | x plain (fastest steps) "
             "| extra peak memory of a step |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for variant in VARIANTS:
        memory = run_child(__file__, model_name, variant)["extra_bytes"] / MIB
        base = "eval: bare model" if variant.startswith("eval") else "plain"
        lines.append(f"| {variant} | {times[variant] * 1000:.1f} ms | "
                     f"{times[variant] / times[base]:.2f}x | "
                     f"{fastest[variant] / fastest[base]:.2f}x | {memory:.0f} MiB |")  # fmt: skip
        print(lines[-1], flush=True)
    paired = paired_ratios(model_name, rounds)
    lines += [
        "",
        "Timed in alternation with the plain step only (median ratio): "
        + ", ".join(f"{variant} {ratio:.2f}x" for variant, ratio in paired.items())
        + ".",
    ]
    print(lines[-1], flush=True)
    floor = times["plain, doubled batch (compute floor)"]
    lines += [
        "",
        f"R-Drop concat / compute floor (plain step on the doubled batch): "
        f"{times['rdrop concat'] / floor:.2f}x; seed snippet / concat: "
        f"{times['seed snippet (two forwards, two kl_div)'] / times['rdrop concat']:.2f}x.",
        "Eval rows are relative to the bare model's eval forward.",
    ]
    if with_compile:
        for variant, (eager, compiled) in compile_speedup(model_name, rounds).items():
            lines.append(
                f"torch.compile, {variant}: {eager * 1000:.1f} ms eager, {compiled * 1000:.1f} ms "
                f"with torch.compile(model): speed-up {eager / compiled:.2f}x.  "
            )
            print(lines[-1], flush=True)
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--compile",
        nargs="*",
        default=["cnn"],
        choices=list(MODELS),
        help="models for which the torch.compile speed-up is measured",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "step_cost.md")
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.child is not None:
        print(json.dumps(child_memory(*args.child)))
        return
    lines = [
        "## Training-step cost: R-Drop layouts, the seed snippet and the cheap mode",
        "",
        f"Command: `python benchmarks/step_cost.py --models {' '.join(args.models)} "
        f"--rounds {args.rounds} --compile {' '.join(args.compile)}`  ",
        f"Machine: {platform.machine()}, 2 threads, torch {torch.__version__}. Medians over "
        f"{args.rounds} interleaved rounds (and the ratio of the fastest steps, which is less "
        "sensitive to other load); memory per variant in a fresh process. A step includes the "
        "AdamW update, a fixed cost that does not grow with the batch.",
        "",
    ]
    for name in args.models:
        lines += report(name, args.rounds, name in args.compile)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
