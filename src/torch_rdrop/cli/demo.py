"""``rdrop demo``: a small real comparison end to end, a grid run by ``rdrop bench``'s machinery
in several processes, then ``rdrop report``'s report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from torch_rdrop.bench.engine.axes import parse_params, parse_seeds, parse_shots
from torch_rdrop.bench.engine.grid import Grid
from torch_rdrop.bench.engine.store import StoreOptions
from torch_rdrop.cli.bench import run_bench
from torch_rdrop.cli.checks import check_data, check_grid_shots, trial_backend
from torch_rdrop.cli.common import DEFAULT_BACKEND, StorageOpt, clean_errors
from torch_rdrop.cli.report import write_study_report

__all__ = ["demo"]

#: The demo's task: MR movie-review sentiment with the pretrained MiniLM-L6 at K = 16, with its
#: budget recipe chosen on dev (at most 15 epochs: ``recipe=budget``), next to TF-IDF + logistic
#: regression fitted on the same rows. (The MLP on the digits is as fast but only level with its
#: reference at K = 16.)
DEMO_TASKS = "mr-minilm"
DEMO_METHODS = ("none", "rdrop")
#: The demo's default number of worker processes (at most one per CPU thread): two one-thread
#: MiniLM runs side by side finish sooner than the same runs one after another on two threads.
DEMO_WORKERS = 2


def demo(
    storage: StorageOpt = "rdrop-demo.db",
    out: Annotated[Path, typer.Option(help="Folder for the report.")] = Path("demo-report"),
    tasks: Annotated[str, typer.Option(help="Comma-separated task names.")] = DEMO_TASKS,
    seeds: Annotated[str, typer.Option(help="Seeds.")] = "0-1",
    shots: Annotated[int, typer.Option(help="K examples per class (and K more for dev).")] = 16,
    epochs: Annotated[
        int | None, typer.Option(help="Training epochs per run (default: each task's recipe).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes sharing the CPU threads (default: 2, or 1 on 1 thread)."
        ),
    ] = None,
) -> None:
    """A real few-shot comparison of none and rdrop, next to each task's reference model.

    Each task trains with its recipe chosen on dev, under an epoch budget where one is recorded
    (K more examples per class form the dev split; the checkpoint with the best dev score is
    scored on test). The reference model of each data set (TF-IDF + logistic regression,
    logistic regression on the pixels, ...) is fitted on the same K-shot split, and the report's
    first table says whether each model beat it. The runs share the CPU threads torch was given
    between ``workers`` processes (this one and ``rdrop bench`` helpers on the same store).
    """
    with clean_errors():
        import torch

        from torch_rdrop.bench.engine.workers import (
            finish_bench_workers,
            start_bench_workers,
            stop_bench_workers,
        )
        from torch_rdrop.bench.tasks.reference.score import reference_task

        backend = trial_backend(DEFAULT_BACKEND, ",".join(DEMO_METHODS))
        chosen = backend.parse_tasks(tasks)
        references = tuple(r for r in dict.fromkeys(map(reference_task, chosen)) if r not in chosen)
        threads = torch.get_num_threads()
        count = min(DEMO_WORKERS, threads) if workers is None else workers
        if count < 1:
            raise ValueError(f"--workers must be >= 1, got {count}")
        params = [f"threads={max(1, threads // count)}", "select=best", f"dev_shots={shots}"]
        params += ["recipe=budget"]
        params += [f"epochs={epochs}"] if epochs is not None else []
        grid = Grid(
            tasks=chosen + references,
            methods=DEMO_METHODS,
            seeds=parse_seeds(seeds),
            shots=parse_shots(str(shots)),
            params=parse_params(params),
            applies=backend.applies,
        )
        check_data(backend, grid.tasks)
        check_grid_shots(backend, grid)
        same_grid = ["--tasks", ",".join(grid.tasks), "--methods", ",".join(DEMO_METHODS),
                     "--seeds", seeds, "--shots", str(shots), "--storage", storage,
                     "--study", "demo"]  # fmt: skip
        same_grid += [arg for p in params for arg in ("--param", p)]
        helpers = start_bench_workers(same_grid, count - 1)
        try:
            run_bench(backend, grid, storage, "demo", StoreOptions())
            finish_bench_workers(helpers)
        finally:
            stop_bench_workers(helpers)
        write_study_report(storage, "demo", out)
