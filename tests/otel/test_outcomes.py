"""pitstop.otel: errors, cancellation, cache and limiter outcomes, compression, operations
and usage as span attributes and metrics."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import StatusCode
from tests.otel.conftest import Telemetry
from tests.otel.helpers import attrs, parent_id

from pitstop import (
    CacheConfig,
    FunctionLLM,
    HybridAgent,
    LLMResponse,
    Message,
    Tool,
    ToolCall,
    Usage,
)
from pitstop.llm._base import ToolSpec


async def test_a_failing_tool_marks_its_span_as_an_error(telemetry: Telemetry) -> None:
    """A tool that raises gives an ERROR execute_tool span with error.type and the exception."""

    async def broken(x: int) -> int:
        raise ValueError(f"bad x {x}")

    def fn(messages: list[Message], tools: list[ToolSpec]) -> LLMResponse:
        if messages[-1].role == "tool":
            return LLMResponse("gave up")
        return LLMResponse(tool_calls=[ToolCall("broken", {"x": 1})])

    result = await HybridAgent("a", FunctionLLM(fn), tools=[broken]).execute_task("go")
    assert result["success"] and not result["tool_calls"][0]["success"]
    span = telemetry.one("execute_tool broken")
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == "ValueError"
    events = [e for e in span.events if e.name == "exception"]
    assert events and "bad x 1" in str(dict(events[0].attributes or {}))
    assert telemetry.one("invoke_agent a").status.status_code is StatusCode.UNSET


async def test_a_failing_model_marks_chat_and_invoke_agent_as_errors(
    telemetry: Telemetry,
) -> None:
    """A model call that raises ends its chat span and the task's span with ERROR."""

    def fn(messages: list[Message], tools: list[ToolSpec]) -> LLMResponse:
        raise ConnectionError("provider down")

    result = await HybridAgent("a", FunctionLLM(fn), name="Bot").execute_task("go")
    assert not result["success"]
    chat = telemetry.one("chat function-llm")
    assert chat.status.status_code is StatusCode.ERROR
    assert attrs(chat)["error.type"] == "ConnectionError"
    root = telemetry.one("invoke_agent Bot")
    assert root.status.status_code is StatusCode.ERROR
    assert attrs(root)["error.type"] == "ConnectionError"
    assert "provider down" in (root.status.description or "")
    durations = telemetry.points("gen_ai.client.operation.duration")
    assert [dict(p.attributes)["error.type"] for p in durations] == ["ConnectionError"]


async def test_a_consumer_that_leaves_early_ends_spans_as_cancelled(telemetry: Telemetry) -> None:
    """Breaking out of the stream mid-answer ends chat and invoke_agent, cancelled, no error."""
    llm = FunctionLLM(lambda m, t: "one two three four five six", tokens_per_second=1000)
    agent = HybridAgent("a", llm, name="Bot")
    stream = agent.execute_task_streaming("go")
    async for event in stream:
        if event["type"] == "token":
            break
    await stream.aclose()  # type: ignore[attr-defined]
    for name in ("chat function-llm", "invoke_agent Bot"):
        span = telemetry.one(name)
        assert span.status.status_code is StatusCode.UNSET, name
        assert attrs(span)["pitstop.status"] == "cancelled", name
    assert telemetry.points("gen_ai.client.operation.duration") == []  # not a whole call


async def test_cache_hits_and_shared_calls_are_marked(telemetry: Telemetry) -> None:
    """A repeated call is a cache hit; two identical calls at once share one run."""
    runs = 0

    async def slow(q: str) -> str:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.01)
        return q

    agent = HybridAgent("a", FunctionLLM(lambda m, t: "x"), tools=[Tool(slow)],
                        cache_config=CacheConfig())
    same = [{"tool_name": "slow", "parameters": {"q": "a"}}] * 2
    await agent.execute_tools_parallel(same)
    await agent.execute_tools_parallel(same[:1])
    assert runs == 1
    spans = sorted(telemetry.named("execute_tool slow"), key=lambda s: s.end_time or 0)
    flags = [(attrs(s)["pitstop.cache.hit"], attrs(s)["pitstop.cache.shared"]) for s in spans]
    assert sorted(flags[:2]) == [(False, False), (True, True)]
    assert flags[2] == (True, False)
    counts = {dict(p.attributes)["pitstop.cache.outcome"]: p.value
              for p in telemetry.points("pitstop.cache.lookups")}
    assert counts == {"miss": 1, "shared": 1, "hit": 1}


async def test_limiter_waits_are_spans_under_the_operation_that_waited(
    telemetry: Telemetry,
) -> None:
    """A task waiting for a slot gets a wait span under its invoke_agent; a tool waiting for
    a concurrency slot gets one under its execute_tool span; both are counted."""
    from pitstop import ResourceLimits

    async def slow(x: int) -> int:
        await asyncio.sleep(0.02)
        return x

    def fn(messages: list[Message], tools: list[ToolSpec]) -> LLMResponse:
        if messages[-1].role == "tool":
            return LLMResponse("done")
        return LLMResponse(tool_calls=[ToolCall("slow", {"x": 1}), ToolCall("slow", {"x": 2})])

    agent = HybridAgent("a", FunctionLLM(fn, time_to_first_token=0.02), tools=[Tool(slow)],
                        name="Bot", resource_limits=ResourceLimits(max_concurrent_tasks=1,
                                                                   max_concurrent_tool_calls=1))
    await asyncio.gather(agent.execute_task("one"), agent.execute_task("two"))
    waits = telemetry.named("wait ")
    task_waits = [w for w in waits if attrs(w)["pitstop.limit"] == "max_concurrent_tasks"]
    tool_waits = [w for w in waits if attrs(w)["pitstop.limit"] == "max_concurrent_tool_calls"]
    assert len(task_waits) == 1 and len(tool_waits) == 2
    roots = {r.context.span_id for r in telemetry.named("invoke_agent")}
    assert parent_id(task_waits[0]) in roots
    tool_ids = {s.context.span_id for s in telemetry.named("execute_tool")}
    assert all(parent_id(w) in tool_ids for w in tool_waits)
    for w in waits:
        assert attrs(w)["pitstop.wait.seconds"] > 0
        assert (w.end_time or 0) > (w.start_time or 0)
    counted = {dict(p.attributes)["pitstop.limit"]: p.value
               for p in telemetry.points("pitstop.limiter.waits")}
    assert counted == {"max_concurrent_tasks": 1, "max_concurrent_tool_calls": 2}
    durations = telemetry.points("pitstop.limiter.wait.duration")
    assert sum(p.count for p in durations) == 3


async def test_compression_is_a_span_under_its_task(telemetry: Telemetry) -> None:
    """An auto-compression of the session is a compress span with before/after counts."""
    from pitstop import CompressionConfig, ContextEngine

    engine = ContextEngine(CompressionConfig(strategy="truncate", auto_compress_enabled=True,
                                             auto_compress_threshold=4, keep_recent=1,
                                             auto_compress_target=2))
    agent = HybridAgent("a", FunctionLLM(lambda m, t: "ok"), context_engine=engine, name="Bot")
    for i in range(4):
        await agent.execute_task(f"question {i}", {"session_id": "s"})
    spans = telemetry.named("compress truncate")
    assert spans
    a = attrs(spans[0])
    assert a["pitstop.compression.messages_before"] > a["pitstop.compression.messages_after"]
    roots = {r.context.span_id: r for r in telemetry.named("invoke_agent")}
    assert parent_id(spans[0]) in roots
    assert attrs(roots[parent_id(spans[0])])["gen_ai.conversation.id"] == "s"  # type: ignore[index]


async def test_track_operation_time_is_a_span_current_inside_the_block(
    telemetry: Telemetry,
) -> None:
    """A tracked block is a span, and spans opened inside it are its children."""
    from opentelemetry import trace

    agent = HybridAgent("a", FunctionLLM(lambda m, t: "x"))
    async with agent.track_operation_time("load data"):
        inside = trace.get_current_span()
    with pytest.raises(KeyError), agent.track_operation_time("broken step"):
        raise KeyError("missing")
    span = telemetry.one("load data")
    assert attrs(span)["pitstop.operation"] == "load data"
    assert inside.get_span_context().span_id == span.context.span_id
    broken = telemetry.one("broken step")
    assert broken.status.status_code is StatusCode.ERROR
    assert attrs(broken)["error.type"] == "KeyError"
    assert trace.get_current_span() is trace.INVALID_SPAN


async def test_a_tool_raising_cancelled_error_itself_is_an_error_span(
    telemetry: Telemetry,
) -> None:
    """A CancelledError raised inside a tool (not a cancellation of the run) is the tool's
    error: its span is ERROR and the task goes on."""

    async def flaky() -> str:
        raise asyncio.CancelledError("library gave up")

    def fn(messages: list[Message], tools: list[ToolSpec]) -> LLMResponse:
        if messages[-1].role == "tool":
            return LLMResponse("carried on")
        return LLMResponse(tool_calls=[ToolCall("flaky", {})])

    result = await HybridAgent("a", FunctionLLM(fn), tools=[flaky]).execute_task("go")
    assert result["success"] and result["output"] == "carried on"
    span = telemetry.one("execute_tool flaky")
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == "CancelledError"


async def test_cached_and_reasoning_tokens_and_cost_are_exported(telemetry: Telemetry) -> None:
    """A model that reports cached input, reasoning tokens and a price gives the conventions'
    cache_read and reasoning attributes and pitstop's cost, per call and per task."""

    def fn(messages: list[Message], tools: list[ToolSpec]) -> LLMResponse:
        if messages[-1].role == "tool":
            return LLMResponse("done", usage=Usage(120, 10, cached_input_tokens=100,
                                                   reasoning_tokens=4, cost=0.002))
        return LLMResponse(tool_calls=[ToolCall("lookup", {"key": "k"})],
                           usage=Usage(100, 20, cached_input_tokens=0, reasoning_tokens=12,
                                       cost=0.001))

    async def lookup(key: str) -> str:
        return key

    await HybridAgent("a", FunctionLLM(fn), tools=[lookup], name="Bot").execute_task("go")
    first, second = sorted(telemetry.named("chat "), key=lambda s: s.start_time or 0)
    assert "gen_ai.usage.cache_read.input_tokens" not in attrs(first)  # none reported
    assert attrs(first)["gen_ai.usage.reasoning.output_tokens"] == 12
    assert attrs(first)["pitstop.usage.cost"] == pytest.approx(0.001)
    assert attrs(second)["gen_ai.usage.cache_read.input_tokens"] == 100
    root = attrs(telemetry.one("invoke_agent Bot"))
    assert root["gen_ai.usage.cache_read.input_tokens"] == 100
    assert root["gen_ai.usage.reasoning.output_tokens"] == 16
    assert root["pitstop.usage.cost"] == pytest.approx(0.003)


async def test_a_task_with_an_unpriced_call_has_no_cost(telemetry: Telemetry) -> None:
    """One model call without a known price leaves the task's cost out, never understated."""
    answers = iter([LLMResponse(tool_calls=[ToolCall("lookup", {"key": "k"})],
                                usage=Usage(10, 2, cost=0.5)),
                    LLMResponse("done", usage=Usage(10, 2, cost=None))])

    async def lookup(key: str) -> str:
        return key

    llm = FunctionLLM(lambda m, t: next(answers))
    await HybridAgent("a", llm, tools=[lookup], name="Bot").execute_task("go")
    assert "pitstop.usage.cost" not in attrs(telemetry.one("invoke_agent Bot"))
