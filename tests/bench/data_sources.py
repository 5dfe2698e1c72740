"""Shared by the bench tests: load a data set or skip when its source is not installed.

With ``TORCH_RDROP_REQUIRE_DATA=1`` (set by CI, which installs every source) a missing source is
a failure instead of a skip, so a broken install step cannot pass silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from optional import missing
from torch_rdrop.bench.tasks.data.sources import SourceMissingError


def load_or_skip(loader: Callable[[], Any]) -> Any:
    """The data set, or a skip naming the missing source and its install command."""
    try:
        return loader()
    except SourceMissingError as error:
        missing(f"data source not installed: {error}")


def check_fixed_split(data: Any) -> None:
    """The fixed split is a partition of the data set."""
    assert np.intersect1d(data.train, data.test).size == 0
    assert data.train.size + data.test.size == len(data)
