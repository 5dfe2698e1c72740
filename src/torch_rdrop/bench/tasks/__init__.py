"""What the benchmark trains: registries of methods, metrics, data sets, model families and tasks.

- :mod:`~torch_rdrop.bench.tasks.registry` — the registry type and the ``torch_rdrop.tasks``
  entry points through which packages add to the registries;
- :mod:`~torch_rdrop.bench.tasks.methods` — methods: regularizer, defaults, search space, kinds;
- :mod:`~torch_rdrop.bench.tasks.metrics` — metrics: function and direction;
- :mod:`~torch_rdrop.bench.tasks.datasets` — data sets: loader, kind, language, source;
- :mod:`~torch_rdrop.bench.tasks.families` — model families: encoder and model factories, recipe;
- :mod:`~torch_rdrop.bench.tasks.catalog` — tasks (a data set x a model family) and their names;
- :mod:`~torch_rdrop.bench.tasks.user_task` — a task file (your own data) as a task;
- :mod:`~torch_rdrop.bench.tasks.data` — the loaders of the built-in data sets;
- :mod:`~torch_rdrop.bench.tasks.text`, :mod:`~torch_rdrop.bench.tasks.pixels` — the encoders;
- :mod:`~torch_rdrop.bench.tasks.models` — the models with a configurable dropout;
- :mod:`~torch_rdrop.bench.tasks.fewshot` — K-shot, dev and semi-supervised splits;
- :mod:`~torch_rdrop.bench.tasks.trial` — the trial backend: trains and scores one run;
- :mod:`~torch_rdrop.bench.tasks.evaluation` — how a trained model is scored on a split;
- :mod:`~torch_rdrop.bench.tasks.backbone` — language models pretrained here, kept as checkpoint
  folders and fine-tuned as model families (``pd-charlm``).
- :mod:`~torch_rdrop.bench.tasks.backbone_build` — pretraining a backbone and writing its folder.

Registering is one call each (names as on the command line)::

    from torch_rdrop.bench.tasks import Dataset, register_dataset, register_task, register_task_file
    register_dataset(Dataset("tickets", load_tickets, "classification", "en", "macro_f1"))
    register_task("tickets", "minilm")          # rdrop bench --tasks tickets-minilm
    register_task_file("tickets/task.toml")     # a task file: rdrop bench --tasks tickets
"""

from torch_rdrop.bench.tasks.catalog import (
    TASKS,
    Task,
    check_data,
    get_task,
    register_task,
    register_task_file,
    register_task_file_reader,
    resolve_task,
    task_names,
    task_rows,
)
from torch_rdrop.bench.tasks.datasets import (
    DATASETS,
    Dataset,
    dataset_names,
    get_dataset,
    register_dataset,
)
from torch_rdrop.bench.tasks.families import (
    FAMILIES,
    ModelFamily,
    family_names,
    get_family,
    register_family,
)
from torch_rdrop.bench.tasks.methods import (
    KINDS,
    METHODS,
    Method,
    get_method,
    method_names,
    register_method,
)
from torch_rdrop.bench.tasks.metrics import (
    METRICS,
    Metric,
    Predictions,
    get_metric,
    metric_names,
    register_metric,
)
from torch_rdrop.bench.tasks.registry import ENTRY_POINT_GROUP, load_plugins
from torch_rdrop.bench.tasks.user_task import register_user_task, user_task

__all__ = [
    "DATASETS",
    "ENTRY_POINT_GROUP",
    "FAMILIES",
    "KINDS",
    "METHODS",
    "METRICS",
    "TASKS",
    "Dataset",
    "Method",
    "Metric",
    "ModelFamily",
    "Predictions",
    "Task",
    "check_data",
    "dataset_names",
    "family_names",
    "get_dataset",
    "get_family",
    "get_method",
    "get_metric",
    "get_task",
    "load_plugins",
    "method_names",
    "metric_names",
    "register_dataset",
    "register_family",
    "register_method",
    "register_metric",
    "register_task",
    "register_task_file",
    "register_task_file_reader",
    "register_user_task",
    "resolve_task",
    "task_names",
    "task_rows",
    "user_task",
]

# The reference models every network must beat, and the backbones pretrained here (read from
# their checkpoint folders), are model families like the others (after the registries above
# exist: they register into them).
from torch_rdrop.bench.tasks.backbone import register_backbones
from torch_rdrop.bench.tasks.reference.families import register_reference_families

register_reference_families()
register_backbones()
