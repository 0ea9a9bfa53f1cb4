"""A cache's counters as values: per tool, added and subtracted.

A `ToolCache` counts each tool call in the process that makes it. `ToolCache.counters`
reads them as a `CacheCounts`, and `ToolCache.absorb` adds counts gained elsewhere (a Ray
worker's calls, sent back with its results), so one process's statistics can cover a
batch that ran in many. What belongs to the backend (size, memory, evictions,
expirations) is not here: it is the backend's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["STATS_FIELDS", "CacheCounts", "ToolCounts"]

STATS_FIELDS = {  # ToolCounts field -> the ToolCache's _ToolStats attribute
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
        return any(getattr(self, f) for f in STATS_FIELDS)


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
