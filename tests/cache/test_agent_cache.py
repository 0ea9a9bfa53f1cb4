"""The guide's caching blocks, run against HybridAgent with only the imports changed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from pitstop import CacheConfig, HybridAgent, LLMResponse, ToolCall
from pitstop.errors import ConfigError, ToolNotFoundError
from pitstop.testing import ScriptedLLM

logger = logging.getLogger("guide")


def planner(*calls: tuple[str, dict[str, Any]]) -> ScriptedLLM:
    """A model that asks for `calls` in its first turn and answers once they return."""
    return ScriptedLLM(LLMResponse(tool_calls=[ToolCall(name, args) for name, args in calls]),
                       "done")


@pytest.fixture(autouse=True)
def _instant_demo_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo tools skip their simulated latency (their results stay the same)."""
    monkeypatch.setenv("PITSTOP_DEMO_LATENCY_SCALE", "0")


@pytest.fixture
async def agents() -> AsyncIterator[list[HybridAgent]]:
    made: list[HybridAgent] = []
    yield made
    for agent in made:
        await agent.aclose()


def by_tool(results: Sequence[dict[str, Any]]) -> dict[str, bool]:
    return {r["tool_name"]: r["cached"] for r in results}


async def test_pattern_1_aggressive_caching(agents: list[HybridAgent]) -> None:
    """Search and translation are cached inside the agent loop; calculator (TTL 0) never."""
    llm_client = planner(
        ("search", {"query": "Python"}),
        ("translation", {"text": "Hello", "target": "es"}),
        ("calculator", {"operation": "add", "a": 1, "b": 2}),
    )
    config = None

    # -- the guide's block -------------------------------------------------------------
    cache_config = CacheConfig(
        enabled=True,
        default_ttl=3600,  # 1 hour default
        tool_specific_ttl={
            "search": 7200,  # 2 hours for search
            "translation": 86400,  # 24 hours for translation
            "calculator": 0  # Don't cache calculator
        },
        max_cache_size=5000
    )

    agent = HybridAgent(
        agent_id="agent-1",
        llm_client=llm_client,
        tools=["search", "translation", "calculator"],
        config=config,
        cache_config=cache_config
    )
    # -----------------------------------------------------------------------------------
    agents.append(agent)
    cached_per_run = []
    for _ in range(2):
        events = [e async for e in agent.execute_task_streaming("Look things up")]
        cached_per_run.append(by_tool([e for e in events if e["type"] == "tool_result"]))
        assert events[-1]["type"] == "result" and events[-1]["success"]
    assert cached_per_run == [
        {"search": False, "translation": False, "calculator": False},
        {"search": True, "translation": True, "calculator": False},
    ]
    stats = agent.get_cache_stats()
    assert (stats["hits"], stats["misses"], stats["size"]) == (2, 2, 2)
    assert stats["tool_stats"]["calculator"]["bypassed"] == 2
    assert stats["tool_stats"]["calculator"]["hits"] == 0
    assert stats["tool_stats"]["search"]["ttl"] == 7200
    assert stats["cost_saved"] == pytest.approx(0.005 + 0.002)  # the demo tools' costs


async def test_pattern_2_selective_caching(agents: list[HybridAgent]) -> None:
    """With default_ttl=0 only the tools given a TTL are cached."""

    def expensive_api(item: str) -> str:
        return f"expensive {item}"

    def slow_operation(item: str) -> str:
        return f"slow {item}"

    def cheap(item: str) -> str:
        return f"cheap {item}"

    # -- the guide's block -------------------------------------------------------------
    cache_config = CacheConfig(
        enabled=True,
        default_ttl=0,  # Don't cache by default
        tool_specific_ttl={
            "expensive_api": 3600,  # Cache expensive API
            "slow_operation": 1800  # Cache slow operations
        }
    )
    # -----------------------------------------------------------------------------------
    agent = HybridAgent("agent-2", planner(),
                        tools=[expensive_api, slow_operation, cheap], cache_config=cache_config)
    agents.append(agent)
    calls = [{"tool_name": name, "parameters": {"item": "x"}}
             for name in ("expensive_api", "slow_operation", "cheap")]
    await agent.execute_tools_parallel(calls)
    second = await agent.execute_tools_parallel(calls)
    assert by_tool(second) == {"expensive_api": True, "slow_operation": True, "cheap": False}
    assert [r["result"] for r in second] == ["expensive x", "slow x", "cheap x"]


async def test_pattern_3_cache_invalidation(agents: list[HybridAgent]) -> None:
    """Invalidation by tool name and by `param:value` glob removes exactly those results."""
    agent = HybridAgent("agent-3", planner(), tools=["search", "weather"],
                        cache_config=CacheConfig())
    agents.append(agent)
    calls = [{"tool_name": "search", "parameters": {"query": q}}
             for q in ("Python", "Python tutorial", "Rust")]
    calls.append({"tool_name": "weather", "parameters": {"location": "NYC"}})

    await agent.execute_tools_parallel(calls)
    assert agent.invalidate_cache(pattern="query:Python*") == 2
    again = await agent.execute_tools_parallel(calls)
    assert [r["cached"] for r in again] == [False, False, True, True]

    # -- the guide's block -------------------------------------------------------------
    # Invalidate cache after data update
    agent.invalidate_cache(tool_name="search")

    # Invalidate by pattern
    agent.invalidate_cache(pattern="query:Python*")
    # -----------------------------------------------------------------------------------
    after = await agent.execute_tools_parallel(calls)
    assert [r["cached"] for r in after] == [False, False, False, True]
    assert agent.invalidate_cache(tool_name="weather", pattern="location:N*") == 1
    assert agent.get_cache_stats()["size"] == 3


async def test_async_invalidation_and_stats(agents: list[HybridAgent]) -> None:
    """ainvalidate_cache and aget_cache_stats: same checks and counts as the sync forms."""
    agent = HybridAgent("agent-3a", planner(), tools=["search", "weather"],
                        cache_config=CacheConfig())
    agents.append(agent)
    calls = [{"tool_name": "search", "parameters": {"query": q}} for q in ("Python", "Rust")]
    await agent.execute_tools_parallel(calls)
    assert (await agent.aget_cache_stats())["size"] == 2
    assert await agent.ainvalidate_cache(pattern="query:Py*") == 1
    assert (await agent.aget_cache_stats())["size"] == 1
    with pytest.raises(ToolNotFoundError):
        await agent.ainvalidate_cache(tool_name="serch")
    with pytest.raises(ConfigError, match="takes one tool name"):
        await agent.ainvalidate_cache(tool_name=["search"])  # type: ignore[arg-type]
    bare = HybridAgent("agent-3b", planner(), tools=["search"])  # no cache_config: no cache
    agents.append(bare)
    assert await bare.ainvalidate_cache() == 0
    assert (await bare.aget_cache_stats())["enabled"] is False


async def test_cache_size_limits(agents: list[HybridAgent]) -> None:
    """max_cache_size=1000 holds at 1000 entries, evicting the least recently used."""
    # -- the guide's block -------------------------------------------------------------
    cache_config = CacheConfig(
        enabled=True,
        max_cache_size=1000,  # Limit cache entries
        max_memory_mb=100  # Limit cache memory
    )
    # -----------------------------------------------------------------------------------
    agent = HybridAgent("agent-4", planner(), tools=["search"],
                        cache_config=cache_config)
    agents.append(agent)
    calls = [{"tool_name": "search", "parameters": {"query": f"q{i}"}} for i in range(1005)]
    results = await agent.execute_tools_parallel(calls, max_concurrency=50)
    assert all(r["success"] for r in results)
    stats = agent.get_cache_stats()
    assert (stats["size"], stats["evictions"]) == (1000, 5)
    assert 0 < stats["memory_mb"] <= 100
    first = await agent.execute_tools_parallel([calls[0], calls[-1]])
    assert [r["cached"] for r in first] == [False, True]


@pytest.mark.parametrize(("repeats", "warned"), [(4, False), (1, True)])
async def test_cache_performance(
    agents: list[HybridAgent], capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture, repeats: int, warned: bool,
) -> None:
    """The hit rate the guide prints is the real one, and the low-rate warning fires."""
    agent = HybridAgent("agent-5", planner(), tools=["search"],
                        cache_config=CacheConfig())
    agents.append(agent)
    for i in range(4):
        query = "same" if repeats == 4 else f"q{i}"
        await agent.execute_tools_parallel([{"tool_name": "search",
                                             "parameters": {"query": query}}])
    caplog.set_level(logging.WARNING, logger="guide")

    # -- the guide's block -------------------------------------------------------------
    stats = agent.get_cache_stats()

    print(f"Cache hit rate: {stats['hit_rate']:.1%}")
    print(f"Cache size: {stats['size']}")

    if stats['hit_rate'] < 0.3:
        logger.warning("Low cache hit rate - consider adjusting TTL")
    # -----------------------------------------------------------------------------------
    out = capsys.readouterr().out
    if repeats == 4:
        assert out == "Cache hit rate: 75.0%\nCache size: 1\n"
    else:
        assert out == "Cache hit rate: 0.0%\nCache size: 4\n"
    assert ("Low cache hit rate" in caplog.text) is warned


async def test_monitor_and_adjust_changes_apply_to_later_calls(
    agents: list[HybridAgent],
) -> None:
    """`cache_config.default_ttl = 600` after building the agent is the TTL used next."""
    cache_config = CacheConfig(default_ttl=300)
    agent = HybridAgent("agent-6", planner(), tools=["search"],
                        cache_config=cache_config)
    agents.append(agent)
    await agent.execute_tools_parallel([{"tool_name": "search", "parameters": {"query": "a"}}])
    cache_config.default_ttl = 600
    await agent.execute_tools_parallel([{"tool_name": "search", "parameters": {"query": "b"}}])
    assert agent.cache is not None
    assert [r.ttl for r in agent.cache.trace()] == [300, 600]
    cache_config.enabled = False
    done = await agent.execute_tools_parallel([{"tool_name": "search",
                                                "parameters": {"query": "a"}}])
    assert done[0]["cached"] is False


async def test_guide_monitor_and_adjust_block_as_written(agents: list[HybridAgent]) -> None:
    """Best practice 2, unchanged: a low hit rate raises default_ttl, which the agent uses."""
    cache_config = CacheConfig(default_ttl=300)
    agent = HybridAgent("agent-7", planner(), tools=["search"],
                        cache_config=cache_config)
    agents.append(agent)
    await agent.execute_tools_parallel(
        [{"tool_name": "search", "parameters": {"query": q}} for q in "abc"])  # all misses

    # Monitor performance
    metrics = agent.get_performance_metrics()
    cache_stats = agent.get_cache_stats()

    # Adjust based on metrics
    if metrics['avg_response_time'] > 2.0:
        # Increase caching
        cache_config.default_ttl = 600

    if cache_stats['hit_rate'] < 0.3:
        # Adjust cache TTL
        cache_config.default_ttl = 1800

    assert cache_stats["hit_rate"] == 0.0 and cache_config.default_ttl == 1800
    await agent.execute_tools_parallel([{"tool_name": "search", "parameters": {"query": "d"}}])
    assert agent.cache is not None and agent.cache.trace()[-1].ttl == 1800
