"""The Redis backend: one cache shared by every process that uses the same namespace.

Keys live under ``pitstop:{namespace}:``. A result is a string key; beside it the
namespace keeps its LRU order (a sorted set scored by a counter), per tool the times
its entries were written (a sorted set per tool, so inserts sweep what the TTL in
force makes stale), sizes, a byte total and each entry's tool and labels (for pattern
invalidation). There is no native Redis expiry: freshness is judged with the TTL in
force at lookup (`Freshness`), so a raised TTL keeps entries that a fixed ``PX`` would
have dropped; the namespace's entry and byte bounds cap what Redis holds. Lua scripts
change all of these at once, so concurrent processes keep them consistent and the
bounds hold across processes. Scripts touch keys they do not declare, so the backend
needs a standalone Redis (or a cluster with the namespace in one hash slot).

If Redis stops answering, tool calls go on uncached (`BackendGuard`): the outage is
warned once and counted, and the cache resumes when Redis is back. Invalidations
asked for during an outage are applied when Redis answers again.

**Nothing waits for Redis on an event loop's thread.** Lookups and stores use the async
client. The synchronous questions (`usage` for `get_cache_stats()`, `invalidate` for
`invalidate_cache()`) are asked by one worker thread with a sync client: a caller with
no running loop waits for the answer (bounded by the timeout), a caller on a loop's
thread waits at most `SYNC_GRACE_S`, which a healthy Redis answers well within. Past
it, `usage` gives the last figures Redis reported, and an invalidation goes on in the
worker and is counted in `removed_later`: the async operations of this backend first
wait for it, so no lookup made after `invalidate` returned can see what it removes.
`ausage` and `ainvalidate` ask on the async client, exact and never blocking.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pitstop._cache.backends.base import (
    BackendGuard,
    Entry,
    Freshness,
    Hit,
    Matcher,
    _DamagedEntry,
    read_hit,
)
from pitstop._cache.keys import decode
from pitstop.errors import ConfigError

try:
    import redis
    import redis.asyncio as aioredis
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError, ResponseError
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ConfigError(
        "CacheConfig(backend='redis') needs the redis package; "
        "install it with `pip install pitstop[redis]`."
    ) from _exc

__all__ = ["SYNC_GRACE_S", "RedisBackend"]

logger = logging.getLogger("pitstop._cache")

_FAILURES = (RedisError, OSError)

_T = TypeVar("_T")

SYNC_GRACE_S = 0.1
"""Seconds a synchronous call on an event loop's thread waits for Redis before it stops
holding the loop (a healthy Redis answers in about a millisecond)."""

_REMOVE = """
local function remove(p, k)
  local size = redis.call('HGET', p .. ':size', k)
  if not size then return 0 end
  local tool = redis.call('HGET', p .. ':tool', k)
  if tool then redis.call('ZREM', p .. ':at:' .. tool, k) end
  redis.call('DECRBY', p .. ':bytes', size)
  redis.call('HDEL', p .. ':size', k)
  redis.call('HDEL', p .. ':meta', k)
  redis.call('HDEL', p .. ':tool', k)
  redis.call('ZREM', p .. ':lru', k)
  redis.call('DEL', p .. ':v:' .. k)
  return 1
end
-- ARGV[first] is the default cutoff, then (tool, cutoff) pairs: an entry written at
-- or before its tool's cutoff is stale (cutoff = now - the TTL in force)
local function cutoffs(first)
  local c = {}
  for i = first + 1, #ARGV, 2 do c[ARGV[i]] = ARGV[i + 1] end
  local default = ARGV[first]
  return function(tool) return c[tool] or default end
end
local function sweep(p, cutoff_of)
  local n = 0
  for _, tool in ipairs(redis.call('SMEMBERS', p .. ':tools')) do
    local at = p .. ':at:' .. tool
    for _, k in ipairs(redis.call('ZRANGEBYSCORE', at, '-inf', cutoff_of(tool))) do
      n = n + remove(p, k)
    end
    if redis.call('ZCARD', at) == 0 then redis.call('SREM', p .. ':tools', tool) end
  end
  return n
end
"""

# ARGV: prefix, key, cutoffs... -> nil (absent), 0 (stale, removed) or the stored text
_GET = _REMOVE + """
local p, k = ARGV[1], ARGV[2]
local tool = redis.call('HGET', p .. ':tool', k)
if not tool then return false end
local at = redis.call('ZSCORE', p .. ':at:' .. tool, k)
local v = redis.call('GET', p .. ':v:' .. k)
if (not v) or (not at) or tonumber(at) <= tonumber(cutoffs(3)(tool)) then
  remove(p, k)
  return 0
end
redis.call('ZADD', p .. ':lru', redis.call('INCR', p .. ':tick'), k)
return v
"""

# ARGV: prefix, key, text, size, stored_at, meta, tool, max_entries, max_bytes, cutoffs...
# -> {expired, evicted}
_SET = _REMOVE + """
local p, k, tool = ARGV[1], ARGV[2], ARGV[7]
local size = tonumber(ARGV[4])
local max_n, max_bytes = tonumber(ARGV[8]), tonumber(ARGV[9])
local expired = sweep(p, cutoffs(10))
remove(p, k)
local evicted = 0
local n = redis.call('ZCARD', p .. ':lru')
local bytes = tonumber(redis.call('GET', p .. ':bytes') or '0')
while n > 0 and (n >= max_n or bytes + size > max_bytes) do
  local oldest = redis.call('ZRANGE', p .. ':lru', 0, 0)[1]
  bytes = bytes - tonumber(redis.call('HGET', p .. ':size', oldest) or '0')
  redis.call('ZREM', p .. ':lru', oldest)
  remove(p, oldest)
  evicted = evicted + 1
  n = n - 1
end
redis.call('SET', p .. ':v:' .. k, ARGV[3])
redis.call('HSET', p .. ':size', k, size)
redis.call('HSET', p .. ':meta', k, ARGV[6])
redis.call('HSET', p .. ':tool', k, tool)
redis.call('SADD', p .. ':tools', tool)
redis.call('ZADD', p .. ':lru', redis.call('INCR', p .. ':tick'), k)
redis.call('ZADD', p .. ':at:' .. tool, ARGV[5], k)
redis.call('INCRBY', p .. ':bytes', size)
return {expired, evicted}
"""

# ARGV: prefix, key... -> removed
_DELETE = _REMOVE + """
local n = 0
for i = 2, #ARGV do n = n + remove(ARGV[1], ARGV[i]) end
return n
"""

# ARGV: prefix, cutoffs... -> {expired, entries, bytes}
_USAGE = _REMOVE + """
local p = ARGV[1]
local expired = sweep(p, cutoffs(2))
local nbytes = tonumber(redis.call('GET', p .. ':bytes') or '0')
return {expired, redis.call('HLEN', p .. ':size'), nbytes}
"""

_NEVER = "-1e308"
"""The cutoff of an infinite TTL: no entry was written before it."""


def _cutoff(ttl: float, now: float) -> str:
    return repr(now - ttl) if math.isfinite(ttl) else _NEVER


class _Job(Generic[_T]):
    """One synchronous question handed to the worker thread.

    A caller on an event loop's thread waits `SYNC_GRACE_S` for it at most. If it leaves
    first, the job is *abandoned*: the worker hands the answer to `late` instead (an
    invalidation's count goes to `removed_later`). The lock orders "the worker finished"
    against "the caller left", so an answer is given to exactly one of them.
    """

    def __init__(self, late: Callable[[_T], None]) -> None:
        self.late = late
        self.lock = threading.Lock()
        self.finished = False
        self.abandoned = False
        self.future: concurrent.futures.Future[_T] = concurrent.futures.Future()


class RedisBackend:
    """Entries in Redis, shared by every process with the same URL and namespace.

    Args:
        url: ``redis://host:port/db``.
        namespace: the key prefix is ``pitstop:{namespace}``.
        freshness: the TTLs in force (None: entries never go stale).
        timeout: seconds a command may take before Redis counts as unreachable. A
            command that runs out of it is not retried: one slow answer opens the
            breaker (`BackendGuard`), so a frozen Redis costs one timeout per retry
            interval, not one per call.
        clock: the cache's clock, to time the breaker from when a failure is seen.
    """

    name = "redis"
    stores_text = True

    def __init__(
        self,
        url: str,
        namespace: str,
        freshness: Freshness | None = None,
        *,
        timeout: float = 1.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.url = url
        self._fresh = freshness
        self.prefix = f"pitstop:{namespace}"
        self._options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
        }
        self._aclient: aioredis.Redis | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._ascripts: dict[str, Any] = {}
        self._aflush: asyncio.Lock | None = None
        self._client: redis.Redis | None = None  # used by the worker thread only
        self._scripts: dict[str, Any] = {}
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        self._jobs: list[_Job[Any]] = []  # handed to the worker, not yet known to be done
        self._pid = os.getpid()  # a forked child has no worker thread: it starts its own
        self._guard = BackendGuard("redis", url, clock)
        self._lock = threading.Lock()  # `_pending` and `_last_usage`, shared with the worker
        self._pending: list[Matcher] = []  # invalidations Redis has not taken yet
        self._last_usage = (0, 0)
        self._warned_late = False
        self.removed_later = 0
        self.evictions = 0
        self.expirations = 0

    @property
    def errors(self) -> int:
        return self._guard.errors

    @property
    def degraded(self) -> bool:
        return self._guard.degraded

    @property
    def corrupt(self) -> int:
        return self._guard.corrupt

    # -- clients ---------------------------------------------------------------------

    def _async(self) -> dict[str, Any]:
        """The async scripts, bound to a client of the running loop."""
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aloop is not loop:
            from redis.asyncio.retry import Retry

            # one immediate retry replaces a pooled connection that died with a restart;
            # a timeout is not retried (a frozen Redis would cost two timeouts per call)
            self._aclient = aioredis.Redis.from_url(
                self.url, retry=Retry(NoBackoff(), 1, (RedisConnectionError,)), **self._options
            )
            self._aloop = loop
            self._aflush = asyncio.Lock()
            self._ascripts = {
                name: self._aclient.register_script(src)
                for name, src in (("get", _GET), ("set", _SET), ("delete", _DELETE),
                                  ("usage", _USAGE))
            }
        return self._ascripts

    def _sync(self) -> dict[str, Any]:
        if self._client is None:
            from redis.retry import Retry

            self._client = redis.Redis.from_url(
                self.url, retry=Retry(NoBackoff(), 1, (RedisConnectionError,)), **self._options
            )
            self._scripts = {
                name: self._client.register_script(src)
                for name, src in (("delete", _DELETE), ("usage", _USAGE))
            }
        return self._scripts

    # -- readiness -------------------------------------------------------------------

    async def _aready(self, now: float) -> bool:
        """True when Redis should be asked now. First waits for the questions handed to
        the worker (one that is stuck on a frozen Redis opens the breaker when it gives
        up) and applies the invalidations Redis has not taken yet."""
        if self._jobs:
            self._after_fork()
            await self._settle()
        guard = self._guard
        if guard.degraded and not guard.available(now):
            return False
        if self._pending:
            return await self._aflush_pending(now)
        return True

    def _after_fork(self) -> None:
        """In a forked child, forget the parent's worker and its jobs: the thread was
        not copied, so they would never finish."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._worker = None
            self._jobs = []
            self._lock = threading.Lock()  # in case the parent's worker held it

    async def _settle(self) -> None:
        while self._jobs:
            job = self._jobs[0]
            try:
                await asyncio.wrap_future(job.future)
            except Exception:  # `_run_job` logged it; this lookup goes on
                pass
            if self._jobs and self._jobs[0] is job:
                self._jobs.pop(0)

    async def _aflush_pending(self, now: float) -> bool:
        self._async()
        assert self._aflush is not None
        async with self._aflush:  # one flusher: each invalidation is applied once
            while (matcher := self._next_pending()) is not None:
                try:
                    removed = await self._ainvalidate(matcher)
                except _FAILURES as exc:
                    self._guard.failed(exc, now)
                    return False
                self._guard.succeeded()
                self._count_later(removed, applied=True)
            return True

    def _ready(self, now: float) -> bool:
        """The worker's `_aready`: True when Redis should be asked now."""
        guard = self._guard
        if guard.degraded and not guard.available(now):
            return False
        while (matcher := self._next_pending()) is not None:
            try:
                removed = self._invalidate(matcher)
            except _FAILURES as exc:
                guard.failed(exc, now)
                return False
            guard.succeeded()
            self._count_later(removed, applied=True)
        return True

    def _defer(self, matcher: Matcher) -> int:
        """Queue an invalidation Redis did not take, for when it answers; 0 removed now."""
        with self._lock:
            self._pending.append(matcher)
        return 0

    def _next_pending(self) -> Matcher | None:
        with self._lock:
            return self._pending[0] if self._pending else None

    def _count_later(self, removed: int, *, applied: bool = False) -> None:
        """Count entries removed after `invalidate` returned (`applied`: by the queued
        invalidation at the head of `_pending`, which is then done)."""
        with self._lock:
            if applied:
                self._pending.pop(0)
            self.removed_later += removed

    def _cutoffs(self, now: float) -> list[str]:
        """The default cutoff, then (tool, cutoff) pairs, for the scripts' `cutoffs`."""
        if self._fresh is None:
            return [_NEVER]
        default, per_tool = self._fresh.overrides()
        args = [_cutoff(default, now)]
        for tool, ttl in per_tool.items():
            args += [tool, _cutoff(ttl, now)]
        return args

    # -- the interface ---------------------------------------------------------------

    async def get(self, key: str, now: float) -> Hit | None:
        if (self._jobs or self._pending or self._guard.degraded) and not await self._aready(now):
            return None
        try:
            raw = await self._async()["get"](args=[self.prefix, key, *self._cutoffs(now)])
        except ResponseError as exc:  # Redis answered: the data is wrong, not the server
            self._guard.succeeded()
            await self._drop(key, f"{type(exc).__name__}: {exc}", now)
            return None
        except _FAILURES as exc:
            self._guard.failed(exc, now)
            return None
        self._guard.succeeded()
        if raw is None:
            return None
        if raw == 0:
            self.expirations += 1
            return None
        try:
            stored = decode(raw)  # JSON only: nothing is ever unpickled
            if not isinstance(stored, dict) or not {"v", "l", "b"} <= stored.keys():
                raise _DamagedEntry("not an entry pitstop wrote")
            return read_hit(None, stored["l"], stored["b"], value=stored["v"])
        except (_DamagedEntry, ValueError, TypeError) as exc:
            await self._drop(key, str(exc) or type(exc).__name__, now)
            return None

    async def _drop(self, key: str, why: str, now: float) -> None:
        """Count and remove a damaged entry; a failure to remove it is no outage."""
        self._guard.damaged(key, why)
        try:
            await self._async()["delete"](args=[self.prefix, key])
        except ResponseError:
            pass
        except _FAILURES as exc:
            self._guard.failed(exc, now)

    async def set(self, entry: Entry, now: float, max_entries: int, max_bytes: int) -> bool:
        if entry.size > max_bytes:
            return False
        if (self._jobs or self._pending or self._guard.degraded) and not await self._aready(now):
            return False
        labels = json.dumps(entry.labels, ensure_ascii=False)
        text = f'{{"l":{entry.latency!r},"b":{labels},"v":{entry.payload}}}'
        meta = json.dumps([entry.tool, entry.labels], ensure_ascii=False)
        try:
            expired, evicted = await self._async()["set"](
                args=[self.prefix, entry.key, text, entry.size, repr(entry.stored_at), meta,
                      entry.tool, max_entries, max_bytes, *self._cutoffs(now)]
            )
        except _FAILURES as exc:
            self._guard.failed(exc, now)
            return False
        self._guard.succeeded()
        self.expirations += int(expired)
        self.evictions += int(evicted)
        return True

    async def delete(self, key: str, now: float) -> None:
        if (self._jobs or self._pending or self._guard.degraded) and not await self._aready(now):
            return
        try:
            await self._async()["delete"](args=[self.prefix, key])
        except _FAILURES as exc:
            self._guard.failed(exc, now)

    async def ainvalidate(self, matcher: Matcher, now: float) -> int:
        """`invalidate` on the async client: the exact count, and the loop never waits."""
        if not await self._aready(now):
            return self._defer(matcher)
        try:
            removed = await self._ainvalidate(matcher)
        except _FAILURES as exc:
            self._guard.failed(exc, now)
            return self._defer(matcher)
        self._guard.succeeded()
        return removed

    async def ausage(self, now: float) -> tuple[int, int]:
        """`usage` on the async client (the last figures while Redis does not answer)."""
        if not await self._aready(now):
            return self._last_usage
        try:
            answer = await self._async()["usage"](args=[self.prefix, *self._cutoffs(now)])
        except _FAILURES as exc:
            self._guard.failed(exc, now)
            return self._last_usage
        self._guard.succeeded()
        return self._took_usage(answer)

    def invalidate(self, matcher: Matcher, now: float) -> int:
        """Remove the matching entries; return how many (see the module docstring for a
        caller on an event loop's thread that Redis does not answer in time)."""
        if self._guard.skipping(now):
            return self._defer(matcher)

        def work() -> int:
            if not self._ready(now):
                return self._defer(matcher)
            try:
                removed = self._invalidate(matcher)
            except _FAILURES as exc:
                self._guard.failed(exc, now)
                return self._defer(matcher)
            self._guard.succeeded()
            return removed

        removed = self._ask(work, self._count_later)
        if removed is None:
            self._warn_late()
            return 0
        return removed

    def _invalidate(self, matcher: Matcher) -> int:
        scripts = self._sync()
        assert self._client is not None
        meta: dict[bytes, bytes] = self._client.hgetall(f"{self.prefix}:meta")  # type: ignore[assignment]
        removed = 0
        for chunk in self._doomed(meta, matcher):
            removed += int(scripts["delete"](args=[self.prefix, *chunk]))
        return removed

    async def _ainvalidate(self, matcher: Matcher) -> int:
        scripts = self._async()
        assert self._aclient is not None
        meta: dict[bytes, bytes] = await self._aclient.hgetall(  # type: ignore[assignment]
            f"{self.prefix}:meta"
        )
        removed = 0
        for chunk in self._doomed(meta, matcher):
            removed += int(await scripts["delete"](args=[self.prefix, *chunk]))
        return removed

    def _doomed(self, meta: dict[bytes, bytes], matcher: Matcher) -> list[list[bytes]]:
        """The keys to delete, in chunks of 500: the matching ones and the unreadable."""
        doomed: list[bytes] = []
        for k, raw in meta.items():
            try:
                tool, labels = decode(raw)
                if not isinstance(tool, str):
                    raise _DamagedEntry(f"tool {tool!r:.40} is not a name")
                labels = read_hit(None, 0.0, labels).labels
            except (_DamagedEntry, ValueError, TypeError) as exc:
                self._guard.damaged(k.decode(errors="replace"), str(exc) or "unreadable")
                doomed.append(k)  # what cannot be read is removed
                continue
            if matcher(tool, labels):
                doomed.append(k)
        return [doomed[i : i + 500] for i in range(0, len(doomed), 500)]

    def clear(self, now: float) -> int:
        return self.invalidate(lambda tool, labels: True, now)

    async def aclear(self, now: float) -> int:
        return await self.ainvalidate(lambda tool, labels: True, now)

    def usage(self, now: float) -> tuple[int, int]:
        """``(entries, bytes)``; on a loop's thread, the last figures if Redis is slow."""
        if self._guard.skipping(now):
            return self._last_usage

        def work() -> tuple[int, int]:
            if not self._ready(now):
                return self._last_usage
            try:
                answer = self._sync()["usage"](args=[self.prefix, *self._cutoffs(now)])
            except _FAILURES as exc:
                self._guard.failed(exc, now)
                return self._last_usage
            self._guard.succeeded()
            return self._took_usage(answer)

        figures = self._ask(work, lambda _: None)
        return self._last_usage if figures is None else figures

    def _took_usage(self, answer: Any) -> tuple[int, int]:
        expired, n, nbytes = answer
        with self._lock:
            self.expirations += int(expired)
            self._last_usage = (int(n), int(nbytes))
            return self._last_usage

    # -- the worker ------------------------------------------------------------------

    def _ask(self, work: Callable[[], _T], late: Callable[[_T], None]) -> _T | None:
        """Run `work` on the worker thread and give its answer, or None when the caller
        is on an event loop's thread and Redis took longer than
        `SYNC_GRACE_S` (the job goes on; `late` gets its answer; the async operations
        wait for it first)."""
        self._after_fork()
        if self._worker is None:
            self._worker = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="pitstop-redis-cache"
            )
        job: _Job[_T] = _Job(late)
        job.future = self._worker.submit(_run_job, job, work)
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop on this thread: waiting holds nothing up
            return job.future.result()
        try:
            return job.future.result(timeout=SYNC_GRACE_S)
        except concurrent.futures.TimeoutError:
            with job.lock:
                if not job.finished:
                    job.abandoned = True
                    self._jobs.append(job)
                    return None
            return job.future.result()

    def _warn_late(self) -> None:
        if self._warned_late:
            return
        self._warned_late = True
        message = (
            f"Redis did not answer invalidate_cache() within {SYNC_GRACE_S:g} s, so the "
            "event loop was not held longer: the removal goes on in the background, "
            "before any later lookup, and is counted in get_cache_stats()['invalidated']. "
            "In async code, `await agent.ainvalidate_cache(...)` returns the exact count."
        )
        logger.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)

    async def aclose(self) -> None:
        if self._jobs:
            await self._settle()
        if self._worker is not None:
            self._worker.shutdown(wait=False)
            self._worker = None
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None
        if self._client is not None:
            self._client.close()
            self._client = None


def _run_job(job: _Job[_T], work: Callable[[], _T]) -> _T:
    """The worker's side of `_Job`: the answer goes to the caller, or to `late` if the
    caller left. An abandoned job's unexpected error is logged, since nobody awaits it."""
    try:
        answer = work()
    except BaseException:
        with job.lock:
            job.finished = True
            if job.abandoned:
                logger.exception("A Redis cache operation left to finish in the background failed.")
        raise
    with job.lock:
        job.finished = True
        if job.abandoned:
            job.late(answer)
    return answer
