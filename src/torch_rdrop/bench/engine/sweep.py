"""Hyper-parameter sweeps (``rdrop sweep``): TPE over a method's main knobs, median pruning.

Every Optuna trial trains the method on each seed in turn, on the training split minus a dev
split (``TrialSpec.use_dev``); the per-epoch dev metric is reported at step ``seed index x epochs
+ epoch``, so the median pruner compares like with like and stops hopeless settings early. The
objective is the mean final dev metric over the seeds. Sweeps resume and share work like grids:
the study stops once it holds ``n_trials`` finished (complete or pruned) trials.

The backend says what to search (``search_space(method)``, a method's :class:`FloatRange` s) and in
which direction (``greater_is_better(task)``, from the task's metric): a sweep on perplexity
minimises it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch_rdrop.bench.engine.axes import Scalar, Shots, shots_label
from torch_rdrop.bench.engine.spec import FloatRange, TrialBackend, TrialSpec
from torch_rdrop.bench.engine.store import import_optuna, remember_command

if TYPE_CHECKING:
    import optuna

__all__ = ["FloatRange", "SweepSummary", "run_sweep", "search_space", "summarize_sweep"]


def search_space(
    backend: TrialBackend, method: str, fixed: Mapping[str, Scalar] = ()
) -> tuple[FloatRange, ...]:
    """The ranges ``backend`` gives ``method``, without the names held fixed by ``fixed``.

    >>> from torch_rdrop.bench.tasks.trial import BACKEND
    >>> [r.name for r in search_space(BACKEND, "rdrop+fgm", {"dropout": 0.1})]
    ['alpha', 'epsilon']
    """
    if backend.search_space is None:
        raise ValueError(f"backend {backend.name!r} gives no search space: it cannot be swept")
    fixed = dict(fixed)
    return tuple(r for r in backend.search_space(method) if r.name not in fixed)


@dataclass(frozen=True)
class SweepSummary:
    """The state of a sweep: counts and the best trial so far (None before the first completes)."""

    complete: int
    pruned: int
    best_value: float | None
    best_params: Mapping[str, Any]
    top: Sequence[tuple[int, float, Mapping[str, Any]]]


def summarize_sweep(study: optuna.Study, top: int = 5) -> SweepSummary:
    """Counts, the best trial and the ``top`` trials by value."""
    optuna = import_optuna()
    state = optuna.trial.TrialState
    complete = study.get_trials(deepcopy=False, states=(state.COMPLETE,))
    pruned = study.get_trials(deepcopy=False, states=(state.PRUNED,))
    if not complete:
        return SweepSummary(0, len(pruned), None, {}, ())
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    ranked = sorted(complete, key=lambda t: -t.value if maximize else t.value)
    rows = tuple((t.number, float(t.value), dict(t.params)) for t in ranked[:top])
    return SweepSummary(len(complete), len(pruned), rows[0][1], rows[0][2], rows)


def run_sweep(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    backend: TrialBackend,
    *,
    task: str,
    method: str,
    shots: Shots,
    seeds: Sequence[int],
    n_trials: int,
    fixed: Mapping[str, Scalar] | None = None,
    greater_is_better: bool | None = None,
    sampler_seed: int | None = None,
    on_trial: Callable[[SweepSummary], None] | None = None,
    command: str | None = None,
) -> SweepSummary:
    """Run TPE trials until the study holds ``n_trials`` finished ones; return the summary.

    The study maximises the task's metric when ``greater_is_better`` (default: the backend's
    ``greater_is_better(task)``), else minimises it. ``command``, the command line being run, is
    remembered in the study for the report.
    """
    optuna = import_optuna()
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if not seeds:
        raise ValueError("seeds must not be empty")
    fixed = dict(fixed or {})
    ranges = search_space(backend, method, fixed)
    if greater_is_better is None:
        greater_is_better = backend.higher_is_better(task)
    if not ranges:
        raise ValueError(f"every hyper-parameter of {method!r} is fixed: nothing to search")
    pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        sampler=optuna.samplers.TPESampler(seed=sampler_seed),
        pruner=pruner,
        direction="maximize" if greater_is_better else "minimize",
        load_if_exists=True,
    )
    wanted = (
        optuna.study.StudyDirection.MAXIMIZE
        if greater_is_better
        else (optuna.study.StudyDirection.MINIMIZE)
    )
    if study.direction != wanted:
        raise ValueError(
            f"study {study_name!r} {study.direction.name.lower()}s its value, but the metric of "
            f"{task} is {'higher' if greater_is_better else 'lower'}-is-better; choose another "
            "--study"
        )
    identity = {
        "kind": "sweep",
        "backend": backend.name,
        "task": task,
        "method": method,
        "shots": shots_label(shots),
    }
    for name, value in identity.items():
        seen = study.user_attrs.get(name)
        if seen is None:
            study.set_user_attr(name, value)
        elif seen != value:
            raise ValueError(
                f"study {study_name!r} is a sweep with {name}={seen!r}, not {value!r}; "
                "choose another --study"
            )
    remember_command(study, command)

    def objective(trial: optuna.trial.Trial) -> float:
        params = {**fixed, **{r.name: r.suggest(trial) for r in ranges}}
        step = 0
        finals = []

        def on_epoch(_epoch: int, value: float, _values: Mapping[str, float]) -> None:
            nonlocal step
            trial.report(float(value), step)
            step += 1
            if trial.should_prune():
                raise optuna.TrialPruned(f"dev {value:.4f} below the median at step {step - 1}")

        for seed in seeds:
            spec = TrialSpec(task, method, shots, seed, seed, params, use_dev=True)
            finals.append(backend.run(spec, on_epoch).value)
        trial.set_user_attr("seed_values", finals)
        return math.fsum(finals) / len(finals)

    def report(study: optuna.Study, _trial: Any) -> None:
        if on_trial is not None:
            on_trial(summarize_sweep(study))

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    stop = optuna.study.MaxTrialsCallback(n_trials, states=states)
    if len(study.get_trials(deepcopy=False, states=states)) < n_trials:
        study.optimize(objective, callbacks=[stop, report])
    return summarize_sweep(study)
