"""A results book: one report over several studies of one store (``rdrop report --study a,b``).

Each study becomes a section: the commands that filled it (remembered by ``rdrop bench`` and
``rdrop sweep``), then, for a benchmark grid, the tables, win/tie/loss, ranking, cost and plots
of :mod:`torch_rdrop.bench.report.grid_markdown` (its "did it learn?" gate finds reference runs
in any study of the book, e.g. one named ``reference``); for a sweep, its best trials and a plot
of the dev metric against each hyper-parameter. ``runs.csv`` holds every finished grid run with
its study; an optional preface (hand-written conclusions) opens ``report.md``. Studies named as
the *appendix* come last, under "Appendix: earlier studies" and an optional note, one level deeper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch_rdrop.bench.engine.runner import RunRecord
from torch_rdrop.bench.engine.store import (
    distinct_commands,
    import_optuna,
    load_existing_study,
)
from torch_rdrop.bench.report.grid import build_report, load_runs
from torch_rdrop.bench.report.grid_files import runs_table
from torch_rdrop.bench.report.grid_markdown import grid_markdown, markdown_table
from torch_rdrop.bench.report.grid_plots import write_plots
from torch_rdrop.bench.report.plotting import import_or_explain, metric_label, pyplot
from torch_rdrop.bench.report.recipes import is_recipe_study, recipe_markdown

if TYPE_CHECKING:
    import optuna

__all__ = ["Section", "load_section", "write_book"]


@dataclass(frozen=True)
class SweepTrial:
    """One finished sweep trial: its number, state, mean dev value and hyper-parameters."""

    number: int
    state: str
    value: float
    params: dict[str, Any]
    seed_values: Sequence[float] = ()


@dataclass(frozen=True)
class Section:
    """One study of the book: a grid (``records``) or a sweep (``trials``)."""

    study: str
    kind: str
    commands: Sequence[str] = ()
    records: Sequence[RunRecord] = ()
    complete: int = 0
    trials: Sequence[SweepTrial] = ()
    attrs: dict[str, Any] = field(default_factory=dict)
    greater_is_better: bool = True


def load_section(storage: optuna.storages.BaseStorage, study_name: str) -> Section:
    """Read one study (grid or sweep) from ``storage``.

    Raises ValueError naming the studies present when ``study_name`` is not one of them.
    """
    optuna = import_optuna()
    study = load_existing_study(storage, study_name)
    attrs = dict(study.user_attrs)
    commands = distinct_commands(attrs.get("commands", ()))
    if attrs.get("kind") == "sweep":
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        trials = [
            SweepTrial(
                t.number,
                t.state.name.lower(),
                math.nan if t.value is None else float(t.value),
                dict(t.params),
                tuple(t.user_attrs.get("seed_values", ())),
            )
            for t in study.get_trials(deepcopy=False, states=states)
        ]
        greater = study.direction == optuna.study.StudyDirection.MAXIMIZE
        return Section(study_name, "sweep", commands, trials=trials, attrs=attrs,
                       greater_is_better=greater)  # fmt: skip
    records, complete = load_runs(storage, study_name)
    return Section(study_name, "grid", commands, records, complete, attrs=attrs)


def _commands_block(commands: Sequence[str]) -> list[str]:
    if not commands:
        return ["(no command recorded for this study)", ""]
    return ["```bash", *commands, "```", ""]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def _grid_section(
    section: Section,
    out: Path,
    written: list[Path],
    references: Sequence[RunRecord] = (),
    level: int = 3,
) -> list[str]:
    records = section.records
    if not records:
        return ["No finished runs yet.", ""]
    if is_recipe_study(records):
        return recipe_markdown(records)
    dev_only = all(dict(r.point.params).get("score_on") == "dev" for r in records)
    report = build_report(records, references=references)
    plots = write_plots(report, records, out, prefix=f"{_slug(section.study)}-")
    written += plots
    seconds = sum(r.result.seconds for r in records)
    lines = [
        f"{len(records)} finished grid points ({section.complete} COMPLETE trials; "
        f"{section.complete - len(records)} duplicates ignored); training time {seconds:.0f} s "
        "in total.",
        "",
    ]
    if dev_only:
        lines += [
            "Every value below is a **dev** score (`score_on=dev`): these runs choose a setting; "
            "the test split was never scored.",
            "",
        ]
    return lines + grid_markdown(report, [p.name for p in plots], level=level)


def _sweep_metric(section: Section) -> str:
    """The metric of the swept task, or ``metric`` when the task is not in the catalog."""
    from torch_rdrop.bench.tasks import get_task

    try:
        return get_task(str(section.attrs.get("task"))).metric
    except (KeyError, ValueError):
        return "metric"


def _plot_sweep(section: Section, path: Path) -> bool:
    done = [t for t in section.trials if t.state == "complete"]
    names = sorted({n for t in done for n in t.params})
    if not done or not names:
        return False
    plt = pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        points = [(t.params[name], t.value) for t in done if name in t.params]
        ax.scatter([p[0] for p in points], [p[1] for p in points], color="tab:blue")
        if name in ("alpha", "epsilon", "step_size", "adv_lr"):
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(metric_label(f"dev {_sweep_metric(section)}", "mean over seeds",
                                   section.greater_is_better))  # fmt: skip
    fig.suptitle(f"sweep {section.study}: {section.attrs.get('method')} on "
                 f"{section.attrs.get('task')}, K = {section.attrs.get('shots')}")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _sweep_section(section: Section, out: Path, written: list[Path], top: int = 10) -> list[str]:
    attrs = section.attrs
    sign = -1.0 if section.greater_is_better else 1.0  # best first, in the study's direction
    done = sorted(
        (t for t in section.trials if t.state == "complete"),
        key=lambda t: sign * t.value,
    )
    pruned = sum(t.state == "pruned" for t in section.trials)
    lines = [
        f"TPE sweep of `{attrs.get('method')}` on `{attrs.get('task')}` at K = "
        f"{attrs.get('shots')}, scored on a dev split carved from the training examples (the "
        f"test split is not used): {len(done)} complete and {pruned} pruned trials "
        "(median pruning on the per-epoch dev metric).",
        "",
    ]
    rows = []
    for t in done[:top]:
        shown = " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items()
        )
        seeds = ", ".join(f"{v:.4f}" for v in t.seed_values)
        rows.append([str(t.number), f"{t.value:.4f}", shown, seeds])
    lines += [*markdown_table(["trial", "mean dev", "params", "per seed"], rows), ""]
    path = out / f"{_slug(section.study)}-sweep.png"
    if _plot_sweep(section, path):
        lines += [f"![{path.stem}]({path.name})", ""]
        written.append(path)
    return lines


def _section_lines(
    section: Section, out: Path, plots: list[Path], every_run: Sequence[RunRecord], level: int
) -> list[str]:
    """One study's heading at ``level``, its commands, then its grid or sweep body."""
    lines = [f"{'#' * level} {section.study}", "", *_commands_block(section.commands)]
    if section.kind == "sweep":
        return lines + _sweep_section(section, out, plots)
    return lines + _grid_section(section, out, plots, every_run, level=level + 1)


def write_book(
    sections: Sequence[Section],
    out: Path | str,
    title: str,
    preface: str = "",
    report_command: str = "",
    *,
    appendix: Sequence[str] = (),
    appendix_note: str = "",
) -> list[Path]:
    """Write ``report.md`` (a section per study), ``runs.csv`` (every grid run, with its study)
    and the plots into ``out``; return the paths written.

    The studies named in ``appendix`` (each one of ``sections``) are written after the others, in
    the order of ``sections``, under a level-2 heading "Appendix: earlier studies" followed by
    ``appendix_note`` if given, their own headings one level deeper.
    """
    if not sections:
        raise ValueError("sections must name at least one study")
    names = [s.study for s in sections]
    unknown = [name for name in appendix if name not in names]
    if unknown:
        raise ValueError(
            f"appendix study {unknown[0]!r} is not one of the report's studies "
            f"({', '.join(names)}): name it in --study too"
        )
    main = [s for s in sections if s.study not in appendix]
    later = [s for s in sections if s.study in appendix]
    sections = [*main, *later]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots: list[Path] = []
    lines = [f"# {title}", ""]
    if preface.strip():
        lines += [preface.strip(), ""]
    lines += [
        "## How to regenerate",
        "",
        "Each study was filled by the commands below (re-running one resumes it and runs only "
        "what is missing); this report was written by the last command.",
        "",
        "```bash",
    ]
    for section in sections:
        lines += [f"# {section.study}", *section.commands]
    lines += [report_command or "rdrop report ...", "```", ""]
    listed = "Studies: " + ", ".join(f"[{s.study}](#{_slug(s.study)})" for s in main)
    if later:
        listed += "; in the appendix: " + ", ".join(
            f"[{s.study}](#{_slug(s.study)})" for s in later
        )
    lines += [listed, ""]
    every_run = [r for s in sections if s.kind == "grid" for r in s.records]  # for the gate
    for section in main:
        lines += _section_lines(section, out, plots, every_run, level=2)
    if later:
        lines += ["## Appendix: earlier studies", ""]
        if appendix_note.strip():
            lines += [appendix_note.strip(), ""]
        for section in later:
            lines += _section_lines(section, out, plots, every_run, level=3)
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    tables = [
        runs_table(s.records).assign(study=s.study)
        for s in sections
        if s.kind == "grid" and s.records
    ]
    pd = import_or_explain("pandas")
    if tables:
        frame = pd.concat(tables, ignore_index=True)
        frame = frame[["study", *[c for c in frame.columns if c != "study"]]]
        frame.to_csv(out / "runs.csv", index=False)
    return [out / "report.md", *([out / "runs.csv"] if tables else []), *plots]
