"""Test-wide settings: no hub access, deterministic seeds, few threads (2-core machines)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

from optional import missing
from torch_rdrop.bench.tasks.data.sources import SourceMissingError

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A test that needs a data source which is not installed skips, naming the install command
    (or fails under ``TORCH_RDROP_REQUIRE_DATA=1``: see ``optional.py``). Tests that expect the
    error catch it themselves with ``pytest.raises``."""
    try:
        return (yield)
    except SourceMissingError as error:
        missing(f"data source not installed: {error}")
