"""How far apart (batch 2B, accumulation 1) and (batch B, accumulation 2) leave the LoRA weights,
for plain SFTTrainer and RDropSFTTrainer, with SFTConfig's default bf16 autocast and in fp32.

Two updates of plain SGD (lr 0.5, no clipping) on a 2-layer Llama with a LoRA adapter on q/v,
the configuration of tests/invariants/test_trl_gradient_accumulation.py (its models, tokenizer,
texts and hashed LoRA dropout are reused from tests/integrations). Prints a table and writes it.

    python benchmarks/trl_accumulation.py      # -> benchmarks/results/trl_accumulation.md
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "invariants")]
RESULTS = ROOT / "benchmarks" / "results"

CASES = [
    # name, trainer, examples, equal lengths, hashed LoRA dropout (random B) or all dropout 0
    ("plain SFT, equal lengths, no dropout", "plain", 8, 6, False),
    ("plain SFT, uneven lengths, no dropout", "plain", 16, None, False),
    ("R-Drop SFT, uneven lengths, no dropout", "rdrop", 16, None, False),
    ("R-Drop SFT, uneven lengths, LoRA dropout 0.3", "rdrop", 16, None, True),
]


def main() -> str:
    import datasets
    from test_trl_gradient_accumulation import train
    from trl import SFTTrainer

    from integrations.tiny_lm import text_dataset
    from torch_rdrop.integrations.trl import RDropSFTTrainer

    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore")
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for name, kind, n, length, hashed in CASES:
            trainer_cls = RDropSFTTrainer if kind == "rdrop" else SFTTrainer
            data = text_dataset(n, length=length)
            for bf16 in (True, False):
                run = {"hashed": hashed, "bf16": bf16}
                start, whole, _ = train(Path(out), trainer_cls, n // 2, 1, data, **run)
                _, split, _ = train(Path(out), trainer_cls, n // 4, 2, data, **run)
                gap = (split - whole).abs().max().item()
                update = (whole - start).abs().max().item()
                precision = "bf16 autocast (SFTConfig default)" if bf16 else "fp32 (bf16=False)"
                rows.append(f"| {name} | {precision} | {gap:.2e} | {update:.2e} |")
    table = "\n".join(
        [
            "| trainer and data | precision | max weight gap between splits | max update |",
            "| --- | --- | --- | --- |",
            *rows,
        ]
    )
    report = (
        "# LoRA weights after 2 updates: (batch 2B, GA 1) against (batch B, GA 2)\n\n"
        "    python benchmarks/trl_accumulation.py\n\n" + table + "\n"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "trl_accumulation.md").write_text(report)
    print(table)
    return table


if __name__ == "__main__":
    main()
