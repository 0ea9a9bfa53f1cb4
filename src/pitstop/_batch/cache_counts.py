"""The cache counters of Ray workers, sent back with their results and added to the
driver's cache statistics.

A `ToolCache` counts each tool call in the process that makes it: a hit, a shared hit,
a miss, a bypass, an error, the run time, the time and cost saved. The tool calls of a
batch on Ray are made by the workers, so after ``execute_batch(..., engine=RayEngine())``
the driver's ``get_cache_stats()`` would miss them. Each worker therefore sends, with
every group of results it streams back, what its counters gained since its previous
group (`CounterCursor.take`), and the driver adds it to its own cache (`absorb`).

Each call is counted once, by the process that made it, so the sum counts every call
once, also when the workers and the driver share one Redis cache. What belongs to the
backend (``size``, ``memory_mb``, ``evictions``, ``expirations``) is not sent: the
driver's figures are those of its own backend (the shared one, with Redis).

When a batch is cancelled, the driver asks each cancelled stream's worker for what its
counters gained since (the calls of the cancelled tasks count, as they do locally); what
a worker gained and did not send before it died is lost with it (its tasks run again
elsewhere and are counted there).

`read_counts` and `absorb` read and write the counters of a `ToolCache` directly: they
belong in it, as ``ToolCache.counters()`` and ``ToolCache.absorb()``. Until then they are
the only code outside `pitstop._cache.cache` that knows its ``_stats``, ``_reasons``
and ``_ToolStats`` fields, and ``tests/distributed/test_cache_counts.py`` fails if
those change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pitstop._cache.cache import ToolCache

__all__ = ["CacheCounts", "CounterCursor", "ToolCounts", "absorb", "read_counts"]

_FIELDS = {  # ToolCounts field -> the ToolCache's _ToolStats attribute
    "hits": "hits", "shared_hits": "shared", "misses": "misses", "bypassed": "bypassed",
    "errors": "errors", "time_saved_s": "time_saved", "cost_saved": "cost_saved",
    "run_time_s": "run_time",
}


@dataclass(frozen=True, slots=True)
class ToolCounts:
    """One tool's cache counters (or what they gained over some time)."""

    hits: int = 0
    """Calls answered without running the tool (stored or shared in flight)."""
    shared_hits: int = 0
    """Hits that joined an identical call in flight."""
    misses: int = 0
    """Calls that ran the tool through the cache."""
    bypassed: int = 0
    """Calls that skipped the cache (TTL 0, not cacheable, disabled, unkeyable)."""
    errors: int = 0
    """Calls whose tool raised."""
    time_saved_s: float = 0.0
    """Measured run time of the results the hits reused."""
    cost_saved: float = 0.0
    """The tool's declared cost, times the hits."""
    run_time_s: float = 0.0
    """Total run time of the calls that ran the tool (for ``avg_latency_s``)."""

    def __add__(self, other: ToolCounts) -> ToolCounts:
        return _combine(self, other, 1)

    def __sub__(self, other: ToolCounts) -> ToolCounts:
        return _combine(self, other, -1)

    def __bool__(self) -> bool:
        return any(getattr(self, f) for f in _FIELDS)


def _combine(a: ToolCounts, b: ToolCounts, sign: int) -> ToolCounts:
    return ToolCounts(
        hits=a.hits + sign * b.hits,
        shared_hits=a.shared_hits + sign * b.shared_hits,
        misses=a.misses + sign * b.misses,
        bypassed=a.bypassed + sign * b.bypassed,
        errors=a.errors + sign * b.errors,
        time_saved_s=a.time_saved_s + sign * b.time_saved_s,
        cost_saved=a.cost_saved + sign * b.cost_saved,
        run_time_s=a.run_time_s + sign * b.run_time_s,
    )


@dataclass(frozen=True, slots=True)
class CacheCounts:
    """A cache's counters per tool, and why results were not stored (or their gains)."""

    tools: Mapping[str, ToolCounts] = field(default_factory=dict)
    """Per tool name."""
    uncacheable: Mapping[str, int] = field(default_factory=dict)
    """Results not stored, per reason (``result_not_json``, ``ttl_zero``, ...)."""

    def __add__(self, other: CacheCounts) -> CacheCounts:
        tools = dict(self.tools)
        for name, counts in other.tools.items():
            tools[name] = tools.get(name, ToolCounts()) + counts
        reasons = dict(self.uncacheable)
        for reason, n in other.uncacheable.items():
            reasons[reason] = reasons.get(reason, 0) + n
        return CacheCounts(tools, reasons)

    def __sub__(self, other: CacheCounts) -> CacheCounts:
        """What was gained since `other` (an earlier reading of the same cache); tools
        and reasons that did not change are left out."""
        tools = {name: gained for name, counts in self.tools.items()
                 if (gained := counts - other.tools.get(name, ToolCounts()))}
        reasons = {reason: more for reason, n in self.uncacheable.items()
                   if (more := n - other.uncacheable.get(reason, 0))}
        return CacheCounts(tools, reasons)

    def __bool__(self) -> bool:
        return bool(self.tools or self.uncacheable)

    @property
    def hits(self) -> int:
        return sum(c.hits for c in self.tools.values())

    @property
    def misses(self) -> int:
        return sum(c.misses for c in self.tools.values())


def read_counts(cache: ToolCache) -> CacheCounts:
    """The counters of `cache` now, without asking its backend anything (cheap)."""
    tools = {name: ToolCounts(**{f: getattr(s, attr) for f, attr in _FIELDS.items()})
             for name, s in cache._stats.items()}
    return CacheCounts(tools, dict(cache._reasons))


def absorb(cache: ToolCache, counts: CacheCounts) -> None:
    """Add counters gained in another process (a Ray worker) to `cache`'s, so that
    ``cache.stats()`` counts those calls too (per tool, and in the totals)."""
    for name, gained in counts.tools.items():
        s = cache._stats.get(name) or cache._new_stats(name)
        for f, attr in _FIELDS.items():
            setattr(s, attr, getattr(s, attr) + getattr(gained, f))
    for reason, n in counts.uncacheable.items():
        cache._reasons[reason] += n


class CounterCursor:
    """Hands out what a cache's counters gained since the previous `take` (a worker's
    cache, whose gains travel to the driver with each group of results)."""

    def __init__(self, cache: ToolCache | None) -> None:
        self.cache = cache
        self._seen = read_counts(cache) if cache is not None else CacheCounts()

    def take(self) -> CacheCounts | None:
        """The gains since the previous take (None when there are none, or no cache)."""
        if self.cache is None:
            return None
        now = read_counts(self.cache)
        gained = now - self._seen
        self._seen = now
        return gained or None

