"""`replay`: what the recorded tool calls would have done under other TTLs.

The TTL tuner's engine (`pitstop.notebook.TTLTuner`), a pure function of the trace
(``agent.cache.trace()``) and the candidate TTLs; no tool is called. A call is served
from the cache when a result for the same key was produced by an earlier call within
the TTL:

* a storable call that is not served makes its result available from the moment it
  starts (identical calls that arrive while it runs join it, as the cache's
  single-flight does) until ``start + latency + ttl``;
* a served call saves the latency of the run it reuses and the tool's cost, and is
  as *stale* as the time since that result was produced (0 when it joined a run
  still in flight).

Not modelled: the cache's size and memory bounds (LRU evictions), invalidations and
other processes sharing the cache. The figures are what a cache large enough to hold
the working set would do: an upper bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pitstop._cache.trace import TraceRecord

__all__ = ["ReplayFigures", "ToolFigures", "hit_rate_curve", "replay"]


@dataclass(frozen=True, slots=True)
class ToolFigures:
    """One tool's calls replayed under one TTL."""

    ttl: float
    calls: int
    """Calls of the tool in the trace."""
    hits: int
    """Calls that would have been served from the cache."""
    time_saved_s: float
    cost_saved: float
    mean_age_s: float
    """Mean age of the results served, in seconds (0 with no hits)."""
    max_age_s: float
    """The oldest result served, in seconds."""

    @property
    def hit_rate(self) -> float:
        """hits / calls (every call counts, including those that could not be cached)."""
        return self.hits / self.calls if self.calls else 0.0


@dataclass(frozen=True, slots=True)
class ReplayFigures:
    """The whole trace replayed: totals, and `tools` per tool."""

    calls: int
    hits: int
    time_saved_s: float
    cost_saved: float
    mean_age_s: float
    max_age_s: float
    tools: Mapping[str, ToolFigures]

    @property
    def hit_rate(self) -> float:
        return self.hits / self.calls if self.calls else 0.0


def replay(
    trace: Iterable[TraceRecord],
    ttls: Mapping[str, float] | float | Callable[[str], float],
) -> ReplayFigures:
    """Replay `trace` under candidate TTLs (see the module docstring).

    Args:
        trace: the recorded calls, e.g. ``agent.cache.trace()`` (sorted by time here).
        ttls: seconds per tool name (tools left out keep the TTL they were recorded
            with), one TTL for every tool, or a function of the tool's name.
            0 means never cached.
    """
    def ttl_of(r: TraceRecord) -> float:
        if isinstance(ttls, Mapping):
            return float(ttls.get(r.tool, r.ttl))
        if callable(ttls):
            return float(ttls(r.tool))
        return float(ttls)

    stored: dict[str, tuple[float, float, float]] = {}  # key -> (ready_at, expires_at, latency)
    acc: dict[str, list[float]] = {}  # tool -> [ttl, calls, hits, time, cost, age_sum, age_max]
    for r in sorted(trace, key=lambda r: r.time):
        a = acc.get(r.tool)
        if a is None:
            a = acc[r.tool] = [ttl_of(r), 0, 0, 0.0, 0.0, 0.0, 0.0]
        a[1] += 1
        ttl = a[0]
        if ttl <= 0 or not r.storable or r.key is None:
            continue
        entry = stored.get(r.key)
        if entry is not None and r.time < entry[1]:
            age = max(0.0, r.time - entry[0])
            a[2] += 1
            a[3] += entry[2]
            a[4] += r.cost
            a[5] += age
            a[6] = max(a[6], age)
        else:
            ready = r.time + r.latency
            stored[r.key] = (ready, ready + ttl, r.latency)
    tools = {
        tool: ToolFigures(ttl=a[0], calls=int(a[1]), hits=int(a[2]), time_saved_s=a[3],
                          cost_saved=a[4], mean_age_s=a[5] / a[2] if a[2] else 0.0,
                          max_age_s=a[6])
        for tool, a in sorted(acc.items())
    }
    hits = sum(t.hits for t in tools.values())
    return ReplayFigures(
        calls=sum(t.calls for t in tools.values()),
        hits=hits,
        time_saved_s=sum(t.time_saved_s for t in tools.values()),
        cost_saved=sum(t.cost_saved for t in tools.values()),
        mean_age_s=sum(t.mean_age_s * t.hits for t in tools.values()) / hits if hits else 0.0,
        max_age_s=max((t.max_age_s for t in tools.values()), default=0.0),
        tools=tools,
    )


def hit_rate_curve(trace: Sequence[TraceRecord], tool: str, ttls: Sequence[float]) -> list[float]:
    """The hit rate of `tool` replayed under each TTL in `ttls`."""
    mine = [r for r in trace if r.tool == tool]
    return [replay(mine, {tool: t}).tools[tool].hit_rate if mine else 0.0 for t in ttls]
