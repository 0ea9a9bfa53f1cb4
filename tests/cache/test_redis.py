"""The Redis backend: real Redis TTLs, sharing between processes, and outages."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
import redis

from pitstop._cache import CacheConfig, ToolCache
from pitstop.testing import FakeClock

from .conftest import Counted, make_tool

pytestmark = pytest.mark.redis


def _config(url: str, **fields: object) -> CacheConfig:
    return CacheConfig(backend="redis", redis_url=url, **fields)  # type: ignore[arg-type]


async def test_values_are_json_without_a_fixed_redis_expiry(
    redis_url: str, clock: FakeClock
) -> None:
    """Each entry is a Redis key holding JSON, with no PX: the TTL in force decides."""
    cache = ToolCache(_config(redis_url, tool_specific_ttl={"search": 120}), clock=clock,
                      namespace="ns")
    try:
        await cache.call(make_tool(), {"query": "q"}, Counted().runner({"query": "q"}))
    finally:
        await cache.aclose()
    client = redis.Redis.from_url(redis_url)
    (key,) = client.keys("pitstop:ns:v:*")
    assert key == b"pitstop:ns:v:search(query='q')"
    assert client.pttl(key) == -1  # a later, higher TTL must still find it stored
    assert float(client.zscore("pitstop:ns:at:search", "search(query='q')")) == clock.now
    assert json.loads(client.get(key))["v"] == {"args": {"query": "q"}, "items": [1, 2, 3]}
    client.close()


def test_another_process_gets_the_hit(redis_url: str) -> None:
    """A result stored by this process is a hit in a separate Python process."""

    async def store() -> None:
        cache = ToolCache(_config(redis_url, namespace="shared"))
        body = Counted(lambda **kw: "from parent")
        try:
            await cache.call(make_tool(), {"query": "q"}, body.runner({"query": "q"}))
        finally:
            await cache.aclose()

    asyncio.run(store())
    script = textwrap.dedent(f"""
        import asyncio
        from pitstop._cache import CacheConfig, ToolCache
        from pitstop._tools.base import Tool

        def search(query: str = "", limit: int = 3) -> str:
            return "from child"

        async def main():
            cache = ToolCache(CacheConfig(backend="redis", redis_url={redis_url!r},
                                          namespace="shared"))
            async def run():
                return "from child"
            print(await cache.call(Tool(search), {{"query": "q"}}, run))
            await cache.aclose()

        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "('from parent', True)"


async def test_an_outage_degrades_warns_once_and_recovers(
    redis_server: object, redis_url: str, clock: FakeClock
) -> None:
    """Redis stopping mid-run: calls go on uncached, one warning, then caching resumes."""
    server = redis_server
    cache = ToolCache(_config(redis_url, redis_timeout=0.5), clock=clock)
    tool, body = make_tool(), Counted()
    args = {"query": "q"}
    try:
        await cache.call(tool, args, body.runner(args))
        assert (await cache.call(tool, args, body.runner(args)))[1] is True
        server.stop()  # type: ignore[attr-defined]
        with pytest.warns(RuntimeWarning, match="redis tool cache .* is unreachable") as warned:
            for _ in range(4):
                assert (await cache.call(tool, args, body.runner(args)))[1] is False
                clock.advance(0.6)  # some calls retry Redis, some skip it
        assert len([w for w in warned if "unreachable" in str(w.message)]) == 1
        s = cache.stats()
        assert s["degraded"] is True and s["backend_errors"] >= 2
        assert body.runs == 5

        server.start()  # type: ignore[attr-defined]
        clock.advance(1.0)
        assert (await cache.call(tool, args, body.runner(args)))[1] is False  # restarted empty
        assert cache.stats()["degraded"] is False
        assert (await cache.call(tool, args, body.runner(args)))[1] is True
    finally:
        if server.proc is None:  # type: ignore[attr-defined]
            server.start()  # type: ignore[attr-defined]
        await cache.aclose()


async def test_invalidations_during_an_outage_apply_when_redis_answers(
    redis_url: str, clock: FakeClock
) -> None:
    """An invalidation Redis could not take is applied before the next lookup."""
    cache = ToolCache(_config(redis_url, redis_timeout=0.1), clock=clock)
    tool, body = make_tool(), Counted()
    args = {"query": "Python"}
    admin = redis.Redis.from_url(redis_url)
    try:
        await cache.call(tool, args, body.runner(args))
        admin.execute_command("CLIENT", "PAUSE", 400, "ALL")  # Redis stops answering
        paused = time.monotonic()
        with pytest.warns(RuntimeWarning, match="unreachable"):
            assert cache.invalidate(pattern="query:Py*") == 0
            assert cache.stats()["degraded"] is True
        await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - paused)))  # the pause ends
        clock.advance(1.0)
        assert (await cache.call(tool, args, body.runner(args)))[1] is False
        assert body.runs == 2
        assert cache.stats()["degraded"] is False
    finally:
        admin.close()
        await cache.aclose()


async def test_an_unreachable_redis_at_start_never_fails_a_call(clock: FakeClock) -> None:
    """With no Redis at all, every call still runs its tool."""
    from tests.conftest import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    cache = ToolCache(_config(url, redis_timeout=0.2), clock=clock)
    tool, body = make_tool(), Counted()
    try:
        with pytest.warns(RuntimeWarning, match="unreachable"):
            for _ in range(2):
                assert (await cache.call(tool, {"query": "q"}, body.runner({"query": "q"})))[1] \
                    is False
        assert cache.invalidate(tool_name="search") == 0
        assert cache.stats()["size"] == 0
    finally:
        await cache.aclose()


def _stats_in_child(cache: ToolCache, out: Any) -> None:
    out.put(cache.stats()["size"])


def test_a_forked_child_asks_redis_with_its_own_worker(redis_url: str) -> None:
    """A process forked after the parent used the cache's worker thread gets its stats
    (the thread was not copied into the child; waiting for it would hang forever)."""
    import multiprocessing

    cache = ToolCache(_config(redis_url))

    async def fill() -> None:
        await cache.call(make_tool(), {"query": "q"}, Counted().runner({"query": "q"}))

    asyncio.run(fill())
    assert cache.stats()["size"] == 1  # the parent's worker thread exists now
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_stats_in_child, args=(cache, out))
    child.start()
    child.join(60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0
    assert out.get(timeout=5) == 1
