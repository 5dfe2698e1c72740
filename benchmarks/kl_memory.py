"""Extra peak memory and time of the symmetric-KL term, forward + backward, per implementation.

Each variant runs in a fresh process: once the inputs exist the kernel's peak-RSS counter is
reset, and the growth of the peak during forward + backward is the variant's extra memory. The
floor is the two gradient tensors that any backward must return. Times are medians of repeated
forward + backward calls in the same process.

    python benchmarks/kl_memory.py   # both shapes; writes benchmarks/results/kl_memory.md
    python benchmarks/kl_memory.py --shapes 8,128,32000 --repeats 3
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

from torch_rdrop.functional import _rows_plain_kl, symmetric_kl

RESULTS = Path(__file__).resolve().parent / "results"
MIB = 1024 * 1024


def official_readme(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The R-Drop README's compute_kl_loss: two F.kl_div against softmax targets, summed."""
    p_loss = F.kl_div(F.log_softmax(p, dim=-1), F.softmax(q, dim=-1), reduction="none")
    q_loss = F.kl_div(F.log_softmax(q, dim=-1), F.softmax(p, dim=-1), reduction="none")
    return (p_loss.sum() + q_loss.sum()) / 2


def log_target(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Two F.kl_div with log_target=True (no softmax of the target materialised)."""
    lp, lq = F.log_softmax(p, dim=-1), F.log_softmax(q, dim=-1)
    return (
        F.kl_div(lp, lq, log_target=True, reduction="sum")
        + F.kl_div(lq, lp, log_target=True, reduction="sum")
    ) / 2


def plain_autograd(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """This library's formula without chunking: autograd through log_softmax."""
    return _rows_plain_kl(p, q).sum()


def library_default(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``symmetric_kl`` as a user calls it: chunked path chosen automatically."""
    return symmetric_kl(p, q, reduction="sum")


VARIANTS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "official README (two kl_div, softmax targets)": official_readme,
    "two kl_div, log_target=True": log_target,
    "torch_rdrop, plain autograd path": plain_autograd,
    "torch_rdrop.symmetric_kl (default call)": library_default,
}


def measure(variant: str, shape: tuple[int, ...], repeats: int) -> dict:
    """Run in a fresh process: extra peak memory of one fwd+bwd, then the median time."""
    torch.set_num_threads(2)
    fn = VARIANTS[variant]
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(shape, generator=gen).mul_(2).requires_grad_(True)
    q = torch.randn(shape, generator=gen).mul_(2).requires_grad_(True)
    before = reset_peak_rss()
    value = fn(p, q)
    value.backward()
    extra = peak_growth(before)
    times = []
    for _ in range(repeats):
        p.grad = q.grad = None
        start = time.perf_counter()
        fn(p, q).backward()
        times.append(time.perf_counter() - start)
    return {"extra_bytes": extra, "seconds": statistics.median(times), "value": value.item()}


def table(shape: tuple[int, ...], repeats: int) -> list[str]:
    numel = 1
    for size in shape:
        numel *= size
    floor = 2 * numel * 4
    rows = [
        f"### logits {list(shape)} fp32, forward + backward",
        "",
        f"floor (the two gradient tensors): {floor / MIB:.0f} MiB",
        "",
        "| implementation | extra peak memory | x floor | median time | value |",
        "| --- | --- | --- | --- | --- |",
    ]
    results = {}
    for variant in VARIANTS:
        results[variant] = run_child(
            __file__, variant, "--shapes", ",".join(map(str, shape)), "--repeats", str(repeats)
        )
        r = results[variant]
        rows.append(
            f"| {variant} | {r['extra_bytes'] / MIB:.0f} MiB | {r['extra_bytes'] / floor:.2f}x "
            f"| {r['seconds']:.2f} s | {r['value']:.6g} |"
        )
        print(rows[-1], flush=True)
    base = results["official README (two kl_div, softmax targets)"]
    ours = results["torch_rdrop.symmetric_kl (default call)"]
    rows += [
        "",
        f"default call vs official README: memory {ours['extra_bytes'] / base['extra_bytes']:.2f}x,"
        f" time {ours['seconds'] / base['seconds']:.2f}x",
        "",
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["8,128,32000", "4,512,50257"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS / "kl_memory.md")
    args = parser.parse_args()
    shapes = [tuple(int(s) for s in spec.split(",")) for spec in args.shapes]
    if args.child is not None:
        print(json.dumps(measure(args.child, shapes[0], args.repeats)))
        return
    lines = [
        "## Symmetric KL term: extra peak memory and time",
        "",
        f"Command: `python benchmarks/kl_memory.py --shapes {' '.join(args.shapes)} "
        f"--repeats {args.repeats}`  ",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}, Python {platform.python_version()}. Peak RSS growth per variant "
        "in a fresh process.",
        "",
    ]
    for shape in shapes:
        lines += table(shape, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
