"""The benchmark's trial function: train one task with one method and measure it.

A trial loads the task's verified data (cached per process with its fitted encoder), draws the
few-shot split with the data seed, builds the model with the init seed, trains it with AdamW
through the method's common entry point (:func:`torch_rdrop.regularizers.build_regularizer`),
and evaluates the task's metric on the fixed test split (or the dev split when asked) after every
epoch. Evaluation is always the bare model in eval mode, so every method is measured the same way.

Hyper-parameters (``spec.params``): ``epochs``, ``batch_size``, ``lr``, ``dropout`` (by default
the recipe recorded for the run's task and K, see :mod:`.recipes`, else the model family's;
``recipe="family"`` ignores the recorded one), ``weight_decay`` (0.01), ``dev_shots`` (dev
examples per class, 4, when a dev split is used), ``select`` (``"last"``: the model after the last
epoch is scored; ``"best"``: a dev split is carved from the training data, scored after each
evaluated epoch, and the checkpoint with the best dev score is scored on test, once),
``score_on`` (``"test"``; ``"dev"`` scores the dev split only and never the test split: the
runs recipes are chosen from), ``train_rows`` (on a whole training split, train on that many
rows of it, drawn by the data seed after the dev split, each class in proportion: a subsample
fixed in advance where the whole split costs too much; see :mod:`.fewshot`), ``new_lr`` (the
learning rate of the weights a warm-started model adds to its checkpoint, such as an
encoder-decoder's cross-attention; ``lr`` by default; see :mod:`.new_weights`), ``max_length``
(input tokens kept: a text's or a source's; the encoder's own bound by default), ``precision``
(``"fp32"``; ``"bf16"`` runs each training step's forward pass and loss under bfloat16 autocast,
with the weights, optimizer and evaluation in fp32; see :mod:`.precision`), ``eval_every``
(evaluate every that many epochs and after the last; 1), ``threads`` (CPU threads while the
trial runs, 1: a grid worker per core is the fair and faster layout for these small models; the
caller's count is restored afterwards); every other name goes to the method (``alpha``,
``epsilon``, ``duplicate_from``, ...).

Semi-supervised mode (``semi_supervised=true``, classification tasks): K labelled examples per
class train with the method as usual, and each step also draws a batch of the unlabelled rest of
the training split (``unlabelled_ratio`` times the batch size, 1), on which the loss is the R-Drop
consistency alone, weighted by ``consistency_alpha`` (1.0) ramped up by
:class:`torch_rdrop.schedules.SigmoidRampup` over the first ``rampup`` fraction (0.3) of the steps.

Which methods apply to which kind of task, and how each metric scores the predictions, come from
the registries (:mod:`.methods`, :mod:`.metrics`): generation tasks run ``none`` and ``rdrop``; a
language model is scored by perplexity, a sequence-to-sequence model by ROUGE-L of its greedy
decoding. A fit/predict model family (``ModelFamily.fit``) is fitted once on the K-shot training
split, without an optimizer, and runs the method ``none`` only.

A run given a snapshot file (``run_trial(..., snapshot=SnapshotFile(path))``, what
``rdrop bench --snapshots DIR`` gives each run) saves its training state there as it goes and
resumes from it when started again (:mod:`.snapshot`).
"""

from __future__ import annotations

import contextlib
import platform
import resource
import time
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

import torch_rdrop
from torch_rdrop.bench.engine.axes import Scalar
from torch_rdrop.bench.engine.spec import (
    EpochCallback,
    FloatRange,
    LiveNames,
    SnapshotFile,
    TrialBackend,
    TrialResult,
    TrialSpec,
)
from torch_rdrop.bench.tasks.catalog import (
    Task,
    check_data,
    get_task,
    resolve_task,
    task_names,
    task_rows,
)
from torch_rdrop.bench.tasks.evaluation import evaluate, with_max_length
from torch_rdrop.bench.tasks.fewshot import FewShotSplit, check_train_rows, few_shot
from torch_rdrop.bench.tasks.loop_state import EpochProgress, LoopState
from torch_rdrop.bench.tasks.methods import get_method, method_names, methods_by_kind
from torch_rdrop.bench.tasks.metrics import get_metric
from torch_rdrop.bench.tasks.new_weights import param_groups
from torch_rdrop.bench.tasks.precision import check_precision, training_precision
from torch_rdrop.bench.tasks.provenance import run_provenance
from torch_rdrop.bench.tasks.recipes import SELECT_RULES, budget_recipe, recorded_recipe
from torch_rdrop.bench.tasks.scoring import Scoring
from torch_rdrop.regularizers import build_regularizer
from torch_rdrop.schedules import SigmoidRampup

__all__ = [
    "BACKEND",
    "METHODS_BY_KIND",
    "TRAINING_DEFAULTS",
    "TrainedCallback",
    "check_task_shots",
    "run_trial",
]

TRAINING_PARAMS = (
    "epochs", "batch_size", "lr", "dropout", "weight_decay", "dev_shots", "eval_every", "threads",
    "semi_supervised", "consistency_alpha", "rampup", "unlabelled_ratio", "select", "score_on",
    "recipe", "train_rows", "new_lr", "max_length", "precision",
)  # fmt: skip
#: ``recipe=``: the task's recorded recipe at the run's K, its budget recipe (else the recorded
#: one), or the model family's defaults.
RECIPE_CHOICES = ("recorded", "budget", "family")
#: Dev examples per class when a run asks for a dev split (``use_dev``) and names no ``dev_shots``.
DEV_SHOTS = 4
#: The training settings a run uses unless it sets them, the same for every task (``epochs``,
#: ``batch_size``, ``lr`` and ``dropout`` come from the task and its recipe).
TRAINING_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "weight_decay": 0.01, "dev_shots": DEV_SHOTS, "eval_every": 1, "threads": 1,
    "semi_supervised": False, "consistency_alpha": 1.0, "rampup": 0.3, "unlabelled_ratio": 1,
    "select": "last", "score_on": "test", "recipe": "recorded", "train_rows": None,
    "new_lr": None, "max_length": None, "precision": "fp32",
})  # fmt: skip
#: The methods each kind of task can run, as registered when this module was imported (the
#: trial itself reads the registry at each run: :func:`~.methods.methods_by_kind`).
METHODS_BY_KIND: Mapping[str, tuple[str, ...]] = methods_by_kind()


@cache
def _prepared(task: Task) -> tuple[Any, Any]:
    """The task's data set and its encoder fitted on the training split (once per process and
    task: a task file read again, or another file with the same task name, is prepared anew)."""
    data = task.load()
    return data, task.make_encoder(data)


def _settings(task: Task, spec: TrialSpec) -> tuple[dict[str, Any], dict[str, Scalar]]:
    """Training settings (task recommendations, overridden) and the method's own parameters."""
    settings: dict[str, Any] = {
        "epochs": task.epochs, "batch_size": task.batch_size, "lr": task.lr,
        "dropout": task.dropout, **TRAINING_DEFAULTS,
    }  # fmt: skip
    which = spec.params.get("recipe", "recorded")
    if which not in RECIPE_CHOICES:
        raise ValueError(f"param recipe must be one of {RECIPE_CHOICES}, got {which!r}")
    recipe = recorded_recipe(task.name, spec.shots)
    if which == "budget":
        recipe = budget_recipe(task.name, spec.shots) or recipe
    if recipe is not None and which != "family":
        settings.update(recipe.params())
    settings.update({k: v for k, v in spec.params.items() if k in TRAINING_PARAMS})
    for name in ("epochs", "batch_size", "dev_shots", "eval_every", "threads", "unlabelled_ratio"):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < (name != "dev_shots"):
            raise ValueError(f"param {name} must be a positive integer, got {value!r}")
    if not 0.0 <= float(settings["dropout"]) < 1.0:
        raise ValueError(f"param dropout must lie in [0, 1), got {settings['dropout']!r}")
    if float(settings["lr"]) <= 0:
        raise ValueError(f"param lr must be > 0, got {settings['lr']!r}")
    if settings["new_lr"] is not None and not float(settings["new_lr"]) > 0:
        raise ValueError(f"param new_lr must be > 0, got {settings['new_lr']!r}")
    length = settings["max_length"]
    if length is not None and (isinstance(length, bool) or not isinstance(length, int)
                               or length < 1):  # fmt: skip
        raise ValueError(f"param max_length must be a positive integer, got {length!r}")
    if not isinstance(settings["semi_supervised"], bool):
        raise ValueError(
            f"param semi_supervised must be true or false, got {settings['semi_supervised']!r}"
        )
    if settings["semi_supervised"] and task.kind != "classification":
        raise ValueError(
            f"param semi_supervised applies to classification tasks; {task.name} is a "
            f"{task.kind} task"
        )
    try:
        check_precision(settings["precision"])
    except ValueError as error:
        raise ValueError(f"param {error}") from None
    if settings["select"] not in SELECT_RULES:
        raise ValueError(f"param select must be one of {SELECT_RULES}, got {settings['select']!r}")
    if settings["score_on"] not in ("test", "dev"):
        raise ValueError(f"param score_on must be 'test' or 'dev', got {settings['score_on']!r}")
    try:
        check_train_rows(settings["train_rows"], spec.shots)
    except ValueError as error:
        raise ValueError(f"param {error}") from None
    if not 0.0 <= float(settings["rampup"]) <= 1.0:
        raise ValueError(f"param rampup must lie in [0, 1], got {settings['rampup']!r}")
    method_params = {k: v for k, v in spec.params.items() if k not in TRAINING_PARAMS}
    return settings, method_params


def _reset_peak_memory() -> None:
    """Start a new peak resident-set count where Linux allows it (``/proc/self/clear_refs``)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_memory_mb() -> float:
    """Peak resident memory since :func:`_reset_peak_memory` (else of the process), in MiB."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _checked(task: Task, spec: TrialSpec) -> tuple[dict[str, Any], dict[str, Scalar]]:
    """The run's settings and method parameters, or a ``ValueError`` naming what is wrong."""
    allowed = method_names(task.kind) if task.trainable else ("none",)
    if spec.method not in allowed:
        what = f"{task.kind} task" if task.trainable else "fit/predict task"
        raise ValueError(
            f"method {spec.method!r} does not apply to {what} {task.name}; "
            f"choose from {', '.join(allowed)}"
        )
    return _settings(task, spec)


def check_trial(spec: TrialSpec) -> None:
    """Raise ``ValueError`` (one line) if ``spec`` would fail before training starts: a method
    the task cannot run, a bad training setting, an unknown option or a bad value of the method.
    Nothing is loaded or trained; commands call it before they store anything.

    >>> check_trial(TrialSpec("digits-mlp", "rdrop", 4, 0, 0, {"alpha": -1.0}))
    Traceback (most recent call last):
    ...
    ValueError: alpha must be a finite number >= 0, got -1.0
    """
    task = get_task(spec.task)
    _, method_params = _checked(task, spec)
    if task.trainable:
        get_method(spec.method).regularizer(**method_params)


def planned_epochs(spec: TrialSpec) -> int | None:
    """The epochs ``spec`` will train: its ``epochs`` parameter, else its task's recipe or
    family default; ``None`` for a model that is fitted, not trained, or a spec that would fail.

    >>> planned_epochs(TrialSpec("digits-mlp", "rdrop", 4, 0, 0, {"epochs": 7}))
    7
    >>> planned_epochs(TrialSpec("digits-pixel-logreg", "none", 4, 0, 0, {})) is None
    True
    """
    try:
        task = get_task(spec.task)
        settings, _ = _checked(task, spec)
    except (KeyError, ValueError):
        return None
    epochs = settings.get("epochs") if task.trainable else None
    return int(epochs) if isinstance(epochs, int) else None


#: ``on_trained(model, encoder, split)``: called once a trained model is final (after its test
#: score; the best dev checkpoint under ``select="best"``), with the encoder fitted on the training
#: split and the run's split (train, dev and test indices), still under the run's thread count.
TrainedCallback = Callable[[nn.Module, Any, FewShotSplit], None]


def run_trial(
    spec: TrialSpec,
    on_epoch: EpochCallback | None = None,
    on_trained: TrainedCallback | None = None,
    *,
    snapshot: SnapshotFile | None = None,
) -> TrialResult:
    """Train and evaluate ``spec``; per-epoch metric on dev (``use_dev``) or test.

    ``on_trained`` receives the trained model, its encoder and the split (a caller that keeps the
    model, as ``rdrop backbone build`` does); a fit/predict task has no model to give, and
    refuses it. With ``snapshot``, the run saves its training state to that file as it goes and,
    if the file is there when it starts, resumes from it (:mod:`.snapshot`); a fit/predict task
    has nothing to resume and ignores it.

    >>> run_trial(TrialSpec("wsj-pos-lstm", "mixup", 2, 0, 0))
    Traceback (most recent call last):
    ...
    ValueError: method 'mixup' does not apply to tagging task wsj-pos-lstm; choose from none, \
rdrop, fgm, pgd, freelb, rdrop+fgm
    """
    task = get_task(spec.task)
    settings, method_params = _checked(task, spec)
    if on_trained is not None and not task.trainable:
        raise ValueError(f"on_trained: task {task.name} is fitted, not trained: it has no model")
    threads = torch.get_num_threads()
    torch.set_num_threads(settings["threads"])
    try:
        if not task.trainable:
            return _fit(task, spec, settings, on_epoch)
        return _train(task, spec, settings, method_params, on_epoch, on_trained, snapshot)
    finally:
        torch.set_num_threads(threads)


class _Unlabelled:
    """Batches of the unlabelled pool, reshuffled at each pass, with the ramped consistency."""

    def __init__(
        self, pool: np.ndarray, settings: dict[str, Any], steps: int, rng: np.random.Generator
    ) -> None:
        if pool.size == 0:
            raise ValueError("semi_supervised: the training split has no unlabelled examples left")
        self.size = int(settings["batch_size"]) * int(settings["unlabelled_ratio"])
        self.pool, self.rng = pool, rng
        self.order, self.at = rng.permutation(pool), 0
        ramp = SigmoidRampup(float(settings["consistency_alpha"]), int(settings["rampup"] * steps))
        self.method = build_regularizer("rdrop", alpha=ramp)

    def loss(self, model: nn.Module, encoder: Any, data: Any) -> Tensor:
        """The weighted consistency of two dropout passes on the next unlabelled batch."""
        if self.at + self.size > self.order.size:
            self.order, self.at = self.rng.permutation(self.pool), 0
        batch = encoder.batch(data, self.order[self.at : self.at + self.size])
        self.at += self.size
        batch.pop("labels")
        return self.method.training_loss(model, batch).loss


def _train(
    task: Task,
    spec: TrialSpec,
    settings: dict[str, Any],
    method_params: dict[str, Scalar],
    on_epoch: EpochCallback | None,
    on_trained: TrainedCallback | None = None,
    snapshot: SnapshotFile | None = None,
) -> TrialResult:
    data, encoder = _prepared(task)
    started_from = run_provenance(task)  # before training: what a run stores is what it started
    _reset_peak_memory()  # the peak of this trial, not of the runs before it in the process
    semi = bool(settings["semi_supervised"])
    plan = Scoring(task, spec, settings)
    split = few_shot(
        data, spec.shots, spec.data_seed, dev_shots=plan.dev_shots, semi_supervised=semi,
        rare=task.rare, train_rows=settings["train_rows"],
    )  # fmt: skip
    encoder = with_max_length(encoder, settings["max_length"])
    torch.manual_seed(spec.init_seed)
    model = task.make_model(data, encoder, float(settings["dropout"]))
    method = get_method(spec.method).regularizer(**method_params)
    new_lr = None if settings["new_lr"] is None else float(settings["new_lr"])
    try:
        groups = param_groups(model, float(settings["lr"]), new_lr)
    except ValueError as error:
        raise ValueError(f"param {error} (task {task.name})") from None
    optimizer = torch.optim.AdamW(groups, weight_decay=float(settings["weight_decay"]))
    watched = split.dev if plan.dev_shots else split.test
    order = np.random.default_rng(spec.init_seed)
    size = settings["batch_size"]
    per_epoch = -(-len(split.train) // size)
    unlabelled = (
        _Unlabelled(split.unlabelled, settings, per_epoch * settings["epochs"], order)
        if semi
        else None
    )
    loop = LoopState(model, optimizer, method, order, plan, unlabelled, started_from)
    if snapshot is not None:
        loop.resume(snapshot, spec, on_epoch)
    for epoch in range(loop.epoch, settings["epochs"]):
        progress = loop.unfinished or EpochProgress(order.permutation(split.train))
        loop.unfinished = None
        model.train()
        while progress.at < len(progress.rows):
            start = time.perf_counter()
            indices = progress.rows[progress.at : progress.at + size]
            batch = encoder.batch(data, indices)
            labels: Tensor = batch.pop("labels")
            with training_precision(model, settings["precision"]):
                loss = method.training_loss(model, batch, labels).loss
                if unlabelled is not None:
                    loss = loss + unlabelled.loss(model, encoder, data)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seconds = time.perf_counter() - start
            progress.step(len(indices), float(loss.detach()), seconds)
            loop.stepped(seconds)
            if snapshot is not None and progress.at < len(progress.rows):
                loop.save(snapshot, spec, unfinished=progress)
        loop.trained(epoch, progress.seconds)
        if (epoch + 1) % settings["eval_every"] and epoch + 1 < settings["epochs"]:
            continue
        value = evaluate(task, model, encoder, data, watched)
        values = loop.evaluated(epoch, value, float(np.mean(progress.losses)))
        if snapshot is not None:
            loop.save(snapshot, spec, last=epoch + 1 == settings["epochs"])
        if on_epoch is not None:
            on_epoch(epoch, value, values)
    final = plan.final(lambda: evaluate(task, model, encoder, data, split.test), model)
    final["seconds_per_step"] = loop.seconds / max(loop.steps, 1)
    if on_trained is not None:
        on_trained(model, encoder, split)
    return _result(task, final, loop.curves, loop.seconds, loop.started_from)


def _result(
    task: Task,
    final: dict[str, float],
    curves: dict[str, list[float]],
    seconds: float,
    started_from: dict[str, str],
) -> TrialResult:
    versions = {
        "torch_rdrop": torch_rdrop.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        **started_from,
    }
    return TrialResult(
        task.metric, final, curves, seconds, _peak_memory_mb(), versions,
        greater_is_better=task.higher_is_better,
    )  # fmt: skip


def _fit(
    task: Task, spec: TrialSpec, settings: dict[str, Any], on_epoch: EpochCallback | None
) -> TrialResult:
    """Fit a fit/predict family once on the K-shot split; score it like a trained model.

    Its training time is the fit and its first prediction: a model may do its fitting there (the
    reference models refit on the training rows whenever they predict), and a fit alone would
    then take no time at all."""
    data, _ = _prepared(task)
    started_from = run_provenance(task)
    _reset_peak_memory()
    plan = Scoring(task, spec, settings)
    split = few_shot(
        data, spec.shots, spec.data_seed, dev_shots=plan.dev_shots, rare=task.rare,
        train_rows=settings["train_rows"],
    )  # fmt: skip
    metric = get_metric(task.metric)
    start = time.perf_counter()
    predictor = task.fit(data, split.train)
    first = predictor.predict(data, split.dev if plan.dev_shots else split.test)
    seconds = time.perf_counter() - start
    value = metric.score(first)
    plan.observe(nn.Module(), 0, value)
    if on_epoch is not None:
        on_epoch(0, value, {plan.curve: value})
    final = plan.final(lambda: metric.score(predictor.predict(data, split.test)), nn.Module())
    final["seconds_per_step"] = seconds
    return _result(task, final, {plan.curve: [value]}, seconds, started_from)


def applies(task: str, method: str) -> bool:
    """Whether ``method`` can run on ``task`` (the method registry's kinds; ``none`` only on a
    fit/predict family).

    >>> applies("wsj-pos-lstm", "mixup"), applies("wsj-pos-lstm", "rdrop")
    (False, True)
    """
    found = get_task(task)
    if not found.trainable:
        return method == "none"
    return found.kind in get_method(method).kinds


def check_task_shots(
    task: str, shots: int | None, params: Mapping[str, Scalar] | None = None, use_dev: bool = False
) -> None:
    """Raise ``ValueError`` (one line) unless every class of ``task``'s training split has
    ``shots`` examples, plus ``dev_shots`` when the run uses a dev split (``use_dev``,
    ``select="best"`` or ``score_on="dev"`` in ``params`` or in the recorded recipe).

    A data set that takes all the examples of a rarer class (``rare="all"``) passes.

    >>> check_task_shots("digits-mlp", 16), check_task_shots("digits-mlp", None, use_dev=True)
    (None, None)
    >>> check_task_shots("digits-mlp", 500)
    Traceback (most recent call last):
    ...
    ValueError: task digits-mlp: digits: shots=500 needs 500 training examples of every class; \
too few: '8' has 139, ...
    """
    from torch_rdrop.bench.tasks.data.user_files import check_shots

    found = get_task(task)
    if found.rare != "error":
        return
    spec = TrialSpec(task, "none", shots, 0, 0, dict(params or {}), use_dev)
    dev = Scoring(found, spec, _settings(found, spec)[0]).dev_shots
    try:
        check_shots(found.load(), shots, dev)
    except ValueError as exc:
        said = str(exc)  # a user's data set is named like its task: say the name once
        raise ValueError(
            said if said.startswith(f"{found.name}: ") else f"task {found.name}: {said}"
        ) from None


def _higher_is_better(task: str) -> bool:
    return get_task(task).higher_is_better


def _search_space(method: str) -> tuple[FloatRange, ...]:
    return get_method(method).search_space


BACKEND = TrialBackend(
    "tasks",
    LiveNames(task_names),
    LiveNames(method_names),
    run_trial,
    task_rows,
    applies,
    resolve_task=resolve_task,
    greater_is_better=_higher_is_better,
    search_space=_search_space,
    check_data=check_data,
    check_shots=check_task_shots,
    check_trial=check_trial,
    planned_epochs=planned_epochs,
    resumable=True,
)
"""Every registered task and method, read from the registries at each use: a task registered
after import, or given as a task file, is accepted."""
