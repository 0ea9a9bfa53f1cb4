"""Defect 7: the shared limiter's Redis has timeouts of its own, and an outage policy."""

from __future__ import annotations

import signal
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import RedisServer, free_port

from pitstop import RateLimitExceeded, ResourceLimits
from pitstop._limits import Governor
from pitstop.errors import ConfigError
from pitstop.testing import FakeClock

pytestmark = pytest.mark.redis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (it gets frozen or stopped)."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.proc is not None:
        server.proc.send_signal(signal.SIGCONT)
    server.stop()


def test_the_client_has_explicit_timeouts_and_the_policy_is_checked() -> None:
    """The limiter's Redis client gets redis_timeout, whatever redis-py's own default."""
    limits = ResourceLimits(max_tool_calls_per_minute=60, redis_timeout=0.25,
                            redis_url=f"redis://127.0.0.1:{free_port()}/0")
    gov = Governor(limits)
    kwargs = gov._client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 0.25 and kwargs["socket_connect_timeout"] == 0.25
    with pytest.raises(ConfigError, match="on_redis_outage"):
        ResourceLimits(on_redis_outage="ignore")  # type: ignore[arg-type]


@pytest.mark.timeout(20)  # redis-py 8's default would take 5 s per try, older ones forever
async def test_a_frozen_redis_is_refused_within_the_timeouts(own_redis: RedisServer) -> None:
    """SIGSTOP: a tool call's limit is refused after one redis_timeout, naming the outage;
    the requests after it are refused without waiting for Redis again."""
    gov = Governor(ResourceLimits(max_tool_calls_per_minute=60, redis_url=own_redis.url,
                                  redis_timeout=1.0, resource_wait_timeout_seconds=2))
    assert own_redis.proc is not None
    try:
        await gov.acquire_tool_call()
        own_redis.proc.send_signal(signal.SIGSTOP)
        with pytest.raises(RateLimitExceeded, match="on_redis_outage='local'"):
            await gov.acquire_tool_call()
        for _ in range(5):  # refused at once: no timeout per request during the outage
            with pytest.raises(RateLimitExceeded):
                await gov.acquire_tool_call()
        assert gov.usage()["limits"]["max_tool_calls_per_minute"]["redis_errors"] == 1
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
        await gov.aclose()


async def test_local_fallback_enforces_the_limit_per_process_and_returns_to_redis(
    own_redis: RedisServer,
) -> None:
    """on_redis_outage='local': Redis down, this process enforces the limit alone (warned
    once); when Redis answers again the shared bucket is used again."""
    clock = FakeClock(start=100.0)
    limits = ResourceLimits(max_tool_calls_per_minute=60, tool_call_burst_size=3,
                            redis_url=own_redis.url, redis_timeout=0.3,
                            reject_on_limit=True, on_redis_outage="local", namespace="fb")
    gov = Governor(limits, clock=clock, sleep=clock.sleep)
    try:
        await gov.acquire_tool_call()
        own_redis.stop()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):  # a fresh local bucket of the burst size
                await gov.acquire_tool_call()
            with pytest.raises(RateLimitExceeded, match="max_tool_calls_per_minute"):
                await gov.acquire_tool_call()
        texts = [str(w.message) for w in caught]
        assert len(texts) == 1 and "local" in texts[0] and "redis://127.0.0.1" in texts[0]
        stats = gov.usage()["limits"]["max_tool_calls_per_minute"]
        assert stats["local_fallback"] is True

        own_redis.start()
        await clock.run_for(60)  # past the retry interval (and the local bucket refills)
        await gov.acquire_tool_call()
        assert gov.usage()["limits"]["max_tool_calls_per_minute"]["local_fallback"] is False
        import redis

        admin = redis.Redis.from_url(own_redis.url)
        try:
            assert admin.exists("fb:limits:max_tool_calls_per_minute")
        finally:
            admin.close()
    finally:
        await gov.aclose()
