"""The files of one grid's report: ``report.md``, ``runs.csv`` and the PNG plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch_rdrop.bench.engine.axes import shots_label
from torch_rdrop.bench.engine.runner import RunRecord
from torch_rdrop.bench.report.grid import Report, build_report
from torch_rdrop.bench.report.grid_markdown import grid_markdown
from torch_rdrop.bench.report.grid_plots import write_plots
from torch_rdrop.bench.report.plotting import import_or_explain

if TYPE_CHECKING:
    import pandas

__all__ = ["runs_table", "write_report"]


def runs_table(records: Sequence[RunRecord]) -> pandas.DataFrame:
    """One row per finished grid point: task, method, shots, seed, params, metrics, costs."""
    pd = import_or_explain("pandas")
    rows = []
    for record in records:
        point, result = record.point, record.result
        row: dict[str, Any] = {
            "task": point.task,
            "method": point.method,
            "shots": shots_label(point.shots),
            "seed": point.seed,
            "metric": result.metric,
            "value": result.value,
        }
        row.update({f"param_{k}": v for k, v in point.params})
        row.update({f"metric_{k}": v for k, v in result.metrics.items()})
        row.update(
            {
                "epochs": len(result.curves.get(result.metric, [])),
                "seconds": round(result.seconds, 3),
                "peak_memory_mb": round(result.peak_memory_mb, 1),
                "trial": record.trial_number,
            }
        )
        row.update({f"version_{k}": v for k, v in result.versions.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _markdown(report: Report, title: str, notes: Sequence[str], plots: Sequence[str]) -> str:
    lines = [f"# {title}", "", *notes, "", *grid_markdown(report, plots)]
    return "\n".join(lines)


def write_report(
    records: Sequence[RunRecord], out: Path | str, title: str, notes: Sequence[str] = ()
) -> list[Path]:
    """Write ``report.md``, ``runs.csv`` and the plots into ``out``; return the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(records)
    runs_table(records).to_csv(out / "runs.csv", index=False)
    plots = write_plots(report, records, out)
    markdown = _markdown(report, title, notes, [p.name for p in plots])
    (out / "report.md").write_text(markdown, encoding="utf-8")
    return [out / "report.md", out / "runs.csv", *plots]
