"""``rdrop tasks``: what is registered (data sets, model families, tasks, methods, metrics), or
chosen tasks with their recipe."""

from __future__ import annotations

from typing import Annotated

import typer

from torch_rdrop.bench.engine.spec import load_backend
from torch_rdrop.cli.common import DEFAULT_BACKEND, clean_errors, console, rows_table

__all__ = ["tasks"]


def tasks(
    load: Annotated[bool, typer.Option(help="Read each data set for its size and classes.")] = True,
    tasks: Annotated[
        str | None,
        typer.Option(
            help="Show only these tasks (names, DATASET-FAMILY or task files), with their recipe."
        ),
    ] = None,
) -> None:
    """List what is registered: data sets, model families, tasks, methods and metrics."""
    with clean_errors():
        from torch_rdrop.bench.tasks import DATASETS, FAMILIES, METHODS, METRICS, task_rows

        if tasks is not None:
            _show_tasks(load_backend(DEFAULT_BACKEND).parse_tasks(tasks), load)
            return
        datasets = [
            {"name": d.name, "kind": d.kind, "language": d.language, "metric": d.metric,
             "source": d.source.package if d.source else "-", "area": d.area}
            for d in DATASETS.values()
        ]  # fmt: skip
        console.print(rows_table("data sets", datasets, ("name", "kind", "language", "metric",
                                                     "source", "area")))  # fmt: skip
        families = [
            {"name": f.name, "model": f.description, "kinds": ", ".join(f.kinds),
             "reads": f.inputs + ("" if f.languages is None else f" ({', '.join(f.languages)})"),
             "recipe": "fit/predict" if not f.trainable else
             f"{f.epochs} epochs, batch {f.batch_size}, lr {f.lr:g}, dropout {f.dropout:g}"}
            for f in FAMILIES.values()
        ]  # fmt: skip
        console.print(rows_table("model families", families, ("name", "model", "kinds", "reads",
                                                          "recipe")))  # fmt: skip
        columns = ("name", "kind", "language", "model", "source", "size", "classes", "metric",
                   "licence")  # fmt: skip
        console.print(rows_table("benchmark tasks", task_rows(load=load), columns))
        console.print(
            "Any data set with a model family that reads it is a task too: DATASET-FAMILY "
            "(e.g. mr-lstm); `--tasks all` runs the tasks listed above."
        )
        from torch_rdrop.bench.tasks.recipes import recipe_rows

        if rows := recipe_rows():
            console.print(rows_table("recipes chosen on dev (used unless a run sets its own)",
                                 rows, tuple(rows[0])))  # fmt: skip
        methods = [
            {"name": m.name, "kinds": ", ".join(m.kinds), "description": m.description,
             "sweep searches": ", ".join(r.name for r in m.search_space)}
            for m in METHODS.values()
        ]  # fmt: skip
        console.print(rows_table("methods", methods, ("name", "kinds", "description",
                                                  "sweep searches")))  # fmt: skip
        metrics = [
            {"name": m.name, "better": "higher" if m.higher_is_better else "lower"}
            for m in METRICS.values()
        ]
        console.print(rows_table("metrics", metrics, ("name", "better")))


def _show_tasks(names: tuple[str, ...], load: bool) -> None:
    """The ``rdrop tasks --tasks ...`` table: each task's data, model, metric and recipe."""
    from torch_rdrop.bench.tasks import get_task, task_rows

    rows = task_rows(names, load=load)
    for row in rows:
        task = get_task(row["name"])
        row["recipe"] = (
            f"{task.epochs} epochs, batch {task.batch_size}, lr {task.lr:g}, "
            f"dropout {task.dropout:g}"
        )
        row["better"] = "higher" if task.higher_is_better else "lower"
        row["task file"] = task.origin or "-"
    columns = ("name", "kind", "language", "model", "source", "size", "classes", "metric",
               "better", "recipe", "task file")  # fmt: skip
    console.print(rows_table("tasks", rows, columns))
