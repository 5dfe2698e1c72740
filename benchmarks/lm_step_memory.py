"""Extra peak memory and time of one SFT training step (forward + backward through the Trainer's
``compute_loss``) of a small Llama with a large vocabulary: plain on B, plain on 2B, R-Drop with
the logits, R-Drop with the fused head.

Each variant runs in a fresh process; the model (random init from a config), the trainer and the
batch exist before the kernel's peak-RSS counter is reset (``/proc/self/clear_refs``); the growth
of the peak (``VmHWM``) during the step is its extra memory (activations, logits, gradients).

    python benchmarks/lm_step_memory.py   # writes benchmarks/results/lm_step_memory.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from peak_rss import peak_growth, reset_peak_rss, run_child

RESULTS = Path(__file__).resolve().parent / "results"
MIB = 1024 * 1024

#: name -> (trainer, rows of the batch as multiples of B, rdrop_lm_head)
VARIANTS = {
    "plain SFT step on B": ("plain", 1, None),
    "plain SFT step on 2B": ("plain", 2, None),
    "R-Drop step, logits (rdrop_lm_head='logits')": ("rdrop", 1, "logits"),
    "R-Drop step, fused head (rdrop_lm_head='auto')": ("rdrop", 1, "auto"),
}


def measure(variant: str, shape: tuple[int, int, int, int, int]) -> dict:
    import transformers

    from torch_rdrop.integrations.hf import RDropTrainer, RDropTrainingArguments

    torch.set_num_threads(2)
    batch, length, width, layers, vocab = shape
    kind, copies, head = VARIANTS[variant]
    config = transformers.LlamaConfig(
        vocab_size=vocab,
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=length,
        attention_dropout=0.1,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).train()
    ids = torch.randint(0, vocab, (copies * batch, length))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}
    with tempfile.TemporaryDirectory() as out:
        settings = {"output_dir": out, "report_to": "none", "use_cpu": True}
        if kind == "plain":
            trainer = transformers.Trainer(
                model=model, args=transformers.TrainingArguments(**settings)
            )
        else:
            args = RDropTrainingArguments(**settings, rdrop_alpha=1.0, rdrop_lm_head=head)
            trainer = RDropTrainer(model=model, args=args)
        before = reset_peak_rss()
        start = time.perf_counter()
        loss = trainer.compute_loss(model, dict(inputs))
        loss.backward()
        seconds = time.perf_counter() - start
        extra = peak_growth(before)
    params = sum(p.numel() for p in model.parameters()) * 4
    return {"extra_bytes": extra, "param_bytes": params, "seconds": seconds, "loss": loss.item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="4,128,256,2,151936", help="B,T,hidden,layers,vocab")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS / "lm_step_memory.md")
    args = parser.parse_args()
    shape = tuple(int(s) for s in args.shape.split(","))
    if args.child is not None:
        print(json.dumps(measure(args.child, shape)))
        return
    batch, length, width, layers, vocab = shape
    lines = [
        "## One SFT training step of a small Llama with a large vocabulary",
        "",
        f"Command: `python benchmarks/lm_step_memory.py --shape {args.shape}`  ",
        f"Machine: {platform.machine()}, 2 threads, torch {torch.__version__}. Llama config: "
        f"{layers} layers, hidden {width}, vocabulary {vocab:,}, untied head; batch B = {batch} "
        f"x {length} tokens, fp32. Forward + backward through the Trainer's compute_loss; peak "
        "RSS growth in a fresh process per variant.",
        "",
        "| step | extra peak memory | x plain on B | time |",
        "| --- | --- | --- | --- |",
    ]
    results = {}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    for variant in VARIANTS:
        results[variant] = r = run_child(__file__, variant, "--shape", args.shape, env=env)
        base = results["plain SFT step on B"]["extra_bytes"]
        lines.append(
            f"| {variant} | {r['extra_bytes'] / MIB:,.0f} MiB | {r['extra_bytes'] / base:.2f}x "
            f"| {r['seconds']:.2f} s |"
        )
        print(lines[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join([*lines, ""]))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
