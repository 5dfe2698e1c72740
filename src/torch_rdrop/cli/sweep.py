"""``rdrop sweep``: tune one method on one task with TPE, then print the best trials."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from torch_rdrop.bench.engine.axes import UNSET, parse_params, parse_seeds, parse_shots
from torch_rdrop.bench.engine.store import StoreOptions, open_storage, storage_url
from torch_rdrop.cli.checks import check_data, check_shots, known_methods, trial_backend
from torch_rdrop.cli.common import (
    DEFAULT_BACKEND,
    BackendOpt,
    CommandError,
    GraceOpt,
    HeartbeatOpt,
    ParamOpt,
    StorageOpt,
    clean_errors,
    command_line,
    console,
)

__all__ = ["sweep"]


def sweep(
    ctx: typer.Context,
    task: Annotated[
        str, typer.Option(help="The task to tune on (a name, DATASET-FAMILY or a task file).")
    ] = "digits-mlp",
    method: Annotated[str, typer.Option(help="The method to tune.")] = "rdrop",
    seeds: Annotated[str, typer.Option(help="Seeds each trial trains on.")] = "0-2",
    shots: Annotated[str, typer.Option(help="K per class (one value).")] = "16",
    trials: Annotated[int, typer.Option(help="Finished trials the study should hold.")] = 20,
    param: ParamOpt = None,
    storage: StorageOpt = "rdrop-sweep.db",
    study: Annotated[
        str | None, typer.Option(help="Study name [default: sweep-TASK-METHOD].")
    ] = None,
    backend: BackendOpt = DEFAULT_BACKEND,
    heartbeat_interval: HeartbeatOpt = 10,
    grace_period: GraceOpt = 30,
) -> None:
    """Tune a method's main hyper-parameters (TPE, median pruning on the per-epoch dev metric)."""
    from torch_rdrop.bench.engine.store import store_errors
    from torch_rdrop.bench.engine.sweep import SweepSummary, run_sweep

    with clean_errors():
        chosen = trial_backend(backend, method)
        names = chosen.parse_tasks(task)
        if len(names) != 1:
            raise CommandError(f"task: a sweep tunes on one task, got {task!r}")
        task_name = names[0]
        k = parse_shots(shots)
        if len(k) != 1:
            raise CommandError(f"shots: a sweep takes one K, got {shots!r}")
        fixed: dict[str, Any] = {}
        for setting in parse_params(param or [], methods=known_methods(chosen)):
            if len(setting.values) != 1 or setting.method not in (None, method):
                raise CommandError(
                    f"param: a sweep takes fixed NAME=VALUE for {method}, got {setting}"
                )
            if setting.values[0] == UNSET:
                raise CommandError(
                    f"param: a sweep searches every setting it is not given; leave "
                    f"{setting.name} out instead of setting it to {UNSET!r}"
                )
            fixed[setting.name] = setting.values[0]
        name = study or f"sweep-{task_name}-{method}"
        check_data(chosen, (task_name,))
        check_shots(chosen, (task_name,), k, fixed, use_dev=True)
        url = storage_url(storage)
        options = StoreOptions(heartbeat_interval=heartbeat_interval, grace_period=grace_period)

        def on_trial(summary: SweepSummary) -> None:
            best = "–" if summary.best_value is None else f"{summary.best_value:.4f}"
            console.print(
                f"trials: {summary.complete} complete, {summary.pruned} pruned; best dev {best}"
            )

        with store_errors(url):
            summary = run_sweep(
                open_storage(url, options),
                name,
                chosen,
                task=task_name,
                method=method,
                shots=k[0],
                seeds=parse_seeds(seeds),
                n_trials=trials,
                fixed=fixed,
                on_trial=on_trial,
                command=command_line(ctx),
            )
        table = Table(title=f"sweep {name!r}: best trials (mean dev metric)", title_justify="left")
        for column in ("trial", "value", "params"):
            table.add_column(column)
        for number, value, params in summary.top:
            shown = " ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
            )
            table.add_row(str(number), f"{value:.4f}", shown)
        console.print(table)
        if summary.best_params:
            flags = " ".join(f"-p {method}.{k}={v:.4g}" for k, v in summary.best_params.items())
            console.print(f"benchmark the best: rdrop bench --methods none,{method} {flags}")
