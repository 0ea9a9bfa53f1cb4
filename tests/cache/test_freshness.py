"""Freshness is judged with the TTL in force at read time, on every backend."""

from __future__ import annotations

from collections.abc import Callable

from pitstop._cache import ToolCache

from .conftest import Counted, FakeClock, make_tool

MakeCache = Callable[..., ToolCache]


async def test_lowering_a_ttl_expires_entries_already_stored(
    make_cache: MakeCache, clock: FakeClock
) -> None:
    """A two-minute-old result is not served once the tool's TTL drops to 10 s."""
    cache = make_cache(default_ttl=300)
    tool, body = make_tool(), Counted()
    args = {"query": "q"}
    await cache.call(tool, args, body.runner(args))
    clock.advance(120)
    assert (await cache.call(tool, args, body.runner(args)))[1] is True
    cache.config.tool_specific_ttl["search"] = 10
    assert (await cache.call(tool, args, body.runner(args)))[1] is False
    assert body.runs == 2
    assert cache.stats()["expirations"] == 1


async def test_lowering_the_default_ttl_sweeps_stored_entries(
    make_cache: MakeCache, clock: FakeClock
) -> None:
    """Entries that are stale under a lowered default TTL leave the size count."""
    cache = make_cache(default_ttl=300)
    tool, body = make_tool(), Counted()
    for q in "abc":
        await cache.call(tool, {"query": q}, body.runner({"query": q}))
    clock.advance(60)
    await cache.call(tool, {"query": "d"}, body.runner({"query": "d"}))
    cache.config.default_ttl = 30
    s = cache.stats()
    assert (s["size"], s["expirations"]) == (1, 3)


async def test_raising_a_ttl_keeps_entries_still_stored(
    make_cache: MakeCache, clock: FakeClock
) -> None:
    """An entry written under a 10 s TTL is still served at 50 s after the TTL is raised."""
    cache = make_cache(default_ttl=10)
    tool, body = make_tool(), Counted()
    args = {"query": "q"}
    await cache.call(tool, args, body.runner(args))
    clock.advance(5)
    cache.config.default_ttl = 100
    clock.advance(45)
    other = {"query": "other"}
    await cache.call(tool, other, body.runner(other))  # an insert sweeps: it must keep "q"
    assert cache.stats()["size"] == 2
    assert (await cache.call(tool, args, body.runner(args)))[1] is True
    clock.advance(50)  # 100 s after it was written: stale under the raised TTL
    assert (await cache.call(tool, args, body.runner(args)))[1] is False
    assert body.runs == 3
