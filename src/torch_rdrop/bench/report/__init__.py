"""What the finished runs show: statistics, the report of a grid, the book of several studies.

- :mod:`~torch_rdrop.bench.report.stats` — paired tests, win/tie/loss and average ranks;
- :mod:`~torch_rdrop.bench.report.grid` — the statistics of one grid, written by
  :mod:`~torch_rdrop.bench.report.grid_files` as ``report.md``, ``runs.csv`` and plots;
- :mod:`~torch_rdrop.bench.report.book` — one report over several grids and sweeps of a store.

The common entry points are importable from here.
"""

from torch_rdrop.bench.report.grid import build_report, load_runs
from torch_rdrop.bench.report.grid_files import write_report

__all__ = ["build_report", "load_runs", "write_report"]
