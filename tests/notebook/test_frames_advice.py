"""DataFrames of an agent's numbers, and the hints drawn from them."""

from __future__ import annotations

import asyncio
from typing import Any

from pitstop import AgentConfig, CacheConfig, Monitor, ResourceLimits, ToolCall
from pitstop.notebook._advice import hints
from pitstop.notebook._frames import cache_frame, metrics_frame, spans_frame, waits_frame
from pitstop.testing import FakeClock

from .conftest import make_agent


async def test_frames_of_a_real_agent() -> None:
    """metrics, cache and spans frames hold the recorded figures."""
    agent = make_agent([ToolCall("lookup", {"query": "a"}), ToolCall("lookup", {"query": "b"})])
    await agent.execute_task("one")
    await agent.execute_task("two")
    m = metrics_frame(agent)
    assert list(m.columns) == ["count", "errors", "avg_ms", "p50_ms", "p95_ms", "p99_ms",
                               "min_ms", "max_ms"]
    assert list(m.index) == ["task", "llm_call", "tool:lookup", "cache_hit:lookup"]
    assert m.loc["task", "count"] == 2 and m.loc["tool:lookup", "count"] == 2
    assert m.loc["cache_hit:lookup", "count"] == 2
    assert m.loc["llm_call", "count"] == 4
    c = cache_frame(agent)
    assert c.loc["lookup", ["hits", "misses"]].tolist() == [2, 2]
    assert c.loc["lookup", "hit_rate"] == 0.5
    s = spans_frame(agent)
    assert len(s) == len(agent.monitor.spans())
    assert set(s["kind"]) == {"task", "llm", "tool"}
    assert s.loc[s["kind"] == "tool", "cached"].tolist() == [False, False, True, True]
    assert s["start_s"].min() == 0.0
    one = spans_frame(agent, task_id=s["task_id"].iloc[-1])
    assert set(one["task_id"]) == {s["task_id"].iloc[-1]}
    assert waits_frame(agent).empty


def test_frames_of_an_idle_agent_are_empty_with_columns() -> None:
    """No data: empty frames that still have their columns."""
    agent = make_agent(cache_config=None)
    assert metrics_frame(agent).empty and "p95_ms" in metrics_frame(agent).columns
    assert cache_frame(agent).empty and "hit_rate" in cache_frame(agent).columns
    assert spans_frame(agent).empty and "duration_ms" in spans_frame(agent).columns
    assert hints(agent) == []


def timed_tool(clock: FakeClock, seconds: float) -> Any:
    async def slow(query: str) -> str:
        """A tool that takes `seconds` of fake time and yields to the loop."""
        await asyncio.sleep(0)
        clock.advance(seconds)
        await asyncio.sleep(0)
        return query

    return slow


async def test_hint_for_tool_calls_run_one_after_another() -> None:
    """A turn whose calls ran in sequence is reported with its cause and what it cost."""
    clock = FakeClock(start=100.0)
    agent = make_agent([ToolCall("slow", {"query": q}) for q in "abc"],
                       tools=[timed_tool(clock, 0.25)], monitor=Monitor(clock=clock),
                       enable_parallel_execution=False)
    await agent.execute_task("go")
    assert hints(agent) == [
        "1 model turn ran its tool calls one after another (0.75 s of tool time); run "
        "together they would take about 0.25 s: enable_parallel_execution is False; "
        "set it to True."
    ]


async def test_no_hint_when_calls_overlap() -> None:
    """Parallel calls give no sequential hint."""
    clock = FakeClock(start=100.0)
    agent = make_agent([ToolCall("slow", {"query": q}) for q in "abc"],
                       tools=[timed_tool(clock, 0.25)], monitor=Monitor(clock=clock))
    await agent.execute_task("go")
    assert hints(agent) == []


async def test_hint_for_max_concurrency_below_calls_per_turn() -> None:
    """Five calls with max_concurrency=2 ran in three waves."""
    agent = make_agent([ToolCall("lookup", {"query": q}) for q in "abcde"],
                       config=AgentConfig(max_concurrency=2))
    await agent.execute_task("go")
    assert "A model turn asked for 5 tool calls but AgentConfig.max_concurrency is 2, so " \
           "they ran in 3 waves; raise it to run them all at once." in hints(agent)


async def test_hint_for_a_low_hit_rate() -> None:
    """A tool whose arguments never repeat has a low hit rate."""
    agent = make_agent([ToolCall("lookup", {"query": q}) for q in "abcdef"])
    await agent.execute_task("go")
    assert hints(agent) == [
        "Tool 'lookup' hits the cache 0% of the time (0 of 6 lookups): its arguments rarely "
        "repeat within its TTL (300 s). TTLTuner(agent) shows what other TTLs would save."
    ]


async def test_hint_for_an_uncached_tool_whose_calls_repeat() -> None:
    """TTL 0 with repeated arguments: a TTL would help."""
    agent = make_agent([ToolCall("lookup", {"query": "same"})],
                       cache_config=CacheConfig(tool_specific_ttl={"lookup": 0}))
    for _ in range(3):
        await agent.execute_task("go")
    (hint,) = hints(agent)
    assert hint.startswith(
        "Tool 'lookup' is not cached (TTL 0), yet 2 of its 3 calls repeated earlier "
        "arguments; a TTL above 0 (CacheConfig.tool_specific_ttl['lookup']) would serve those "
        "from the cache and save about ")


async def test_hint_for_repeated_calls_without_a_cache_with_the_time_it_would_save() -> None:
    """No cache at all: identical calls are spotted, and the saving is their measured time."""
    clock = FakeClock(start=100.0)
    agent = make_agent([ToolCall("slow", {"query": "same"})], tools=[timed_tool(clock, 0.25)],
                       monitor=Monitor(clock=clock), cache_config=None)
    for _ in range(3):
        await agent.execute_task("go")
    assert hints(agent) == [
        "Tool 'slow' was called 3 times, 2 of them with arguments it had already been given, "
        "and the agent has no cache; HybridAgent(..., cache_config=CacheConfig()) would serve "
        "those and save about 500 ms of tool time."
    ]


async def test_hint_for_compression_that_fires_every_turn() -> None:
    """A target just under the threshold compresses again at every turn; the hint says so."""
    from pitstop import CompressionConfig, ContextEngine, FunctionLLM, HybridAgent

    engine = ContextEngine(CompressionConfig(auto_compress_enabled=True, keep_recent=1,
                                             auto_compress_threshold=4, auto_compress_target=3))
    agent = HybridAgent("c", FunctionLLM(lambda m, t: "ok"), context_engine=engine)
    for i in range(6):
        await agent.execute_task(f"q{i}", {"session_id": "s"})
    (hint,) = hints(agent)
    assert hint.startswith("Auto-compression ran in 4 of the 4 model turns since it first fired")
    assert "CompressionConfig.auto_compress_target=3 is close to auto_compress_threshold=4" \
        in hint and "A lower target (e.g. 2)" in hint


async def test_hint_for_a_limit_that_makes_calls_wait() -> None:
    """max_concurrent_tool_calls=1 with three calls per turn: waits and waves."""
    agent = make_agent([ToolCall("lookup", {"query": q}) for q in "abc"],
                       resource_limits=ResourceLimits(max_concurrent_tool_calls=1))
    await agent.execute_task("go")
    found = hints(agent)
    assert any(h.startswith("The limit max_concurrent_tool_calls=1 made calls wait 2 times")
               and "raising ResourceLimits.max_concurrent_tool_calls" in h
               for h in found), found
    assert "A model turn asked for 3 tool calls but ResourceLimits.max_concurrent_tool_calls "\
           "is 1, so they ran in 3 waves; raise it to run them all at once." in found
    w = waits_frame(agent)
    assert w.loc["max_concurrent_tool_calls", "waits"] == 2


async def test_latency_gives_tool_runs_and_cache_hits_apart() -> None:
    """A tool's runs and its cache hits are separate operations everywhere latency shows."""
    from pitstop import Monitor
    from pitstop.notebook._frames import metrics_frame

    clock = [0.0]
    monitor = Monitor(clock=lambda: clock[0])

    async def slow(query: str) -> str:
        """A tool that takes 400 ms on the monitor's clock."""
        clock[0] += 0.4
        return query

    agent = make_agent([ToolCall("slow", {"query": "x"})], tools=[slow], monitor=monitor)
    await agent.execute_task("first")
    await agent.execute_task("second")  # the same call: a cache hit
    runs = agent.get_operation_metrics("tool:slow")
    hits = agent.get_operation_metrics("cache_hit:slow")
    assert (runs["count"], runs["min_time"], runs["avg_time"]) == (1, 0.4, 0.4)
    assert hits["count"] == 1 and hits["max_time"] < 0.01
    frame = metrics_frame(agent)
    rows = list(frame.index)
    assert rows.index("cache_hit:slow") == rows.index("tool:slow") + 1
    assert frame.loc["tool:slow", "avg_ms"] == 400.0
