"""Settings for every collected test, the doctests under ``src/`` as well as ``tests/``.

Every doctest resets a debugger, which calls ``linecache.checkcache()``. In Python 3.11 that
lists the cached file names and then reads each one back; SQLAlchemy (under optuna's storage)
drops the entries of its generated code from a weakref finalizer, so a garbage collection
between the two raises ``KeyError`` and fails an unrelated doctest now and then. The check is
retried with a fresh list of names.
"""

from __future__ import annotations

import linecache

_checkcache = linecache.checkcache


def _checkcache_retried(filename: str | None = None) -> None:
    """``linecache.checkcache``, retried when an entry vanishes while it runs."""
    for _ in range(9):
        try:
            return _checkcache(filename)
        except KeyError:
            continue
    return _checkcache(filename)


linecache.checkcache = _checkcache_retried
