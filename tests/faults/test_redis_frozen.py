"""Defect 6: a frozen Redis costs one timeout per retry interval, not per call or per stat."""

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


async def test_a_frozen_redis_first_seen_by_stats_costs_one_timeout(
    own_redis: RedisServer, timeouts: list[str]
) -> None:
    """A stats call that meets the freeze first waits one timeout, not two, and the
    calls after it skip Redis."""
    cache = ToolCache(CacheConfig(backend="redis", redis_url=own_redis.url,
                                  redis_timeout=1.0))
    tool, body = make_tool(), Counted()
    assert own_redis.proc is not None
    try:
        await cache.call(tool, {"query": "q"}, body.runner({"query": "q"}))
        cache.stats()
        own_redis.proc.send_signal(signal.SIGSTOP)
        cache.stats()
        assert timeouts == ["sync"]
        await cache.call(tool, {"query": "q"}, body.runner({"query": "q"}))
        assert cache.invalidate() == 0
        assert timeouts == ["sync"]
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
        await cache.aclose()
