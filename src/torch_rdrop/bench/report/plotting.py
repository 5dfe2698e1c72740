"""What every plot of the report shares: matplotlib on a file-only backend, panel grids, and axis
labels that name the metric.

>>> metric_label("accuracy", "mean, 95 % CI")
'accuracy (mean, 95 % CI)'
>>> metric_label("perplexity", "mean over seeds", greater_is_better=False)
'perplexity (mean over seeds); lower is better'
>>> curve_label("dev_macro_f1", "macro_f1"), curve_label("accuracy", "accuracy")
('dev macro_f1', 'accuracy')
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["curve_label", "grid_axes", "import_or_explain", "metric_label", "pyplot"]


def import_or_explain(name: str) -> Any:
    """Import ``name`` (pandas, matplotlib), or say which extra installs it."""
    try:
        return __import__(name)
    except ImportError as exc:
        raise ImportError(f"the report needs {name}: pip install 'torch-rdrop[bench]'") from exc


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend."""
    matplotlib = import_or_explain("matplotlib")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def grid_axes(plt: Any, count: int, size: tuple[float, float] = (4.5, 3.4)) -> tuple[Any, list]:
    """A figure of ``count`` panels, three to a row; the unused cells are hidden."""
    cols = min(3, count)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def metric_label(metric: str, what: str = "", greater_is_better: bool = True) -> str:
    """An axis label naming the metric, what was taken of it, and its direction when lower is
    better."""
    label = f"{metric} ({what})" if what else metric
    return label if greater_is_better else f"{label}; lower is better"


def curve_label(name: str, metric: str) -> str:
    """How a per-epoch curve is named on an axis: ``dev_<metric>`` is the metric on the dev split,
    ``<metric>`` the metric as the runs scored it."""
    return f"dev {metric}" if name == f"dev_{metric}" else name
