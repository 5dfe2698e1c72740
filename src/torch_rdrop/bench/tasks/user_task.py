"""A user's task file as a benchmark task: the user's data set x a built-in family or a checkpoint.

The catalog reads ``.toml``, ``.yaml`` and ``.yml`` task files with
:func:`read_task_file_as_task`, so ``rdrop bench --tasks my-task.toml`` (and
``rdrop sweep``, ``rdrop tasks``, :func:`~.catalog.get_task`) read a task file like a task name.
The task is registered under the ``name`` the file gives, which is what stored studies record.

Everything is checked when the file is read, before anything runs: the keys (against the
family and metric registries), the files and columns, the labels, and a checkpoint folder (its
files, then a model and a tokenizer loaded once, so a folder that is not a model fails here).

From Python, one call (the task is then a name like any other)::

    from torch_rdrop.bench.tasks import register_task_file
    task = register_task_file("tickets/task.toml")    # then get_task("tickets") is task

>>> from torch_rdrop.bench.tasks.catalog import get_task
>>> get_task("no/such/task.toml")
Traceback (most recent call last):
...
ValueError: task file 'no/such/task.toml' does not exist
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch_rdrop.bench.tasks.catalog import TASKS, Task
from torch_rdrop.bench.tasks.datasets import Data, Dataset
from torch_rdrop.bench.tasks.families import ModelFamily, family_names, get_family
from torch_rdrop.bench.tasks.metrics import get_metric, metric_names
from torch_rdrop.bench.tasks.pooling import described_with_head
from torch_rdrop.bench.tasks.task_file import (
    TaskFileError,
    UserTaskSpec,
    default_metric,
    load_user_task,
)

__all__ = [
    "AREA",
    "CHECKPOINT_RECIPE",
    "checkpoint_model_family",
    "read_task_file_as_task",
    "register_user_task",
    "user_task",
]

#: The ``area`` of a user's data set (``rdrop tasks`` and the report's task family column).
AREA = "your own data"
#: The recipe defaults of a checkpoint folder: fine-tuning a pretrained transformer.
CHECKPOINT_RECIPE: dict[str, Any] = {"epochs": 5, "batch_size": 16, "lr": 5e-5, "dropout": 0.1}


def _model_type(folder: Path) -> str:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return str(config.get("model_type", "?"))


def _probe(spec: UserTaskSpec, family: ModelFamily, data: Data) -> None:
    """Build the checkpoint's encoder and model once: a folder that is not a model fails now."""
    from torch_rdrop.bench.tasks.checkpoint import CheckpointError

    try:
        encoder = family.encoder(data)  # type: ignore[misc]
        family.model(data, encoder, 0.1)  # type: ignore[misc]
    except CheckpointError:
        raise
    except Exception as error:  # transformers and safetensors raise their own types too
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise CheckpointError(
            f"{spec.checkpoint}: the checkpoint does not load as a {spec.kind} model "
            f"({type(error).__name__}: {first})"
        ) from None


def checkpoint_model_family(spec: UserTaskSpec) -> ModelFamily:
    """The model family of a task file whose ``model`` is a checkpoint folder.

    Its name is the folder's path; its recipe is :data:`CHECKPOINT_RECIPE` (the task file's
    ``[recipe]`` overrides it, ``max_length`` included); its description names the head when
    ``pooling`` is not the checkpoint's own.
    """
    builder = spec.checkpoint_family()
    if builder is None:
        raise ValueError(f"task {spec.name}: model {spec.model!r} is not a checkpoint folder")
    description = f"{_model_type(builder.path)} checkpoint ({builder.path.name})"
    return ModelFamily(
        str(builder.path),
        described_with_head(description, builder.pooling),
        ("classification", "tagging", "generation"),
        encoder=builder.encoder,
        model=lambda data, _encoder, p: builder.model(data, p),
        weights=lambda: builder.path,
        **CHECKPOINT_RECIPE,
    )


def _metric(spec: UserTaskSpec, data: Data) -> str:
    origin = spec.origin or spec.name
    name = spec.metric or default_metric(data)
    metric = get_metric(name)  # ValueError naming the known metrics
    if metric.generates and spec.kind != "generation":
        raise TaskFileError(
            f"{origin}: metric {name!r} scores generated text; a {spec.kind} task needs another"
        )
    return name


def user_task(spec: UserTaskSpec, data: Data | None = None) -> Task:
    """The catalog task of ``spec``, over ``data`` (read from the spec's files when None).

    The data set's loader returns ``data`` as read; the metric is the spec's or
    :func:`~.task_file.default_metric`; the recipe is the spec's over the family's defaults.
    """
    if data is None:
        data = spec.load_data()
    origin = str(spec.origin) if spec.origin is not None else ""
    if spec.checkpoint is not None:
        family = checkpoint_model_family(spec)
        _probe(spec, family, data)
    else:
        family = get_family(spec.model)
        if spec.recipe.max_length is not None:
            raise TaskFileError(
                f"{origin or spec.name}: recipe.max_length applies to a checkpoint folder; the "
                f"built-in family {family.name!r} sets its own lengths"
            )
    read = data
    dataset = Dataset(
        spec.name, lambda: read, spec.kind, spec.language, _metric(spec, data),
        source=data.source, area=AREA,
    )  # fmt: skip
    recipe = {k: v for k, v in spec.recipe.overrides().items() if k != "max_length"}
    return Task(spec.name, dataset, family, origin=origin, **recipe)  # type: ignore[arg-type]


def register_user_task(spec: UserTaskSpec, data: Data | None = None) -> Task:
    """Register the task of ``spec`` (see :func:`user_task`) under ``spec.name`` and return it.

    Registering the same task file again replaces its task; any other task of that name is an
    error.
    """
    task = user_task(spec, data)
    if task.name in TASKS and TASKS[task.name].origin != task.origin:
        raise ValueError(
            f"task {task.name!r} is already registered; give the task file another name"
        )
    return TASKS.add(task.name, task, replace=True)


def read_task_file_as_task(path: Path) -> Task:
    """The task of a ``.toml`` / ``.yaml`` task file, checked (the catalog registers it)."""
    spec, data = load_user_task(path, families=family_names(), metrics=metric_names())
    return user_task(spec, data)
