"""Defect 6: a frozen Redis costs one timeout per retry interval, not per call or per stat,
and nothing synchronous holds the event loop on it."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio.connection as aconnection
import redis.connection as sconnection
from tests.cache.conftest import Counted, make_tool
from tests.conftest import RedisServer

from pitstop._cache import CacheConfig, ToolCache
from pitstop._cache.backends.base import RETRY_INTERVAL_S

pytestmark = [pytest.mark.redis, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


class ShiftedClock:
    """Real time (the breaker sees how long a timeout took) that a test can jump ahead."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (it gets frozen)."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    assert server.proc is not None
    server.proc.send_signal(signal.SIGCONT)
    server.stop()


@pytest.fixture
def timeouts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Redis read that ran out of its timeout, async or sync."""
    seen: list[str] = []
    async_read = aconnection.AbstractConnection.read_response
    sync_read = sconnection.AbstractConnection.read_response

    async def counted_async(self: Any, *args: Any, **kw: Any) -> Any:
        try:
            return await async_read(self, *args, **kw)
        except Exception as exc:
            if "Timeout" in type(exc).__name__:
                seen.append("async")
            raise

    def counted_sync(self: Any, *args: Any, **kw: Any) -> Any:
        try:
            return sync_read(self, *args, **kw)
        except Exception as exc:
            if "Timeout" in type(exc).__name__:
                seen.append("sync")
            raise

    monkeypatch.setattr(aconnection.AbstractConnection, "read_response", counted_async)
    monkeypatch.setattr(sconnection.AbstractConnection, "read_response", counted_sync)
    return seen


async def test_a_frozen_redis_opens_the_breaker_after_one_timeout(
    own_redis: RedisServer, timeouts: list[str]
) -> None:
    """SIGSTOP: one timeout opens the breaker; calls, stats and invalidation skip Redis;
    after the retry interval one probe goes, not one per waiting call."""
    clock = ShiftedClock()
    cache = ToolCache(CacheConfig(backend="redis", redis_url=own_redis.url,
                                  redis_timeout=1.0), clock=clock)
    tool, body = make_tool(), Counted()
    args = {"query": "q"}
    assert own_redis.proc is not None
    try:
        await cache.call(tool, args, body.runner(args))
        own_redis.proc.send_signal(signal.SIGSTOP)
        assert (await cache.call(tool, args, body.runner(args)))[1] is False
        assert timeouts == ["async"]  # the lookup; the store skipped the open breaker
        for _ in range(5):
            assert (await cache.call(tool, args, body.runner(args)))[1] is False
        cache.stats()
        cache.invalidate(tool_name="search")
        assert timeouts == ["async"]

        clock.offset += RETRY_INTERVAL_S  # the breaker's interval passes: one probe may go
        results = await asyncio.gather(
            *(cache.call(tool, {"query": f"storm{i}"}, body.runner({"query": f"storm{i}"}))
              for i in range(20))
        )
        assert all(cached is False for _, cached in results)
        assert len(timeouts) == 2
        assert body.runs == 1 + 1 + 5 + 20

        own_redis.proc.send_signal(signal.SIGCONT)
        clock.offset += RETRY_INTERVAL_S
        await cache.call(tool, args, body.runner(args))
        assert (await cache.call(tool, args, body.runner(args)))[1] is True
        assert cache.stats()["degraded"] is False
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
        await cache.aclose()


@pytest.mark.real_grace
async def test_stats_and_invalidation_on_the_loop_never_wait_for_a_frozen_redis(
    own_redis: RedisServer, timeouts: list[str]
) -> None:
    """On the loop's thread, stats and invalidation meeting a fresh freeze return before
    Redis's timeout (last figures; the removal queued), the next lookup waits for them
    asynchronously and skips Redis, and the removal is applied when Redis is back."""
    clock = ShiftedClock()
    cache = ToolCache(CacheConfig(backend="redis", redis_url=own_redis.url,
                                  redis_timeout=2.0), clock=clock)
    tool, body = make_tool(), Counted()
    args = {"query": "q"}
    assert own_redis.proc is not None
    try:
        await cache.call(tool, args, body.runner(args))
        assert cache.stats()["size"] == 1
        own_redis.proc.send_signal(signal.SIGSTOP)

        stats = cache.stats()
        assert timeouts == []  # back before Redis's 2 s timeout ran out
        assert stats["size"] == 1 and stats["invalidated"] == 0  # the last figures
        with pytest.warns(RuntimeWarning, match="did not answer invalidate_cache"):
            assert cache.invalidate(tool_name="search") == 0
        assert timeouts == []

        with pytest.warns(RuntimeWarning, match="unreachable"):
            assert (await cache.call(tool, args, body.runner(args)))[1] is False
        assert timeouts == ["sync"]  # the worker's one read; the lookup skipped Redis
        assert cache.stats()["degraded"] is True

        own_redis.proc.send_signal(signal.SIGCONT)
        clock.offset += RETRY_INTERVAL_S
        assert (await cache.call(tool, args, body.runner(args)))[1] is False  # removed
        assert body.runs == 3
        stats = await cache.astats()
        assert stats["invalidated"] == 1 and stats["degraded"] is False
        assert (await cache.call(tool, args, body.runner(args)))[1] is True
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
        await cache.aclose()


async def test_a_caller_with_no_loop_waits_one_timeout_then_skips(
    own_redis: RedisServer, timeouts: list[str]
) -> None:
    """Off the loop (a plain thread) stats wait for Redis: one timeout opens the breaker,
    and the calls after it skip Redis."""
    cache = ToolCache(CacheConfig(backend="redis", redis_url=own_redis.url,
                                  redis_timeout=1.0))
    tool, body = make_tool(), Counted()
    assert own_redis.proc is not None
    try:
        await cache.call(tool, {"query": "q"}, body.runner({"query": "q"}))
        own_redis.proc.send_signal(signal.SIGSTOP)
        stats = await asyncio.to_thread(cache.stats)
        assert timeouts == ["sync"] and stats["degraded"] is True and stats["size"] == 0
        await cache.call(tool, {"query": "q"}, body.runner({"query": "q"}))
        assert await asyncio.to_thread(cache.invalidate) == 0
        assert timeouts == ["sync"]
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
        await cache.aclose()


async def test_the_async_forms_let_the_loop_run_while_redis_is_frozen(
    own_redis: RedisServer, timeouts: list[str]
) -> None:
    """`astats` and `ainvalidate` wait for a frozen Redis without holding the loop: other
    tasks run meanwhile; then the breaker is open and the invalidation is queued."""
    cache = ToolCache(CacheConfig(backend="redis", redis_url=own_redis.url,
                                  redis_timeout=1.0))
    tool, body = make_tool(), Counted()
    assert own_redis.proc is not None
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    try:
        await cache.call(tool, {"query": "q"}, body.runner({"query": "q"}))
        assert (await cache.astats())["size"] == 1
        own_redis.proc.send_signal(signal.SIGSTOP)
        beat = asyncio.create_task(ticker())
        stats = await cache.astats()
        assert ticks > 1  # the loop ran other tasks while Redis was awaited
        assert timeouts == ["async"] and stats["degraded"] is True and stats["size"] == 1
        assert await cache.ainvalidate(tool_name="search") == 0  # queued for later
        assert timeouts == ["async"]
        beat.cancel()
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
        await cache.aclose()
