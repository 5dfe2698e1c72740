"""The root conftest retries ``linecache.checkcache`` when an entry vanishes while it runs."""

from __future__ import annotations

import linecache


class _DropsAnotherOnLookup(str):
    """A file name whose lookup in the cache drops another entry (as a finalizer would)."""

    other = ""
    armed = False

    def __hash__(self) -> int:
        if self.armed:
            type(self).armed = False
            linecache.cache.pop(self.other, None)
        return str.__hash__(self)

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other)


def test_an_entry_dropped_during_checkcache_does_not_raise() -> None:
    first, second = _DropsAnotherOnLookup("<generated a>"), "<generated b>"
    _DropsAnotherOnLookup.other = second
    linecache.cache.clear()  # the dropped entry must come after the one that drops it
    linecache.cache[first] = (1, None, ["x\n"], first)
    linecache.cache[second] = (1, None, ["y\n"], second)
    _DropsAnotherOnLookup.armed = True
    linecache.checkcache()  # Python 3.11's own raises KeyError: '<generated b>'
    assert second not in linecache.cache
