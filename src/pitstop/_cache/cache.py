"""`ToolCache`: every tool call of the agent is looked up here first.

The executor asks `ToolCache.lookup`, then, on a `Miss`, runs the tool and reports the
outcome to `ToolCache.fill` or `ToolCache.fail`; `ToolCache.call` does the same three
steps for callers with a ready ``run`` function.

A call is served from the backend when a fresh entry exists (a *hit*); otherwise it
runs the tool (a *miss*) and stores the result when the tool is cacheable, its TTL is
positive, its arguments have a key and its result is JSON. Identical calls in flight
at the same time run the tool once and share the result (single-flight). The cache
never creates tasks: the first caller runs the tool in its own task, the others wait
for it. If that first caller is cancelled, its run stops with it, and one of the
waiters runs the tool again with its own ``run`` for the rest, so no waiter ever sees
another caller's cancellation.

Invalidation while a call is in flight marks that flight stale: its result still
reaches its callers but is not stored, and later identical calls start a new run.
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, NotRequired, TypedDict

from pitstop._cache.backends.base import Backend, Entry, Freshness, Matcher
from pitstop._cache.config import BYTES_PER_MB, CacheConfig, default_disk_path
from pitstop._cache.counts import STATS_FIELDS, CacheCounts, ToolCounts
from pitstop._cache.keys import _NotJSON, decode, encode, make_key, make_labels, utf8_size
from pitstop._cache.trace import TraceRecord
from pitstop.errors import ConfigError

if TYPE_CHECKING:
    from pitstop._tools.base import Tool

__all__ = ["CacheStats", "Hit", "Miss", "ToolCache", "ToolCacheStats"]


_new = tuple.__new__


class _Shared(NamedTuple):
    """What a single flight hands its waiters when the tool returned."""

    value: Any
    """The result, or its JSON text when `is_text` (each waiter decodes its own copy)."""
    is_text: bool
    latency: float
    """Seconds the tool ran."""


class _Failed(NamedTuple):
    """What a single flight hands its waiters when the tool raised."""

    exc: BaseException
    latency: float


class _Retry:
    """The caller running a shared call was cancelled: a waiter runs it again."""


_RETRY = _Retry()
_Outcome = _Shared | _Failed | _Retry


class _Flight:
    """An identical call in flight: its labels, staleness and the callers waiting."""

    __slots__ = ("labels", "stale", "tool", "waiters")

    def __init__(self, tool: str, labels: tuple[str, ...]) -> None:
        self.tool = tool
        self.labels = labels
        self.stale = False
        self.waiters: list[asyncio.Future[_Outcome]] = []

    def resolve(self, outcome: _Outcome) -> None:
        for fut in self.waiters:
            if not fut.done():  # a cancelled waiter's future is done already
                fut.set_result(outcome)


class Hit(NamedTuple):
    """A call answered without running its tool: from the backend, or shared in flight."""

    value: Any
    """The result."""
    shared: bool = False
    """True when an identical call in flight produced it (single-flight), not the backend."""


class Miss(NamedTuple):
    """A call whose tool the caller must run, then report to `ToolCache.fill` or `fail`."""

    tool: Tool
    """The tool to run."""
    key: str | None
    """The cache key (None when the arguments have none)."""
    ttl: float
    """The TTL in force when the call was looked up."""
    now: float
    """When it was looked up, on the cache's clock (for the trace)."""
    started: float
    """When it was looked up, on the cache's timer (for the run time)."""
    flight: _Flight | None
    """The single flight this caller leads, or None when the cache was bypassed."""
    labels: tuple[str, ...]
    """Labels for the trace of a bypassed call."""


class ToolCacheStats(TypedDict):
    """One tool's line of `CacheStats.tool_stats`."""

    hits: int
    """Calls answered without running the tool (stored or shared in flight)."""
    misses: int
    """Calls that ran the tool through the cache."""
    hit_rate: float
    """hits / (hits + misses), 0 when neither."""
    shared_hits: int
    """Hits that joined an identical call in flight."""
    bypassed: int
    """Calls that skipped the cache (TTL 0, not cacheable, disabled, unkeyable)."""
    errors: int
    """Calls whose tool raised."""
    time_saved_s: float
    """Measured run time of the results the hits reused."""
    cost_saved: float
    """The tool's declared cost, times the hits."""
    avg_latency_s: float
    """Mean run time of the calls that ran the tool."""
    ttl: float
    """The TTL in force now."""


class CacheStats(TypedDict):
    """What `HybridAgent.get_cache_stats` returns."""

    enabled: bool
    """False when the agent has no cache (then only the counters below are present)."""
    hits: int
    """Calls answered without running their tool."""
    misses: int
    """Calls that ran their tool through the cache."""
    hit_rate: float
    """hits / (hits + misses)."""
    size: int
    """Entries stored now."""
    memory_mb: float
    """Measured size of the stored entries."""
    evictions: int
    """Entries removed to respect max_cache_size or max_memory_mb."""
    expirations: int
    """Entries removed because their TTL ran out."""
    time_saved_s: float
    """Measured run time of the results the hits reused."""
    cost_saved: float
    """Declared tool cost the hits saved."""
    tool_stats: dict[str, ToolCacheStats]
    """The same per tool."""
    backend: NotRequired[str]
    """``memory``, ``disk`` or ``redis``."""
    namespace: NotRequired[str]
    """Keeps this agent's entries apart in a shared backend."""
    shared_hits: NotRequired[int]
    """Hits that joined an identical call in flight."""
    bypassed: NotRequired[int]
    """Calls that skipped the cache."""
    errors: NotRequired[int]
    """Calls whose tool raised."""
    max_cache_size: NotRequired[int]
    """The entry bound in force."""
    max_memory_mb: NotRequired[float]
    """The memory bound in force."""
    invalidated: NotRequired[int]
    """Entries removed by `invalidate`."""
    uncacheable: NotRequired[dict[str, int]]
    """Why results were not stored, with counts."""
    backend_errors: NotRequired[int]
    """Backend operations that failed (the call then ran uncached)."""
    corrupt: NotRequired[int]
    """Damaged entries found (unreadable disk rows or Redis values), each dropped and
    run as a miss."""
    degraded: NotRequired[bool]
    """True while the backend is unreachable."""
    in_flight: NotRequired[int]
    """Distinct calls running now."""


class _ToolStats:
    __slots__ = ("bypassed", "cost_saved", "errors", "hits", "misses", "run_time", "shared",
                 "time_saved")

    def __init__(self) -> None:
        self.hits = 0
        self.shared = 0
        self.misses = 0
        self.bypassed = 0
        self.errors = 0
        self.time_saved = 0.0
        self.cost_saved = 0.0
        self.run_time = 0.0


class ToolCache:
    """The agent's tool-result cache.

    Args:
        config: the user's `CacheConfig`, read live (TTLs, bounds, `enabled`).
        tools: the agent's tools by name; `tool_specific_ttl` may only name these.
        namespace: keeps entries apart in a shared backend; ``config.namespace`` wins.
        clock: seconds, for expiry and the trace (None: `time.monotonic` for the memory
            backend, `time.time` for disk and Redis, whose entries outlive the process).
        timer: measures how long each tool ran (for ``time_saved_s``).

    Raises:
        ConfigError: `tool_specific_ttl` names a tool the agent does not have.
    """

    def __init__(
        self,
        config: CacheConfig,
        *,
        tools: Mapping[str, Tool] | None = None,
        namespace: str = "default",
        clock: Callable[[], float] | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not isinstance(config, CacheConfig):
            raise ConfigError(f"cache_config must be a CacheConfig, got {config!r}.")
        if tools is not None:
            unknown = sorted(set(config.tool_specific_ttl) - set(tools))
            if unknown:
                listed = ", ".join(repr(t) for t in sorted(tools)) or "none"
                raise ConfigError(
                    f"CacheConfig.tool_specific_ttl names {', '.join(map(repr, unknown))}, "
                    f"which the agent does not have; its tools: {listed}. "
                    "Fix the name or add the tool."
                )
        self.config = config
        self.namespace = config.namespace or namespace
        if clock is None:
            clock = time.monotonic if config.backend == "memory" else time.time
        self._clock = clock
        self._backend = self._make_backend(config, self.namespace, clock)
        self._timer = timer
        self._inflight: dict[str, _Flight] = {}
        self._stats: dict[str, _ToolStats] = {}
        self._reasons: Counter[str] = Counter()
        self._invalidated = 0
        self._trace: deque[TraceRecord] = deque(maxlen=config.trace_size)

    @staticmethod
    def _make_backend(
        config: CacheConfig, namespace: str, clock: Callable[[], float]
    ) -> Backend:
        freshness = Freshness(config)  # TTLs are read when an entry is looked up or swept
        if config.backend == "memory":
            from pitstop._cache.backends.memory import MemoryBackend

            return MemoryBackend(freshness)
        if config.backend == "disk":
            from pitstop._cache.backends.disk import DiskBackend

            return DiskBackend(config.path or default_disk_path(), namespace, freshness,
                               clock=clock)
        from pitstop._cache.backends.redis import RedisBackend

        url = config.redis_url or "redis://localhost:6379/0"
        return RedisBackend(url, namespace, freshness, timeout=config.redis_timeout,
                            clock=clock)

    @property
    def backend(self) -> Backend:
        """The backend (``memory``, ``disk`` or ``redis``)."""
        return self._backend

    # -- the hot path ------------------------------------------------------------------

    async def call(
        self, tool: Tool, arguments: dict[str, Any], run: Callable[[], Awaitable[Any]]
    ) -> tuple[Any, bool]:
        """Return ``(result, cached)`` for one tool call: `lookup`, then `run` and `fill`.

        On a miss, awaits ``run()`` (the tool with its timeout and limits), once for all
        identical calls in flight, and stores the result when it may be cached.
        Exceptions from ``run()`` propagate to every caller sharing it and are never
        cached.

        Args:
            tool: the tool (its ``name``, ``cacheable`` and ``cost`` are used).
            arguments: the validated arguments.
            run: runs the tool; called at most once by this caller.
        """
        found = await self.lookup(tool, arguments)
        if found.__class__ is Hit:
            return found.value, True
        try:
            value = await run()
        except BaseException as exc:
            self.fail(found, exc)  # type: ignore[arg-type]
            raise
        await self.fill(found, value)  # type: ignore[arg-type]
        return value, False

    async def lookup(self, tool: Tool, arguments: Mapping[str, Any]) -> Hit | Miss:
        """Find a fresh result for a call, or take the job of running it.

        Returns a `Hit` when a stored result is fresh (judged with the TTL in force now)
        or an identical call in flight finished for this one (single-flight). Otherwise
        a `Miss`: the caller runs the tool, then hands the result to `fill` or the
        exception to `fail`, exactly once. A caller whose shared call was cancelled in
        its owner's task gets a `Miss` and runs the tool itself.
        """
        cfg = self.config
        name = tool.name
        if not cfg.enabled:
            return self._bypass(tool, None, "disabled", 0.0, arguments)
        if not tool.cacheable:
            return self._bypass(tool, None, "not_cacheable_tool", 0.0, arguments)
        ttl = cfg.tool_specific_ttl.get(name)
        if ttl is None:
            ttl = cfg.default_ttl
        key = make_key(name, arguments)
        if not ttl > 0:
            return self._bypass(tool, key, "ttl_zero", cfg.ttl_for(name), arguments)
        if key is None:
            return self._bypass(tool, None, "arguments_not_serialisable", ttl, arguments)
        now = self._clock()
        if key not in self._inflight:  # an identical call in flight: join it, no backend
            hit = await self._backend.get(key, now)
            if hit is not None:
                value, latency, labels = hit
                stats = self._stats.get(name) or self._new_stats(name)
                stats.hits += 1
                stats.time_saved += latency
                cost = tool.cost or 0.0
                stats.cost_saved += cost
                trace = self._trace
                if trace.maxlen != cfg.trace_size:
                    trace = self._resize_trace()
                # tuple.__new__ builds the same TraceRecord at half the cost of calling it
                trace.append(_new(TraceRecord, (now, name, key, "hit", latency, cost, True, ttl,
                                                labels)))
                return Hit(value)
        return await self._join_or_lead(tool, arguments, key, ttl, now)

    async def _join_or_lead(
        self, tool: Tool, arguments: Mapping[str, Any], key: str, ttl: float, now: float
    ) -> Hit | Miss:
        name = tool.name
        stats = self._stats.get(name) or self._new_stats(name)
        cost = tool.cost or 0.0
        while (flight := self._inflight.get(key)) is not None:
            fut: asyncio.Future[_Outcome] = asyncio.get_running_loop().create_future()
            flight.waiters.append(fut)
            outcome = await fut
            if isinstance(outcome, _Retry):
                continue
            if isinstance(outcome, _Failed):
                stats.errors += 1
                self._record(TraceRecord(now, name, key, "error", outcome.latency, cost, False,
                                         ttl, flight.labels))
                raise outcome.exc
            value, is_text, latency = outcome
            stats.hits += 1
            stats.shared += 1
            stats.time_saved += latency
            stats.cost_saved += cost
            self._record(TraceRecord(now, name, key, "shared", latency, cost, True, ttl,
                                     flight.labels))
            return Hit(decode(value) if is_text else value, True)
        flight = _Flight(name, make_labels(name, arguments))
        self._inflight[key] = flight
        stats.misses += 1
        return Miss(tool, key, ttl, now, self._timer(), flight, ())

    async def fill(self, miss: Miss, result: Any) -> None:
        """The tool of a `Miss` returned `result`: store it when it may be cached, and
        hand it to the identical calls that waited for it."""
        latency = self._timer() - miss.started
        tool, key, flight = miss.tool, miss.key, miss.flight
        name = tool.name
        stats = self._stats.get(name) or self._new_stats(name)
        stats.run_time += latency
        cost = tool.cost or 0.0
        if flight is None:  # the cache was bypassed
            if self.config.trace_size > 0:
                storable = key is not None and tool.cacheable
                self._record(TraceRecord(miss.now, name, key, "bypass", latency, cost, storable,
                                         miss.ttl, miss.labels))
            return
        assert key is not None
        # waiters get their own copy decoded from the JSON text; an immutable scalar, or
        # a result JSON cannot copy, is shared as it is
        shared = _Shared(result, False, latency)
        storable = True
        try:
            payload, is_text, size = encode(result, text=self._backend.stores_text)
            if is_text:
                shared = _Shared(payload, True, latency)
            await self._store(key, flight, payload, is_text, size, latency)
        except _NotJSON:
            storable = False
            self._reasons["result_not_json"] += 1
        finally:
            self._land(key, flight)
            flight.resolve(shared)
        self._record(TraceRecord(miss.now, name, key, "miss", latency, cost, storable, miss.ttl,
                                 flight.labels))

    def fail(self, miss: Miss, exc: BaseException) -> None:
        """The tool of a `Miss` raised `exc` (or its caller was cancelled): nothing is
        stored; identical calls that waited get the same exception, or run again after
        a cancellation."""
        tool, key, flight = miss.tool, miss.key, miss.flight
        cancelled = isinstance(exc, asyncio.CancelledError)
        if flight is not None and key is not None:
            self._land(key, flight)
            if cancelled:
                flight.resolve(_RETRY)
                return
        if cancelled:
            return
        latency = self._timer() - miss.started
        name = tool.name
        stats = self._stats.get(name) or self._new_stats(name)
        stats.errors += 1
        stats.run_time += latency
        if flight is not None:
            flight.resolve(_Failed(exc, latency))
            labels = flight.labels
        elif self.config.trace_size > 0:
            labels = miss.labels
        else:
            return
        self._record(TraceRecord(miss.now, name, key, "error", latency, tool.cost or 0.0, False,
                                 miss.ttl, labels))

    async def _store(
        self, key: str, flight: _Flight, payload: Any, is_text: bool, size: int,
        latency: float,
    ) -> None:
        if flight.stale:
            self._reasons["invalidated_in_flight"] += 1
            return
        cfg = self.config
        size += utf8_size(key) + utf8_size("".join(flight.labels))
        max_bytes = int(cfg.max_memory_mb * BYTES_PER_MB)
        if size > max_bytes:
            self._reasons["too_large"] += 1
            return
        now = self._clock()
        entry = Entry(key, flight.tool, payload, is_text, size, flight.labels, latency, now)
        if not await self._backend.set(entry, now, cfg.max_cache_size, max_bytes):
            self._reasons["backend_unavailable"] += 1
        elif flight.stale:  # invalidated while the backend was storing it
            await self._backend.delete(key, now)
            self._reasons["invalidated_in_flight"] += 1

    def _bypass(
        self, tool: Tool, key: str | None, reason: str, ttl: float, arguments: Mapping[str, Any]
    ) -> Miss:
        stats = self._stats.get(tool.name) or self._new_stats(tool.name)
        stats.bypassed += 1
        self._reasons[reason] += 1
        labels = (make_labels(tool.name, arguments)
                  if self.config.trace_size > 0 and key is not None else ())
        return Miss(tool, key, ttl, self._clock(), self._timer(), None, labels)

    def _land(self, key: str, flight: _Flight) -> None:
        if self._inflight.get(key) is flight:
            del self._inflight[key]

    def _new_stats(self, name: str) -> _ToolStats:
        stats = self._stats[name] = _ToolStats()
        return stats

    def _record(self, record: TraceRecord) -> None:
        trace = self._trace
        if trace.maxlen != self.config.trace_size:
            trace = self._resize_trace()
        trace.append(record)

    def _resize_trace(self) -> deque[TraceRecord]:
        self._trace = deque(self._trace, maxlen=self.config.trace_size)
        return self._trace

    # -- management --------------------------------------------------------------------

    def invalidate(self, tool_name: str | None = None, pattern: str | None = None) -> int:
        """Remove cached results; return how many were removed.

        Every entry has labels: its tool name and ``param:value`` for each top-level
        parameter. ``pattern`` is a case-sensitive glob (`fnmatch`) that removes the
        entries with a matching label, so ``pattern="query:Python*"`` removes every
        result whose ``query`` starts with ``Python``. With both, both must match; with
        neither, everything goes. Identical calls in flight are not stored afterwards.

        On an event loop's thread, a Redis that has not answered within a tenth of a
        second is not waited for: the removal goes on in the background, before any
        later lookup, and this returns 0 (the count reaches ``stats()["invalidated"]``).
        `ainvalidate` is the exact, non-blocking form for async code.
        """
        matcher = self._forget_in_flight(tool_name, pattern)
        removed = self._backend.invalidate(matcher, self._clock())
        self._invalidated += removed
        return removed

    async def ainvalidate(self, tool_name: str | None = None, pattern: str | None = None) -> int:
        """`invalidate` for async code: the exact count, and the loop never waits on the
        backend (Redis is asked on the async client, within its timeout)."""
        matcher = self._forget_in_flight(tool_name, pattern)
        removed = await self._backend.ainvalidate(matcher, self._clock())
        self._invalidated += removed
        return removed

    def _forget_in_flight(self, tool_name: str | None, pattern: str | None) -> Matcher:
        """The matcher; identical calls in flight that it matches will not be stored."""
        matcher = self._matcher(tool_name, pattern)
        for key, flight in list(self._inflight.items()):
            if matcher(flight.tool, flight.labels):
                flight.stale = True
                del self._inflight[key]
        return matcher

    @staticmethod
    def _matcher(tool_name: str | None, pattern: str | None) -> Matcher:
        if tool_name is not None and not isinstance(tool_name, str):
            raise ConfigError(f"invalidate(tool_name=...) must be a string, got {tool_name!r}.")
        if pattern is not None and not isinstance(pattern, str):
            raise ConfigError(
                f"invalidate(pattern=...) must be a glob string such as 'query:Python*', "
                f"got {pattern!r}."
            )
        match = re.compile(fnmatch.translate(pattern)).match if pattern is not None else None

        def matcher(tool: str, labels: tuple[str, ...]) -> bool:
            if tool_name is not None and tool != tool_name:
                return False
            return match is None or any(match(label) for label in labels)

        return matcher

    def clear(self) -> None:
        """Remove every entry of this namespace (statistics are kept)."""
        self._forget_in_flight(None, None)
        self._backend.clear(self._clock())

    async def aclear(self) -> None:
        """`clear` for async code."""
        self._forget_in_flight(None, None)
        await self._backend.aclear(self._clock())

    def counters(self) -> CacheCounts:
        """The call counters now, per tool and per reason not stored (no backend I/O)."""
        tools = {name: ToolCounts(**{f: getattr(s, attr) for f, attr in STATS_FIELDS.items()})
                 for name, s in self._stats.items()}
        return CacheCounts(tools, dict(self._reasons))

    def absorb(self, counts: CacheCounts) -> None:
        """Add counters gained in another process (a Ray worker's calls), so that `stats`
        counts those calls too, per tool and in the totals."""
        for name, gained in counts.tools.items():
            s = self._stats.get(name) or self._new_stats(name)
            for f, attr in STATS_FIELDS.items():
                setattr(s, attr, getattr(s, attr) + getattr(gained, f))
        for reason, n in counts.uncacheable.items():
            self._reasons[reason] += n

    def trace(self) -> list[TraceRecord]:
        """The recent tool calls in the order they started (at most ``config.trace_size``).

        Calls are recorded when they finish; this sorts them by start time.
        """
        return sorted(self._trace, key=lambda r: r.time)

    def stats(self) -> CacheStats:
        """Hits, misses, hit rate, size, memory, evictions, expirations, time and cost
        saved, and the same per tool in ``tool_stats``.

        ``hits`` counts calls that did not run their tool (``shared_hits`` of them joined
        an identical call in flight); ``misses`` the calls that ran it through the cache;
        ``hit_rate`` is hits / (hits + misses). Calls that skip the cache (TTL 0,
        ``cacheable=False``, cache disabled, unkeyable arguments) are ``bypassed``, and
        ``uncacheable`` counts why results were not stored; ``corrupt`` the damaged
        entries found (unreadable rows or values), each dropped and run as a miss.
        ``time_saved_s`` adds, for every hit, the measured run time of the result it
        reused; ``cost_saved`` the tool's declared cost.

        ``size`` and ``memory_mb`` are the backend's. On an event loop's thread, a Redis
        that has not answered within a tenth of a second is not waited for: they are
        then the last figures Redis gave (`astats` asks without holding the loop).
        """
        return self._stats_with(*self._backend.usage(self._clock()))

    async def astats(self) -> CacheStats:
        """`stats` for async code: the backend's size is asked without holding the loop."""
        return self._stats_with(*await self._backend.ausage(self._clock()))

    def _stats_with(self, size: int, nbytes: int) -> CacheStats:
        cfg = self.config
        backend = self._backend
        tool_stats: dict[str, ToolCacheStats] = {}
        for name, s in sorted(self._stats.items()):
            runs = s.misses + s.bypassed
            ttl = cfg.tool_specific_ttl.get(name, cfg.default_ttl)
            tool_stats[name] = {
                "hits": s.hits,
                "misses": s.misses,
                "hit_rate": s.hits / (s.hits + s.misses) if s.hits + s.misses else 0.0,
                "shared_hits": s.shared,
                "bypassed": s.bypassed,
                "errors": s.errors,
                "time_saved_s": s.time_saved,
                "cost_saved": s.cost_saved,
                "avg_latency_s": s.run_time / runs if runs else 0.0,
                "ttl": ttl,
            }
        hits = sum(s.hits for s in self._stats.values())
        misses = sum(s.misses for s in self._stats.values())
        return {
            "enabled": cfg.enabled,
            "backend": backend.name,
            "namespace": self.namespace,
            "hits": hits,
            "misses": misses,
            "hit_rate": hits / (hits + misses) if hits + misses else 0.0,
            "shared_hits": sum(s.shared for s in self._stats.values()),
            "bypassed": sum(s.bypassed for s in self._stats.values()),
            "errors": sum(s.errors for s in self._stats.values()),
            "size": size,
            "memory_mb": nbytes / BYTES_PER_MB,
            "max_cache_size": cfg.max_cache_size,
            "max_memory_mb": cfg.max_memory_mb,
            "evictions": backend.evictions,
            "expirations": backend.expirations,
            "invalidated": self._invalidated + backend.removed_later,
            "time_saved_s": sum(s.time_saved for s in self._stats.values()),
            "cost_saved": sum(s.cost_saved for s in self._stats.values()),
            "uncacheable": dict(self._reasons),
            "backend_errors": backend.errors,
            "corrupt": backend.corrupt,
            "degraded": backend.degraded,
            "in_flight": len(self._inflight),
            "tool_stats": tool_stats,
        }

    async def aclose(self) -> None:
        """Close the backend's connections and files. The cache creates no tasks."""
        await self._backend.aclose()

    def __repr__(self) -> str:
        return (
            f"ToolCache(backend={self._backend.name!r}, namespace={self.namespace!r}, "
            f"enabled={self.config.enabled})"
        )
