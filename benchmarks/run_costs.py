"""Per-run cost of the evidence: wall seconds of each finished run, by study, task and method.

Reads the evidence store (trial start and end times, as the workers recorded them; two workers
shared the 2 cores, so a run's wall time includes that sharing) and writes
``benchmarks/results/run_costs.md``: the median and total wall time per (study, task, method).
These are the figures the budget of the evidence is planned from.

    python benchmarks/run_costs.py [--storage docs/results/evidence.db] [--study a,b]
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]


def run_costs(storage: str, studies: list[str]) -> list[tuple[str, str, str, int, float, float]]:
    """(study, task, method, runs, median wall seconds, total wall seconds) per group."""
    rows = []
    for study_name in studies:
        study = optuna.load_study(study_name=study_name, storage=storage)
        seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
        for trial in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,), deepcopy=False):
            point = trial.user_attrs.get("point")
            if not point or trial.datetime_start is None or trial.datetime_complete is None:
                continue
            wall = (trial.datetime_complete - trial.datetime_start).total_seconds()
            seconds[(point["task"], point["method"])].append(wall)
        for (task, method), values in sorted(seconds.items()):
            rows.append((study_name, task, method, len(values), statistics.median(values),
                         sum(values)))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=str(ROOT / "docs" / "results" / "evidence.db"))
    parser.add_argument("--study", default="")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "run_costs.md"))
    args = parser.parse_args()
    storage = f"sqlite:///{args.storage}"
    studies = [s for s in args.study.split(",") if s] or [
        s.study_name for s in optuna.get_all_study_summaries(storage)
    ]
    rows = run_costs(storage, studies)
    lines = [
        "# Per-run cost of the evidence",
        "",
        f"Command: `python benchmarks/run_costs.py --study {','.join(studies)}`. Wall seconds per "
        "finished run (trial start to end, evaluation included), two workers sharing 2 cores, "
        "one thread each.",
        "",
        "| study | task | method | runs | median s per run | total s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {s} | {t} | {m} | {n} | {med:.0f} | {tot:.0f} |" for s, t, m, n, med, tot in rows]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
