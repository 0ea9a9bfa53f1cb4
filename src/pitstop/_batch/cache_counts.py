"""The cache counters of Ray workers, sent back with their results and added to the
driver's cache statistics.

A `ToolCache` counts each tool call in the process that makes it: a hit, a shared hit,
a miss, a bypass, an error, the run time, the time and cost saved. The tool calls of a
batch on Ray are made by the workers, so after ``execute_batch(..., engine=RayEngine())``
the driver's ``get_cache_stats()`` would miss them. Each worker therefore sends, with
every group of results it streams back, what its counters gained since its previous
group (`CounterCursor.take`), and the driver adds it to its own cache (`ToolCache.absorb`).

Each call is counted once, by the process that made it, so the sum counts every call
once, also when the workers and the driver share one Redis cache. What belongs to the
backend (``size``, ``memory_mb``, ``evictions``, ``expirations``) is not sent: the
driver's figures are those of its own backend (the shared one, with Redis).

When a batch is cancelled, the driver asks each cancelled stream's worker for what its
counters gained since (the calls of the cancelled tasks count, as they do locally); what
a worker gained and did not send before it died is lost with it (its tasks run again
elsewhere and are counted there).

The counters are read with `ToolCache.counters` and added with `ToolCache.absorb`
(`pitstop._cache.counts` holds their value types).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pitstop._cache.counts import CacheCounts

if TYPE_CHECKING:
    from pitstop._cache.cache import ToolCache

__all__ = ["CounterCursor"]


class CounterCursor:
    """Hands out what a cache's counters gained since the previous `take` (a worker's
    cache, whose gains travel to the driver with each group of results)."""

    def __init__(self, cache: ToolCache | None) -> None:
        self.cache = cache
        self._seen = cache.counters() if cache is not None else CacheCounts()

    def take(self) -> CacheCounts | None:
        """The gains since the previous take (None when there are none, or no cache)."""
        if self.cache is None:
            return None
        now = self.cache.counters()
        gained = now - self._seen
        self._seen = now
        return gained or None

