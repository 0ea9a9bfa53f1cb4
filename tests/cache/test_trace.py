"""The trace and its replay: what the TTL tuner shows must match a real run."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pitstop._cache import CacheConfig, ToolCache, TraceRecord, replay
from pitstop.testing import FakeClock

from .conftest import make_tool

TOOLS = {
    "search": make_tool("search", cost=0.01),
    "weather": make_tool("weather", cost=0.002),
    "calculator": make_tool("calculator", cost=None),
}
LATENCY = {"search": 0.8, "weather": 0.3, "calculator": 0.01}


def workload(seed: int, n: int = 300) -> list[tuple[str, str, float]]:
    """(tool, query, arrival time): a skewed, repetitive stream of calls.

    Arrivals are fixed (they do not depend on earlier calls hitting or missing), and
    at least a second apart, longer than any simulated tool takes.
    """
    rnd = random.Random(seed)
    names = sorted(TOOLS)
    calls = []
    at = 1_000.0
    for _ in range(n):
        at += rnd.choice([1, 2, 5, 30])
        calls.append((rnd.choice(names), f"q{min(int(rnd.paretovariate(1.2)), 15)}", at))
    return calls


async def run_workload(ttls: dict[str, float], calls: list[tuple[str, str, float]]) -> ToolCache:
    """Runs the calls through a real cache whose clock also times the (simulated) tools."""
    clock = FakeClock(start=1_000.0)
    cache = ToolCache(CacheConfig(default_ttl=0, tool_specific_ttl=ttls, max_cache_size=10_000),
                      tools=TOOLS, clock=clock, timer=clock)
    for name, query, at in calls:
        clock.now = at

        async def run(name: str = name, query: str = query) -> Any:
            clock.advance(LATENCY[name])
            return f"{name}:{query}"

        await cache.call(TOOLS[name], {"query": query}, run)
    return cache


@pytest.mark.parametrize("seed", [1, 2])
async def test_replay_under_other_ttls_matches_a_real_run_with_them(seed: int) -> None:
    """Replaying a trace under candidate TTLs gives what a real run under them gives."""
    calls = workload(seed)
    recorded = await run_workload({"search": 60, "weather": 10, "calculator": 0}, calls)
    candidate = {"search": 5, "weather": 120, "calculator": 40}
    real = (await run_workload(candidate, calls)).stats()

    predicted = replay(recorded.trace(), candidate)
    assert predicted.calls == len(calls)
    assert predicted.hits == real["hits"] > 0
    assert predicted.time_saved_s == pytest.approx(real["time_saved_s"])
    assert predicted.cost_saved == pytest.approx(real["cost_saved"])
    for name, tool in predicted.tools.items():
        assert tool.hits == real["tool_stats"][name]["hits"], name


async def test_replay_with_the_recorded_ttls_reproduces_the_run() -> None:
    """The trace holds enough to reproduce the hits, time and cost the run saved."""
    ttls = {"search": 60, "weather": 10, "calculator": 0}
    cache = await run_workload(ttls, workload(3))
    s = cache.stats()
    again = replay(cache.trace(), ttls)
    assert (again.hits, again.hit_rate) == (s["hits"], pytest.approx(
        s["hits"] / (s["hits"] + s["misses"] + s["bypassed"])))
    assert again.time_saved_s == pytest.approx(s["time_saved_s"])


def test_replay_skips_what_could_never_be_stored() -> None:
    """Errors and unstorable results never turn into hits, whatever the TTL."""
    records = [
        TraceRecord(0.0, "t", "t(x=1)", "error", 1.0, 1.0, False, 60.0),
        TraceRecord(1.0, "t", "t(x=1)", "error", 1.0, 1.0, False, 60.0),
        TraceRecord(2.0, "t", None, "bypass", 1.0, 1.0, False, 60.0),
        TraceRecord(3.0, "t", "t(x=2)", "miss", 1.0, 1.0, True, 60.0),
        TraceRecord(4.0, "t", "t(x=2)", "hit", 1.0, 1.0, True, 60.0),
    ]
    result = replay(records, 3600)
    assert (result.calls, result.hits, result.cost_saved) == (5, 1, 1.0)
    assert replay(records, 0).hits == 0
    assert replay(records, lambda name: 0.5).hits == 1  # fresh from 3 s to 3 + 1 + 0.5 s
    assert replay(records, lambda name: 0.0).hits == 0
