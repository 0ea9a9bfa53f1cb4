"""`TraceRecord`, one tool call as the cache saw it, and `replay`, which answers
"what would these calls have saved under other TTLs?" (the notebook's TTL tuner).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Outcome", "ReplayResult", "ToolReplay", "TraceRecord", "replay"]

Outcome = Literal["hit", "shared", "miss", "error", "bypass"]


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One tool call that went through the cache."""

    time: float
    """When the call reached the cache, in seconds on the cache's clock."""
    tool: str
    """The tool's name."""
    key: str | None
    """The canonical key, e.g. ``search(query='Python')`` (None: the call was not keyed,
    because the cache was disabled, the tool is not cacheable or an argument could not
    be written down)."""
    outcome: Outcome
    """``hit`` (served from the cache), ``shared`` (joined an identical call in flight),
    ``miss`` (ran the tool), ``error`` (ran the tool, which raised) or ``bypass`` (ran the
    tool without the cache: TTL 0, disabled, not cacheable, unkeyable arguments)."""
    latency: float
    """Seconds the tool ran for this call; for ``hit`` and ``shared``, the measured
    latency of the run whose result was reused (what the call would have cost)."""
    cost: float
    """The tool's declared cost per call (0 when it declares none)."""
    storable: bool
    """Whether this result could be cached under a positive TTL: False for errors,
    results that are not JSON, tools with ``cacheable=False`` and unkeyable arguments."""
    ttl: float
    """The TTL in force for the tool at this call, in seconds."""
    labels: tuple[str, ...] = field(default=())
    """The entry's labels (tool name and ``param:value``), when the call was keyed."""

    @property
    def hit(self) -> bool:
        """True when the tool did not run for this call."""
        return self.outcome == "hit" or self.outcome == "shared"


@dataclass(frozen=True, slots=True)
class ToolReplay:
    """What one tool's calls would have done under a candidate TTL."""

    ttl: float
    """The TTL replayed, in seconds."""
    calls: int
    """Calls of this tool in the trace."""
    hits: int
    """Calls that would have been served from the cache."""
    time_saved_s: float
    """Seconds of tool time the hits would have saved."""
    cost_saved: float
    """Declared cost the hits would have saved."""

    @property
    def hit_rate(self) -> float:
        return self.hits / self.calls if self.calls else 0.0


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The whole trace replayed under candidate TTLs."""

    calls: int
    """Calls replayed."""
    hits: int
    """Calls that would have been served from the cache."""
    time_saved_s: float
    """Seconds of tool time saved."""
    cost_saved: float
    """Declared cost saved."""
    tools: Mapping[str, ToolReplay]
    """The same per tool."""

    @property
    def hit_rate(self) -> float:
        return self.hits / self.calls if self.calls else 0.0


def replay(
    records: Iterable[TraceRecord],
    ttl: float | Mapping[str, float] | Callable[[str], float],
    *,
    default_ttl: float = 0.0,
) -> ReplayResult:
    """Replay recorded calls under candidate TTLs.

    A storable call that misses makes its result available from the moment it starts
    (identical calls that arrive while it runs share it, as the cache's single-flight
    does) until ``start + latency + ttl``. Calls keep their recorded start times (as
    if the model had asked for them at the same moments). Size bounds, invalidations
    and other processes are not modelled, so the figures are those of a cache large
    enough to hold the working set.

    Args:
        records: the trace, e.g. ``cache.trace()`` (sorted by time here).
        ttl: one TTL for every tool, a mapping of tool name to TTL, or a function.
        default_ttl: the TTL of tools the mapping leaves out.
    """
    if callable(ttl):
        ttl_of = ttl
    elif isinstance(ttl, Mapping):
        table = dict(ttl)

        def ttl_of(name: str) -> float:
            return table.get(name, default_ttl)
    else:
        single = float(ttl)

        def ttl_of(name: str) -> float:
            return single

    ttls: dict[str, float] = {}
    expiry: dict[str, tuple[float, float]] = {}  # key -> (expires_at, latency of the run)
    per_tool: dict[str, list[float]] = {}  # name -> [calls, hits, time_saved, cost_saved]
    for r in sorted(records, key=lambda r: r.time):
        t = ttls.get(r.tool)
        if t is None:
            t = ttls[r.tool] = ttl_of(r.tool)
        acc = per_tool.setdefault(r.tool, [0, 0, 0.0, 0.0])
        acc[0] += 1
        if not r.storable or r.key is None or t <= 0:
            continue
        stored = expiry.get(r.key)
        if stored is not None and r.time < stored[0]:
            acc[1] += 1
            acc[2] += stored[1]
            acc[3] += r.cost
        else:
            expiry[r.key] = (r.time + r.latency + t, r.latency)
    tools = {
        name: ToolReplay(ttls[name], int(a[0]), int(a[1]), a[2], a[3])
        for name, a in per_tool.items()
    }
    return ReplayResult(
        calls=sum(x.calls for x in tools.values()),
        hits=sum(x.hits for x in tools.values()),
        time_saved_s=sum(x.time_saved_s for x in tools.values()),
        cost_saved=sum(x.cost_saved for x in tools.values()),
        tools=tools,
    )
