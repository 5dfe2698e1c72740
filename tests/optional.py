"""What a test does when something optional is not installed: skip, or fail under CI.

A data set or service that needs a system package (Fashion-MNIST from Debian, the PostgreSQL
server) may be absent on a user's machine: its tests skip with a reason that names the install
command. With ``TORCH_RDROP_REQUIRE_DATA=1`` (set by ``.ci/run``, which installs everything) the
same absence fails the test, so a broken install step cannot pass as a skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE = "TORCH_RDROP_REQUIRE_DATA"


def required() -> bool:
    """True when every optional source must be present (CI)."""
    return os.environ.get(REQUIRE) == "1"


def missing(reason: str) -> NoReturn:
    """Skip the test with ``reason``, or fail it when :func:`required`."""
    if required():
        pytest.fail(f"{reason} (and {REQUIRE}=1 requires it)", pytrace=False)
    pytest.skip(reason)
