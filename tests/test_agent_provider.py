"""The agent on the provider path: usage and cost end to end, eager tools, deadlines, budgets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from pitstop import (
    AgentConfig,
    FunctionLLM,
    HybridAgent,
    LLMResponse,
    ResourceLimits,
    SimulatedLLM,
    Tool,
    ToolCall,
    Usage,
)
from pitstop.errors import LLMError
from pitstop.llm._base import Message, StreamItem, ToolSpec
from pitstop.llm._pricing import Price

PRICE = Price(input=1.0, output=2.0, cached_input=0.25)  # dollars per million tokens


def _answer_with_usage(messages: list[Message], tools: list[ToolSpec]) -> LLMResponse:
    return LLMResponse(text="done", usage=Usage(4000, 500, 3000, 100))


async def test_usage_and_cost_reach_events_results_spans_and_metrics() -> None:
    """Cached and reasoning tokens and the priced cost appear everywhere they should."""
    llm = FunctionLLM(_answer_with_usage, price=PRICE)
    agent = HybridAgent("a", llm, tools=[])
    events = [e async for e in agent.execute_task_streaming("hi")]
    cost = (1000 * 1.0 + 3000 * 0.25 + 500 * 2.0) / 1e6
    [usage] = [e for e in events if e["type"] == "usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (4000, 500)
    assert (usage["cached_input_tokens"], usage["reasoning_tokens"]) == (3000, 100)
    assert usage["cost"] == pytest.approx(cost)
    result = events[-1]
    assert result["type"] == "result" and result["cost"] == pytest.approx(cost)
    assert result["usage"]["cached_input_tokens"] == 3000
    [span] = agent.monitor.spans(kind="llm")
    assert span.attrs["cached_share"] == 0.75 and span.attrs["cost"] == pytest.approx(cost)
    m = agent.get_performance_metrics()
    assert m["total_cost"] == pytest.approx(cost) and m["model_cost"] == pytest.approx(cost)
    assert m["prompt_cache_saved"] == pytest.approx(3000 * 0.75 / 1e6)
    assert m["models"]["function-llm"]["calls"] == 1
    assert m["total_cached_input_tokens"] == 3000 and m["total_reasoning_tokens"] == 100


async def test_simulated_llm_priced_as_a_real_model_reports_dollars() -> None:
    """SimulatedLLM(price_as='gpt-4o-mini') gives a cost at genai-prices' price."""
    agent = HybridAgent("a", SimulatedLLM(time_to_first_token=0, tokens_per_second=1e6,
                                          price_as="gpt-4o-mini"), tools=["search"])
    result = await agent.execute_task("Search for python asyncio")
    assert result["success"] and result["cost"] is not None and result["cost"] > 0
    u = result["usage"]
    assert result["cost"] == pytest.approx(
        ((u["input_tokens"] - u["cached_input_tokens"]) * 0.15
         + u["cached_input_tokens"] * 0.075 + u["output_tokens"] * 0.6) / 1e6)


async def test_simulated_prompt_cache_counts_a_repeated_prefix() -> None:
    """A second call with the same long prefix has it reported as cached (128-token steps)."""
    llm = SimulatedLLM(time_to_first_token=0, tokens_per_second=1e6)
    long = Message("system", "word " * 1500)
    first = [i async for i in llm.stream([long, Message("user", "a")])][-1]
    second = [i async for i in llm.stream([long, Message("user", "b")])][-1]
    assert isinstance(first, Usage) and isinstance(second, Usage)
    assert first.cached_input_tokens == 0
    assert second.cached_input_tokens >= 1024 and second.cached_input_tokens % 128 == 0
    assert second.cached_input_tokens <= second.input_tokens


class _ScriptedModel:
    """A model that yields the given items, running a hook between them."""

    model = "scripted"

    def __init__(self, turns: list[list[Any]]) -> None:
        self.turns = turns

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (), *,
        max_tokens: int | None = None,
    ) -> AsyncIterator[StreamItem]:
        for item in self.turns.pop(0):
            if callable(item):
                await item()
            else:
                yield item


async def test_a_tool_starts_while_the_model_still_streams_the_next_call() -> None:
    """The first call's tool runs before the model's turn ends; side-effect tools wait."""
    started: dict[str, asyncio.Event] = {n: asyncio.Event() for n in ("fetch", "send")}
    seen_during_turn: dict[str, bool] = {}

    async def fetch(url: str) -> str:
        started["fetch"].set()
        return f"page {url}"

    async def send(to: str) -> str:
        started["send"].set()
        return f"sent to {to}"

    async def model_waits_for_fetch() -> None:
        await asyncio.wait_for(started["fetch"].wait(), 10)  # deadlocks if not eager

    async def check_send_not_started() -> None:
        for _ in range(20):
            await asyncio.sleep(0)
        seen_during_turn["send"] = started["send"].is_set()

    llm = _ScriptedModel([
        [ToolCall("fetch", {"url": "x"}, "c1"), model_waits_for_fetch,
         ToolCall("send", {"to": "bob"}, "c2"), check_send_not_started, Usage(10, 5)],
        ["ok", Usage(20, 1)],
    ])
    agent = HybridAgent("a", llm, tools=[Tool(fetch), Tool(send, cacheable=False)])
    result = await agent.execute_task("go")
    assert result["success"], result["error"]
    assert seen_during_turn == {"send": False}
    llm_end = agent.monitor.spans(kind="llm")[0].end
    tools = {s.name: s for s in agent.monitor.spans(kind="tool")}
    assert tools["fetch"].start < llm_end <= tools["send"].start
    assert [r["tool_name"] for r in result["tool_calls"]] == ["fetch", "send"]


async def test_eager_tools_off_waits_for_the_turn_and_a_failed_turn_cancels_early_tools() -> None:
    """eager_tools=False starts nothing early; a turn failing after a start cancels the tool."""
    release = asyncio.Event()

    async def slow(q: str) -> str:
        await release.wait()
        return q

    async def fail() -> None:
        for _ in range(20):
            await asyncio.sleep(0)
        raise LLMError("the stream broke")

    llm = _ScriptedModel([[ToolCall("slow", {"q": "x"}, "c1"), fail]])
    agent = HybridAgent("a", llm, tools=[Tool(slow)])
    result = await agent.execute_task("go")
    assert not result["success"] and "the stream broke" in (result["error"] or "")
    [span] = agent.monitor.spans(kind="tool")
    assert span.status == "cancelled"

    llm2 = _ScriptedModel([[ToolCall("slow", {"q": "x"}, "c1"), fail]])
    agent2 = HybridAgent("b", llm2, tools=[Tool(slow)], config=AgentConfig(eager_tools=False))
    result2 = await agent2.execute_task("go")
    assert not result2["success"] and agent2.monitor.spans(kind="tool") == []


async def test_model_timeout_fails_the_task_with_a_timeout_error() -> None:
    """A model that stops sending fails the task after model_timeout, naming it."""
    async def hang() -> None:
        await asyncio.Event().wait()

    agent = HybridAgent("a", _ScriptedModel([["partial", hang]]), tools=[],
                        config=AgentConfig(model_timeout=0.2))
    events = [e async for e in agent.execute_task_streaming("go")]
    error = next(e for e in events if e["type"] == "error")
    assert error["error_type"] == "LLMTimeoutError" and "model_timeout" in error["error"]
    assert "timeout=0.2" in error["error"]


async def test_a_task_budget_stops_the_task_before_the_call_that_would_pass_it() -> None:
    """A task at $0.052 of $0.053 cannot start a call estimated at about $0.002 more."""
    calls = iter([LLMResponse(tool_calls=[ToolCall("echo", {"x": "1"})],
                              usage=Usage(50_000, 1000)),
                  LLMResponse(text="done", usage=Usage(50_000, 1000))])

    def echo(x: str) -> str:
        return x

    llm = FunctionLLM(lambda m, t: next(calls), price=PRICE)
    agent = HybridAgent("a", llm, tools=[Tool(echo)],
                        resource_limits=ResourceLimits(max_cost_per_task=0.053))
    result = await agent.execute_task("go")
    assert not result["success"]
    assert "max_cost_per_task" in (result["error"] or "")
    assert result["cost"] == pytest.approx((50_000 * 1.0 + 1000 * 2.0) / 1e6)
    assert agent.get_resource_usage()["budgets"]["task_refusals"] == 1
