"""`TraceRecord`, one tool call as the cache saw it, and `replay`, which answers
"what would these calls have saved under other TTLs?" (the notebook's TTL tuner).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

__all__ = ["Outcome", "TraceRecord"]

Outcome = Literal["hit", "shared", "miss", "error", "bypass"]


class TraceRecord(NamedTuple):
    """One tool call that went through the cache.

    A NamedTuple: the cache appends one per call on its hot path, as cheaply as a tuple.
    """

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
    labels: tuple[str, ...] = ()
    """The entry's labels (tool name and ``param:value``), when the call was keyed."""

    @property
    def hit(self) -> bool:
        """True when the tool did not run for this call."""
        return self.outcome == "hit" or self.outcome == "shared"
