"""The reference models on every built-in task: K = 16 (seeds 0-4) and the whole training split.

Each task's reference model (``torch_rdrop.bench.tasks.reference``) is fitted on the harness's own
training rows -- ``few_shot(data, K, seed, rare=task.rare).train``, the rows a trial trains on
-- and scored on the fixed test split with the task's metric, as the trial function scores a
network. Tasks that share a data set and a metric share the computation. The ``none`` column is
the mean of the ``none`` runs at K = 16 in ``docs/results/runs.csv`` (the short recipes of the
first evidence), for comparison.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/reference_models.py   # prints and writes
    PYTHONPATH=src python benchmarks/reference_models.py --tasks digits-mlp,mr-cnn --no-write
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from torch_rdrop.bench.tasks import get_task, task_names
from torch_rdrop.bench.tasks.data.sources import SourceMissingError
from torch_rdrop.bench.tasks.fewshot import few_shot
from torch_rdrop.bench.tasks.reference import reference_model, reference_result

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "reference_models.md"
RUNS = ROOT / "docs" / "results" / "runs.csv"
COMMAND = "OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/reference_models.py"


def _none_at_16() -> dict[str, list[float]]:
    values: dict[str, list[float]] = defaultdict(list)
    if RUNS.exists():
        with RUNS.open() as handle:
            for row in csv.DictReader(handle):
                if (
                    row["method"] == "none"
                    and row["shots"] == "16"
                    and row["study"].startswith("main")
                ):
                    values[row["task"]].append(float(row["value"]))
    return values


def _fmt(value: float, metric: str) -> str:
    return f"{value:,.1f}" if metric == "perplexity" else f"{value:.3f}"


def measure(names: tuple[str, ...], seeds: range, shots: int) -> list[dict[str, str]]:
    """One row per task: the reference model at ``shots`` over ``seeds`` and on full data."""
    done: dict[tuple, dict[str, str]] = {}
    none = _none_at_16()
    rows = []
    for name in names:
        task = get_task(name)
        model = reference_model(task)
        try:
            data = task.load()
        except SourceMissingError as error:
            rows.append({"task": name, "reference": model.name, "metric": task.metric,
                         f"K = {shots}": f"not installed: {error}"})  # fmt: skip
            continue
        key = (data.name, model.name, task.metric, task.rare)
        if key not in done:
            start = time.perf_counter()
            few = [
                reference_result(task, data, few_shot(data, shots, s, rare=task.rare).train,
                                 data.test, s).value
                for s in seeds
            ]  # fmt: skip
            full = reference_result(task, data, few_shot(data, None, 0).train, data.test, 0)
            chosen = ", ".join(f"{k} = {v}" for k, v in full.chosen.items()) or "-"
            done[key] = {
                f"K = {shots}": f"{_fmt(float(np.mean(few)), task.metric)} ± "
                f"{_fmt(float(np.std(few)), task.metric)}",
                "full training split": _fmt(full.value, task.metric),
                "chosen on full": chosen,
                "seconds (wall)": f"{time.perf_counter() - start:.0f}",
            }
            print(f"{name}: {done[key]}", flush=True)
        ran = none.get(name, [])
        rows.append({
            "task": name,
            "reference": model.name,
            "metric": task.metric,
            **done[key],
            "none at K = 16 (runs.csv)": _fmt(float(np.mean(ran)), task.metric) if ran else "-",
        })  # fmt: skip
    return rows


def markdown(rows: list[dict[str, str]]) -> str:
    """A markdown table of ``rows`` (columns of the first full row)."""
    columns = max((list(r) for r in rows), key=len)
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(r.get(c, "") for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(task_names()))
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. n-1 at K")
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = measure(tuple(args.tasks.split(",")), range(args.seeds), args.shots)
    table = markdown(rows)
    print(table)
    minutes = (time.perf_counter() - start) / 60
    if not args.no_write:
        models = {reference_model(r["task"]) for r in rows}
        described = "\n".join(f"- `{m.name}`: {m.description}" for m in sorted(
            models, key=lambda m: m.name))  # fmt: skip
        OUT.write_text(
            "# Reference models on the harness's own splits\n\n"
            f"Command: `{COMMAND}` ({minutes:.0f} min wall time; mean ± std over seeds "
            f"0-{args.seeds - 1} at K = {args.shots}, test split fixed; the full training split "
            "is seed 0). The `none` column is the first evidence's short-recipe runs.\n\n"
            f"{described}\n\n{table}\n"
        )
        print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
