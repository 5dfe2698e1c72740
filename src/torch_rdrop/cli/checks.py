"""The trial backend a command names, and the checks of its tasks, K and runs that come before
anything is stored (each gathers all its failures into one ``error:`` line)."""

from __future__ import annotations

from typing import Any

from torch_rdrop.bench.engine.axes import parse_names
from torch_rdrop.bench.engine.grid import Grid
from torch_rdrop.bench.engine.spec import TrialBackend, load_backend
from torch_rdrop.bench.tasks.methods import method_names
from torch_rdrop.cli.common import CommandError

__all__ = ["check_data", "check_grid_shots", "check_shots", "known_methods", "trial_backend"]


def known_methods(backend: TrialBackend) -> tuple[str, ...]:
    """The registered methods, then any other method the backend runs."""
    registered = method_names()
    return registered + tuple(m for m in backend.methods if m not in registered)


def trial_backend(ref: str, methods: str | None = None) -> TrialBackend:
    """The backend ``ref`` names; with ``methods``, an error unless it runs each of them."""
    backend = load_backend(ref)
    if methods is not None:
        chosen = parse_names(methods, known_methods(backend), "methods")
        unsupported = [m for m in chosen if m not in backend.methods]
        if unsupported:
            raise CommandError(
                f"methods: backend {backend.name!r} does not run {', '.join(unsupported)}; "
                f"it runs {', '.join(backend.methods)}"
            )
    return backend


def check_data(backend: TrialBackend, tasks: tuple[str, ...]) -> None:
    """Read every task's data before anything is stored; one error line for all that fail."""
    if backend.check_data is None:
        return
    problems = []
    for task in tasks:
        try:
            backend.check_data(task)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise CommandError("; ".join(problems))


def check_shots(
    backend: TrialBackend,
    tasks: tuple[str, ...],
    shots: tuple[int | None, ...],
    params: dict[str, Any] | None = None,
    use_dev: bool = False,
) -> None:
    """Check that every task's training split gives every K (and the dev split with ``use_dev``)
    before anything is stored; one error line for all that fail."""
    if backend.check_shots is None:
        return
    problems = []
    for task in tasks:
        for k in shots:
            try:
                backend.check_shots(task, k, params or {}, use_dev)
            except ValueError as exc:
                problems.append(str(exc))
                break  # a task's first failing K is enough
    if problems:
        raise CommandError("; ".join(problems))


def check_grid_shots(backend: TrialBackend, grid: Grid) -> None:
    """:func:`check_shots` for every distinct setting of ``grid`` (a run's parameters can ask
    for a dev split carved from the training data)."""
    seen: set[str] = set()
    for point in grid.points():
        params = dict(point.spec().params)
        key = repr(sorted(params.items()))
        if key not in seen:
            seen.add(key)
            check_shots(backend, grid.tasks, grid.shots, params)
