"""The small interface every cache backend implements, and the outage guard.

A backend stores entries (a result's payload with its tool, labels, measured latency,
size and the time it was written) under string keys, and enforces both bounds at every
insert by evicting the least recently used entries. `ToolCache` does everything else:
keys, single-flight, statistics and the trace.

**Freshness is judged at read time.** An entry keeps the time it was written, not an
expiry: a lookup or a sweep asks `Freshness` for the TTL of the entry's tool *now*, so
lowering a TTL expires results already stored, and raising one keeps results that
are still stored fresh for longer.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from pitstop._cache.keys import decode
from pitstop._redact import redact_text, redact_url

__all__ = ["Backend", "BackendGuard", "Entry", "Freshness", "Hit", "LocalAsyncForms", "Matcher",
           "read_hit"]

logger = logging.getLogger("pitstop._cache")

Matcher = Callable[[str, tuple[str, ...]], bool]
"""``matcher(tool_name, labels)``: True for the entries an invalidation removes."""

RETRY_INTERVAL_S = 1.0
"""After a backend failure, seconds (on the cache's clock) before it is tried again."""


class Hit(NamedTuple):
    """A fresh entry found by `Backend.get`."""

    value: Any
    """The result, as a copy the caller owns (or an immutable scalar)."""
    latency: float
    """Seconds the run that produced it took."""
    labels: tuple[str, ...]
    """The entry's labels."""


class _DamagedEntry(Exception):
    """A stored entry that cannot be read back (internal: the backend drops it)."""


def read_hit(value_text: str | bytes | None, latency: Any, labels: Any, *,
             value: Any = None) -> Hit:
    """A `Hit` from stored parts, checked: JSON text (or an already decoded `value`),
    a finite latency >= 0 and a list of label strings.

    Raises:
        _DamagedEntry: any part is not what pitstop writes.
    """
    try:
        if value_text is not None:
            value = decode(value_text)  # JSON only: nothing is ever unpickled
        if isinstance(labels, (str, bytes)):
            labels = decode(labels)
    except (ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise _DamagedEntry(f"not JSON ({type(exc).__name__})") from None
    if (isinstance(latency, bool) or not isinstance(latency, (int, float))
            or not 0 <= latency < float("inf")):
        raise _DamagedEntry(f"latency {latency!r:.40} is not a duration")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise _DamagedEntry(f"labels {labels!r:.40} are not a list of strings")
    return Hit(value, float(latency), tuple(labels))


class Entry(NamedTuple):
    """What `ToolCache` asks a backend to store."""

    key: str
    tool: str
    payload: Any
    """JSON text, or (memory backend only) an immutable scalar kept as it is."""
    is_text: bool
    """True when `payload` is JSON text to decode on every hit."""
    size: int
    """Bytes the entry counts against `max_memory_mb`: payload, key and labels."""
    labels: tuple[str, ...]
    latency: float
    stored_at: float
    """When it was written, on the cache's clock."""


class _TTLSource(Protocol):
    default_ttl: float
    tool_specific_ttl: dict[str, float]


class Freshness:
    """The TTLs in force, read from the live `CacheConfig` at every question.

    An entry written at ``stored_at`` is fresh while ``stored_at + ttl > now``, with
    the TTL its tool has *now*.
    """

    def __init__(self, config: _TTLSource) -> None:
        self.config = config

    def ttl(self, tool: str) -> float:
        """Seconds a result of `tool` stays fresh (a negative TTL counts as 0)."""
        cfg = self.config
        ttl = cfg.tool_specific_ttl.get(tool)
        if ttl is None:
            ttl = cfg.default_ttl
        return ttl if ttl > 0 else 0.0

    def cutoff(self, tool: str, now: float) -> float:
        """Entries of `tool` written at or before this time are stale at `now`."""
        return now - self.ttl(tool)

    def fresh(self, tool: str, stored_at: float, now: float) -> bool:
        """True when an entry of `tool` written at `stored_at` may be served at `now`."""
        return stored_at > self.cutoff(tool, now)

    def overrides(self) -> tuple[float, dict[str, float]]:
        """``(default TTL, {tool: TTL})`` in force now, for backends that sweep remotely."""
        cfg = self.config
        return max(cfg.default_ttl, 0.0), {
            t: max(v, 0.0) for t, v in cfg.tool_specific_ttl.items()
        }


class _SyncCalls(Protocol):
    def invalidate(self, matcher: Matcher, now: float) -> int: ...
    def clear(self, now: float) -> int: ...
    def usage(self, now: float) -> tuple[int, int]: ...


class LocalAsyncForms:
    """The async forms of a backend whose sync calls are local and quick (memory, a
    SQLite file): they are the sync calls."""

    removed_later = 0
    """Never: a local invalidation is counted when it is asked for."""

    async def ainvalidate(self: _SyncCalls, matcher: Matcher, now: float) -> int:
        return self.invalidate(matcher, now)

    async def aclear(self: _SyncCalls, now: float) -> int:
        return self.clear(now)

    async def ausage(self: _SyncCalls, now: float) -> tuple[int, int]:
        return self.usage(now)


class Backend(Protocol):
    """Where entries live. Every method takes the cache's `now` (one clock per call)."""

    name: str
    """``memory``, ``disk`` or ``redis``."""
    stores_text: bool
    """True when payloads must be JSON text (anything outside this process)."""
    evictions: int
    """Entries removed to respect a bound, by this process."""
    expirations: int
    """Expired entries removed (swept or found stale), by this process."""

    @property
    def errors(self) -> int:
        """Operations that failed because the backend was unreachable."""
        ...

    @property
    def degraded(self) -> bool:
        """True while the backend is unreachable and the cache is bypassed."""
        ...

    @property
    def corrupt(self) -> int:
        """Damaged entries found (unreadable), dropped and counted as misses."""
        ...

    async def get(self, key: str, now: float) -> Hit | None: ...

    async def set(self, entry: Entry, now: float, max_entries: int, max_bytes: int) -> bool:
        """Store `entry` (replacing any entry of the same key); False if it was not stored."""
        ...

    async def delete(self, key: str, now: float) -> None: ...

    removed_later: int
    """Entries an invalidation removed after `invalidate` had returned (Redis only: a
    caller on an event loop's thread does not wait for a slow Redis)."""

    def invalidate(self, matcher: Matcher, now: float) -> int:
        """Remove the matching entries; return how many."""
        ...

    async def ainvalidate(self, matcher: Matcher, now: float) -> int:
        """`invalidate` for async code: the loop never waits on the backend."""
        ...

    def clear(self, now: float) -> int: ...

    async def aclear(self, now: float) -> int: ...

    def usage(self, now: float) -> tuple[int, int]:
        """``(entries, bytes)`` after sweeping expired entries."""
        ...

    async def ausage(self, now: float) -> tuple[int, int]:
        """`usage` for async code."""
        ...

    async def aclose(self) -> None: ...


class BackendGuard:
    """Turns backend failures into a degraded mode instead of failed tool calls.

    A failure (an error or one operation that ran out of its timeout) opens the breaker:
    the backend is skipped (every call runs its tool) until `RETRY_INTERVAL_S` has
    passed on the cache's clock, counted from when the failure was seen. Then one
    operation probes it while the others keep skipping it (no retry storm); a success
    ends the outage. Each outage warns once, with `warnings.warn` and a logging
    warning; the recovery is logged.

    Args:
        backend_name: ``disk`` or ``redis``.
        where: the path or URL (credentials are hidden before it is shown).
        clock: the cache's clock, read when a failure is seen (None: the ``now`` given).
    """

    def __init__(
        self, backend_name: str, where: str, clock: Callable[[], float] | None = None
    ) -> None:
        self.backend_name = backend_name
        self.where = redact_url(where) if "://" in where else where
        self.errors = 0
        self.corrupt = 0
        self.degraded = False
        self._clock = clock
        self._retry_at = 0.0

    def available(self, now: float) -> bool:
        """True when an operation should be tried now (during an outage: one probe per
        retry interval; the caller that gets True is that probe)."""
        if not self.degraded:
            return True
        if now < self._retry_at:
            return False
        self._retry_at = now + RETRY_INTERVAL_S
        return True

    def skipping(self, now: float) -> bool:
        """True while the breaker is open and no probe is due yet (nothing to try)."""
        return self.degraded and now < self._retry_at

    def failed(self, exc: BaseException, now: float) -> None:
        """Record a failure; warn when it starts an outage."""
        self.errors += 1
        seen = self._clock() if self._clock is not None else now
        self._retry_at = max(now, seen) + RETRY_INTERVAL_S
        if not self.degraded:
            self.degraded = True
            message = (
                f"The {self.backend_name} tool cache at {self.where} is unreachable "
                f"({type(exc).__name__}: {redact_text(str(exc))}); tools now run uncached. "
                f"The cache retries every {RETRY_INTERVAL_S:g} s and resumes when it answers."
            )
            logger.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    def damaged(self, key: str, why: str) -> None:
        """Count an unreadable entry (a miss, not an outage); warn about the first one."""
        self.corrupt += 1
        if self.corrupt == 1:
            message = (
                f"A damaged entry in the {self.backend_name} tool cache at {self.where} was "
                f"dropped ({key[:80]!r}: {why}); its call ran the tool. Further damaged "
                "entries are dropped without a warning and counted in "
                "get_cache_stats()['corrupt']."
            )
            logger.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=3)

    def succeeded(self) -> None:
        """Record a success; end an outage."""
        if self.degraded:
            self.degraded = False
            logger.warning(
                "The %s tool cache at %s answers again; caching resumed.",
                self.backend_name,
                self.where,
            )
