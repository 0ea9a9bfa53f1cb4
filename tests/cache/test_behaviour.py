"""The behaviour every backend must share (memory, disk and Redis, parametrised)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pitstop._cache import CacheConfig, ToolCache
from pitstop._cache.config import BYTES_PER_MB
from pitstop.testing import FakeClock

from .conftest import Counted, make_tool

MakeCache = Callable[..., ToolCache]


async def test_second_identical_call_is_a_hit(make_cache: MakeCache) -> None:
    """The second identical call returns the stored result without running the tool."""
    cache = make_cache()
    tool, body = make_tool(), Counted()
    args = {"query": "Python", "limit": 3}
    first = await cache.call(tool, args, body.runner(args))
    second = await cache.call(tool, dict(reversed(args.items())), body.runner(args))
    assert first == ({"args": args, "items": [1, 2, 3]}, False)
    assert second == (first[0], True)
    assert body.runs == 1
    s = cache.stats()
    assert (s["hits"], s["misses"], s["hit_rate"], s["size"]) == (1, 1, 0.5, 1)
    assert s["tool_stats"]["search"]["hits"] == 1


async def test_different_arguments_miss(make_cache: MakeCache) -> None:
    """Arguments that differ in value or type are different entries."""
    cache = make_cache()
    tool, body = make_tool(), Counted()
    for args in ({"query": "a"}, {"query": "b"}, {"query": "a", "limit": 1},
                 {"query": "a", "limit": True}, {"query": "a", "limit": 1.0}):
        assert (await cache.call(tool, args, body.runner(args)))[1] is False
    assert body.runs == 5
    assert cache.stats()["size"] == 5


async def test_hit_result_cannot_be_corrupted_by_mutation(make_cache: MakeCache) -> None:
    """Mutating a returned result (miss or hit) never changes what the cache serves."""
    cache = make_cache()
    tool, body = make_tool(), Counted()
    args = {"query": "x"}
    first, _ = await cache.call(tool, args, body.runner(args))
    first["items"].append("corrupt")
    second, cached = await cache.call(tool, args, body.runner(args))
    assert cached and second["items"] == [1, 2, 3]
    second["items"].clear()
    second["new"] = 1
    third, _ = await cache.call(tool, args, body.runner(args))
    assert third == {"args": args, "items": [1, 2, 3]}


async def test_entries_expire_after_their_ttl(make_cache: MakeCache, clock: FakeClock) -> None:
    """An entry is fresh until its TTL passes, then the tool runs again."""
    cache = make_cache(default_ttl=10)
    tool, body = make_tool(), Counted()
    args = {"query": "x"}
    await cache.call(tool, args, body.runner(args))
    clock.advance(9.5)
    assert (await cache.call(tool, args, body.runner(args)))[1] is True
    clock.advance(0.5)  # exactly at the expiry time: stale
    assert (await cache.call(tool, args, body.runner(args)))[1] is False
    assert body.runs == 2
    assert cache.stats()["expirations"] == 1


async def test_expired_entries_are_swept_not_only_skipped(
    make_cache: MakeCache, clock: FakeClock
) -> None:
    """Expired entries leave the cache (and its byte count) without being looked up."""
    cache = make_cache(default_ttl=5)
    tool, body = make_tool(), Counted()
    for i in range(4):
        await cache.call(tool, {"query": str(i)}, body.runner({"query": str(i)}))
    clock.advance(5)
    s = cache.stats()
    assert (s["size"], s["memory_mb"], s["expirations"]) == (0, 0.0, 4)


async def test_ttl_zero_is_never_stored(make_cache: MakeCache) -> None:
    """A tool with TTL 0 runs every time and leaves nothing in the cache."""
    cache = make_cache(tool_specific_ttl={"calculator": 0})
    calc, body = make_tool("calculator"), Counted()
    args = {"query": "1+1"}
    for _ in range(3):
        assert (await cache.call(calc, args, body.runner(args)))[1] is False
    s = cache.stats()
    assert body.runs == 3
    assert (s["size"], s["hits"], s["bypassed"], s["uncacheable"]) == (0, 0, 3, {"ttl_zero": 3})


async def test_non_cacheable_tools_and_disabled_cache_run_every_time(
    make_cache: MakeCache,
) -> None:
    """cacheable=False tools and a disabled cache run the tool and count no hit."""
    cache = make_cache()
    side_effect, body = make_tool("send_mail", cacheable=False), Counted()
    args = {"query": "hi"}
    for _ in range(2):
        assert (await cache.call(side_effect, args, body.runner(args)))[1] is False
    cache.config.enabled = False
    search = make_tool()
    for _ in range(2):
        assert (await cache.call(search, args, body.runner(args)))[1] is False
    s = cache.stats()
    assert body.runs == 4
    assert (s["hits"], s["size"]) == (0, 0)
    assert s["uncacheable"] == {"not_cacheable_tool": 2, "disabled": 2}


async def test_errors_are_never_cached(make_cache: MakeCache) -> None:
    """A run that raises propagates its exception and stores nothing."""
    cache = make_cache()
    tool = make_tool()
    runs = 0

    async def failing() -> Any:
        nonlocal runs
        runs += 1
        raise RuntimeError("boom")

    for _ in range(2):
        with pytest.raises(RuntimeError, match="boom"):
            await cache.call(tool, {"query": "x"}, failing)
    s = cache.stats()
    assert runs == 2
    assert (s["size"], s["errors"], s["misses"], s["hits"]) == (0, 2, 2, 0)


async def test_config_changes_apply_to_later_calls(make_cache: MakeCache, clock: FakeClock) -> None:
    """TTLs are read live: the guide's `cache_config.default_ttl = 600` takes effect."""
    config_cache = make_cache(default_ttl=10)
    config = config_cache.config
    tool, body = make_tool(), Counted()
    config.default_ttl = 600
    await config_cache.call(tool, {"query": "a"}, body.runner({"query": "a"}))
    clock.advance(500)
    assert (await config_cache.call(tool, {"query": "a"}, body.runner({"query": "a"})))[1]
    config.tool_specific_ttl = {"search": 0}
    assert not (await config_cache.call(tool, {"query": "a"}, body.runner({"query": "a"})))[1]


async def test_negative_ttl_edited_in_place_is_a_clear_error(make_cache: MakeCache) -> None:
    """A negative TTL slipped into the dict in place raises ConfigError at the next call."""
    cache = make_cache()
    cache.config.tool_specific_ttl["search"] = -5
    with pytest.raises(ValueError, match=r"tool_specific_ttl\['search'\] must be >= 0 seconds, "
                                         r"got -5; use 0 to never cache a tool"):
        await cache.call(make_tool(), {"query": "a"}, Counted().runner({"query": "a"}))


async def test_entry_bound_evicts_least_recently_used(make_cache: MakeCache) -> None:
    """With max_cache_size=3, a fourth entry evicts the least recently used one."""
    cache = make_cache(max_cache_size=3)
    tool, body = make_tool(), Counted()
    for q in "abc":
        await cache.call(tool, {"query": q}, body.runner({"query": q}))
    await cache.call(tool, {"query": "a"}, body.runner({"query": "a"}))  # a is now recent
    await cache.call(tool, {"query": "d"}, body.runner({"query": "d"}))  # evicts b
    assert cache.stats()["evictions"] == 1
    assert cache.stats()["size"] == 3
    assert (await cache.call(tool, {"query": "a"}, body.runner({"query": "a"})))[1] is True
    assert (await cache.call(tool, {"query": "b"}, body.runner({"query": "b"})))[1] is False


async def test_memory_bound_counts_serialised_bytes(make_cache: MakeCache) -> None:
    """max_memory_mb caps the stored bytes; the oldest entries go first."""
    cache = make_cache(max_memory_mb=0.01)  # 10,485 bytes
    tool = make_tool()
    body = Counted(lambda **kw: "x" * 3000)
    for q in "abcde":
        await cache.call(tool, {"query": q}, body.runner({"query": q}))
    s = cache.stats()
    limit = 0.01 * BYTES_PER_MB
    assert s["memory_mb"] * BYTES_PER_MB <= limit
    assert s["size"] == 3 and s["evictions"] == 2
    assert s["memory_mb"] * BYTES_PER_MB > 3 * 3000  # the payload is counted, not a pointer


async def test_result_larger_than_the_bound_is_not_stored(make_cache: MakeCache) -> None:
    """A result bigger than max_memory_mb is returned but not cached (and evicts nothing)."""
    cache = make_cache(max_memory_mb=0.001)
    tool = make_tool()
    small, big = Counted(lambda **kw: "s"), Counted(lambda **kw: "x" * 5000)
    await cache.call(tool, {"query": "s"}, small.runner({"query": "s"}))
    value, _ = await cache.call(tool, {"query": "big"}, big.runner({"query": "big"}))
    assert value == "x" * 5000
    s = cache.stats()
    assert (s["size"], s["evictions"], s["uncacheable"]) == (1, 0, {"too_large": 1})


async def test_invalidate_by_tool_by_pattern_and_both(make_cache: MakeCache) -> None:
    """invalidate() removes by tool name, by label glob, or by both, and says how many."""
    cache = make_cache()
    search, weather, body = make_tool("search"), make_tool("weather"), Counted()
    for tool, q in [(search, "Python tutorial"), (search, "Python"), (search, "Rust"),
                    (weather, "Python"), (weather, "NYC")]:
        await cache.call(tool, {"query": q}, body.runner({"query": q}))
    assert cache.invalidate(tool_name="search", pattern="query:Python*") == 2
    assert cache.invalidate(pattern="query:Python*") == 1
    assert cache.invalidate(pattern="limit:*") == 0
    assert cache.invalidate(tool_name="weather") == 1
    assert cache.stats()["size"] == 1
    hit = await cache.call(search, {"query": "Rust"}, body.runner({"query": "Rust"}))
    assert hit[1] is True
    assert cache.invalidate() == 1
    assert cache.stats()["invalidated"] == 5


async def test_the_async_forms_agree_with_the_sync_ones(make_cache: MakeCache) -> None:
    """ainvalidate, astats and aclear give the same counts and figures as their sync forms."""
    cache = make_cache()
    search, weather, body = make_tool("search"), make_tool("weather"), Counted()
    for tool, q in [(search, "Python tutorial"), (search, "Python"), (search, "Rust"),
                    (weather, "NYC")]:
        await cache.call(tool, {"query": q}, body.runner({"query": q}))
    sync = cache.stats()
    stats = await cache.astats()
    assert (stats["size"], stats["memory_mb"]) == (sync["size"], sync["memory_mb"]) != (0, 0.0)
    assert await cache.ainvalidate(tool_name="search", pattern="query:Python*") == 2
    assert await cache.ainvalidate(tool_name="weather") == 1
    stats = await cache.astats()
    assert (stats["size"], stats["invalidated"]) == (1, 3)
    hit = await cache.call(search, {"query": "Rust"}, body.runner({"query": "Rust"}))
    assert hit[1] is True
    await cache.aclear()
    assert (await cache.astats())["size"] == 0


async def test_non_string_labels_use_their_canonical_form(make_cache: MakeCache) -> None:
    """Labels of numbers read like Python (`limit:3`), so globs can target them."""
    cache = make_cache()
    tool, body = make_tool(), Counted()
    for limit in (3, 30, 4):
        args = {"query": "q", "limit": limit}
        await cache.call(tool, args, body.runner(args))
    assert cache.invalidate(pattern="limit:3*") == 2


async def test_unserialisable_arguments_are_counted_not_fatal(make_cache: MakeCache) -> None:
    """An argument with no canonical form makes the call uncacheable, with a reason."""
    cache = make_cache()
    tool, body = make_tool(), Counted(lambda **kw: "ok")
    args = {"query": object()}
    for _ in range(2):
        assert await cache.call(tool, args, body.runner(args)) == ("ok", False)
    s = cache.stats()
    assert body.runs == 2
    assert s["uncacheable"] == {"arguments_not_serialisable": 2}


async def test_results_json_cannot_round_trip_are_not_stored(make_cache: MakeCache) -> None:
    """A tuple or an object result is returned as it is but never cached."""
    cache = make_cache()
    tool = make_tool()
    body = Counted(lambda **kw: (1, 2))
    for _ in range(2):
        result = await cache.call(tool, {"query": "t"}, body.runner({"query": "t"}))
        assert result == ((1, 2), False)
    assert cache.stats()["uncacheable"] == {"result_not_json": 2}
    assert cache.stats()["size"] == 0


async def test_time_and_cost_saved_come_from_measured_runs(make_cache: MakeCache) -> None:
    """Each hit adds the measured latency of the run it reused and the tool's cost."""
    ticks = iter([10.0, 10.25, 20.0, 20.5])  # two runs: 0.25 s and 0.5 s
    config = make_cache().config
    cache = ToolCache(config, clock=FakeClock(start=1_000.0), timer=lambda: next(ticks),
                      namespace="t2")
    try:
        tool, body = make_tool(cost=0.02), Counted()
        for q in ["a", "a", "a", "b", "b"]:
            await cache.call(tool, {"query": q}, body.runner({"query": q}))
        s = cache.stats()
        assert s["time_saved_s"] == pytest.approx(2 * 0.25 + 0.5)
        assert s["cost_saved"] == pytest.approx(3 * 0.02)
        assert s["tool_stats"]["search"]["avg_latency_s"] == pytest.approx(0.375)
    finally:
        await cache.aclose()


async def test_trace_records_every_call(make_cache: MakeCache, clock: FakeClock) -> None:
    """The trace holds time, tool, key, outcome, latency, cost and labels of each call."""
    cache = make_cache(tool_specific_ttl={"calculator": 0})
    search, calc, body = make_tool(cost=0.1), make_tool("calculator", cost=None), Counted()
    await cache.call(search, {"query": "a"}, body.runner({"query": "a"}))
    clock.advance(1)
    await cache.call(search, {"query": "a"}, body.runner({"query": "a"}))
    await cache.call(calc, {"query": "1+1"}, body.runner({"query": "1+1"}))
    miss, hit, bypass = cache.trace()
    assert (miss.outcome, hit.outcome, bypass.outcome) == ("miss", "hit", "bypass")
    assert (miss.time, hit.time) == (1000.0, 1001.0)
    assert miss.key == hit.key == "search(query='a')"
    assert hit.latency == miss.latency and hit.hit and not miss.hit
    assert (hit.cost, bypass.cost, bypass.ttl, bypass.storable) == (0.1, 0.0, 0.0, True)
    assert miss.labels == ("search", "query:a")


async def test_trace_is_bounded_by_trace_size(make_cache: MakeCache) -> None:
    """The trace keeps only the most recent `trace_size` calls (read live)."""
    cache = make_cache(trace_size=2)
    tool, body = make_tool(), Counted()
    for q in "abc":
        await cache.call(tool, {"query": q}, body.runner({"query": q}))
    assert [r.key for r in cache.trace()] == ["search(query='b')", "search(query='c')"]
    cache.config.trace_size = 0
    await cache.call(tool, {"query": "d"}, body.runner({"query": "d"}))
    assert cache.trace() == []


async def test_clear_removes_everything(make_cache: MakeCache) -> None:
    """clear() empties the cache but keeps the statistics."""
    cache = make_cache()
    tool, body = make_tool(), Counted()
    for q in "ab":
        await cache.call(tool, {"query": q}, body.runner({"query": q}))
    cache.clear()
    s = cache.stats()
    assert (s["size"], s["misses"]) == (0, 2)
    assert (await cache.call(tool, {"query": "a"}, body.runner({"query": "a"})))[1] is False


async def test_namespaces_do_not_share_entries(
    backend_config: Callable[..., CacheConfig], clock: FakeClock
) -> None:
    """Two namespaces on one backend never see each other's entries."""
    one = ToolCache(backend_config(namespace="alice"), clock=clock)
    two = ToolCache(backend_config(namespace="bob"), clock=clock)
    try:
        tool, body = make_tool(), Counted()
        await one.call(tool, {"query": "a"}, body.runner({"query": "a"}))
        assert (await two.call(tool, {"query": "a"}, body.runner({"query": "a"})))[1] is False
        assert two.invalidate() == 1
        assert (await one.call(tool, {"query": "a"}, body.runner({"query": "a"})))[1] is True
    finally:
        await one.aclose()
        await two.aclose()


@pytest.mark.parametrize("bad", [{"x": 1}, [1], "search", 3])
async def test_invalidate_rejects_non_string_arguments(make_cache: MakeCache, bad: Any) -> None:
    """invalidate() names the bad value instead of silently matching nothing."""
    cache = make_cache()
    if isinstance(bad, str):
        assert cache.invalidate(tool_name=bad) == 0
        return
    with pytest.raises(ValueError, match="must be"):
        cache.invalidate(pattern=bad)


async def test_an_infinite_ttl_never_expires(make_cache: MakeCache, clock: FakeClock) -> None:
    """default_ttl=inf keeps entries until they are evicted or invalidated."""
    cache = make_cache(default_ttl=float("inf"))
    tool, body = make_tool(), Counted()
    await cache.call(tool, {"query": "a"}, body.runner({"query": "a"}))
    clock.advance(1e9)
    assert (await cache.call(tool, {"query": "a"}, body.runner({"query": "a"})))[1] is True
    assert cache.stats()["size"] == 1
