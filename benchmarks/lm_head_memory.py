"""Extra peak memory and time of an LM head's loss, forward + backward, per implementation.

The head's input (``hidden``, ``[tokens, H]`` per pass) and its weight ``[V, H]`` both require a
gradient, as in full fine-tuning. Each variant runs in a fresh process: once the inputs exist the
kernel's peak-RSS counter is reset (``/proc/self/clear_refs``), and the growth of the peak
(``VmHWM`` in ``/proc/self/status``) during forward + backward is the variant's extra memory.
The unavoidable part is the gradients themselves: the weight's and the hidden states' of the
passes. Times are medians of repeated forward + backward calls in the same process.

    python benchmarks/lm_head_memory.py   # both shapes; writes benchmarks/results/lm_head_memory.md
    python benchmarks/lm_head_memory.py --shapes 512,896,151936 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from peak_rss import peak_growth, reset_peak_rss, run_child

from torch_rdrop.functional import rdrop_loss
from torch_rdrop.lm_head import fused_rdrop_lm_loss

RESULTS = Path(__file__).resolve().parent / "results"
MIB = 1024 * 1024
ALPHA = 1.0

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def plain_ce(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Plain SFT: the logits of one batch and their cross-entropy."""
    return F.cross_entropy(hidden @ weight.t(), labels.repeat(hidden.shape[0] // len(labels)))


def official_snippet(hidden, weight, labels) -> torch.Tensor:
    """The R-Drop README: cross-entropy of both passes, two F.kl_div against softmax targets."""
    p, q = (hidden @ weight.t()).chunk(2)
    ce = 0.5 * (F.cross_entropy(p, labels) + F.cross_entropy(q, labels))
    p_loss = F.kl_div(F.log_softmax(p, dim=-1), F.softmax(q, dim=-1), reduction="none")
    q_loss = F.kl_div(F.log_softmax(q, dim=-1), F.softmax(p, dim=-1), reduction="none")
    return ce + ALPHA * (p_loss.sum() + q_loss.sum()) / 2


def library_logits(hidden, weight, labels) -> torch.Tensor:
    """This library on materialised logits: rdrop_loss (cross-entropy + chunked symmetric_kl)."""
    return rdrop_loss(list((hidden @ weight.t()).chunk(2)), labels, ALPHA).loss


def fused_head(hidden, weight, labels) -> torch.Tensor:
    """This library's fused head: no logits beyond one chunk of tokens."""
    return fused_rdrop_lm_loss(hidden, weight, labels, alpha=ALPHA).loss


#: name -> (loss, passes stacked in ``hidden``)
VARIANTS: dict[str, tuple[Loss, int]] = {
    "plain cross-entropy on B (plain SFT)": (plain_ce, 1),
    "plain cross-entropy on 2B": (plain_ce, 2),
    "R-Drop, official snippet (two F.kl_div)": (official_snippet, 2),
    "R-Drop, torch_rdrop symmetric_kl on logits": (library_logits, 2),
    "R-Drop, torch_rdrop fused head": (fused_head, 2),
}


def measure(variant: str, shape: tuple[int, int, int], repeats: int) -> dict:
    """Run in a fresh process: extra peak memory of one forward + backward, then the time."""
    torch.set_num_threads(2)
    tokens, width, vocab = shape
    fn, passes = VARIANTS[variant]
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(passes * tokens, width, generator=gen).requires_grad_(True)
    weight = (torch.randn(vocab, width, generator=gen) * width**-0.5).requires_grad_(True)
    labels = torch.randint(0, vocab, (tokens,), generator=gen)
    before = reset_peak_rss()
    start = time.perf_counter()
    value = fn(hidden, weight, labels)
    value.backward()
    first = time.perf_counter() - start
    extra = peak_growth(before)
    times = [first]
    for _ in range(repeats - 1):
        hidden.grad = weight.grad = None
        start = time.perf_counter()
        fn(hidden, weight, labels).backward()
        times.append(time.perf_counter() - start)
    grads = (hidden.numel() + weight.numel()) * 4
    return {
        "extra_bytes": extra,
        "grad_bytes": grads,
        "seconds": statistics.median(times),
        "value": value.item(),
    }


def table(shape: tuple[int, int, int], repeats: int) -> list[str]:
    tokens, width, vocab = shape
    rdrop_floor = (2 * tokens * width + vocab * width) * 4
    rows = [
        f"### {tokens} tokens per pass, hidden {width}, vocabulary {vocab:,}, fp32",
        "",
        f"unavoidable for R-Drop (gradients of the weight and of both passes' hidden states): "
        f"{rdrop_floor / MIB:.0f} MiB",
        "",
        "| head | extra peak memory | x its gradients | median time | loss |",
        "| --- | --- | --- | --- | --- |",
    ]
    results = {}
    for variant in VARIANTS:
        results[variant] = r = run_child(
            __file__, variant, "--shapes", ",".join(map(str, shape)), "--repeats", str(repeats)
        )
        rows.append(
            f"| {variant} | {r['extra_bytes'] / MIB:,.0f} MiB "
            f"| {r['extra_bytes'] / r['grad_bytes']:.2f}x | {r['seconds']:.2f} s "
            f"| {r['value']:.6g} |"
        )
        print(rows[-1], flush=True)
    fused = results["R-Drop, torch_rdrop fused head"]
    logits = results["R-Drop, torch_rdrop symmetric_kl on logits"]
    plain = results["plain cross-entropy on B (plain SFT)"]

    def ratio(key: str, other: dict) -> str:
        return f"{fused[key] / other[key]:.2f}x"

    rows += [
        "",
        f"fused head: extra peak {fused['extra_bytes'] / rdrop_floor:.2f}x the unavoidable "
        f"gradients; vs symmetric_kl on logits: memory {ratio('extra_bytes', logits)}, time "
        f"{ratio('seconds', logits)}; vs plain SFT on B: memory {ratio('extra_bytes', plain)}, "
        f"time {ratio('seconds', plain)}",
        "",
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["512,896,151936", "512,2048,128256"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS / "lm_head_memory.md")
    args = parser.parse_args()
    shapes = [tuple(int(s) for s in spec.split(",")) for spec in args.shapes]
    if args.child is not None:
        print(json.dumps(measure(args.child, shapes[0], args.repeats)))
        return
    lines = [
        "## LM head loss: extra peak memory and time",
        "",
        f"Command: `python benchmarks/lm_head_memory.py --shapes {' '.join(args.shapes)} "
        f"--repeats {args.repeats}`  ",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}, Python {platform.python_version()}. Peak RSS growth (VmHWM after "
        "a reset through /proc/self/clear_refs) per variant in a fresh process; 'x its "
        "gradients' divides by the gradients of that variant's weight and hidden states.",
        "",
    ]
    for shape in shapes:
        lines += table(shape, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
