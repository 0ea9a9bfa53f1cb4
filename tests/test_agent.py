"""The agent loop: events, parallel tools, errors, cancellation, batches, metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pitstop import (
    AgentConfig,
    ConfigError,
    FunctionLLM,
    HybridAgent,
    LLMResponse,
    Message,
    Tool,
    ToolCall,
    ToolNotFoundError,
)
from pitstop.testing import ScriptedLLM


class Probe:
    """Counts how many calls of a tool are in flight at once."""

    def __init__(self) -> None:
        self.active = 0
        self.max_active = 0
        self.started = 0
        self.cancelled = 0

    def tool(self, name: str = "probe", hops: int = 3) -> Tool:
        async def probe(n: int) -> int:
            self.active += 1
            self.started += 1
            self.max_active = max(self.max_active, self.active)
            try:
                for _ in range(hops):
                    await asyncio.sleep(0)
                return n
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            finally:
                self.active -= 1

        return Tool(probe, name=name)


def calls(n: int, name: str = "probe") -> LLMResponse:
    return LLMResponse(tool_calls=[ToolCall(name, {"n": i}) for i in range(n)])


async def collect(agent: HybridAgent, task: str, context: Any = None) -> list[dict[str, Any]]:
    return [e async for e in agent.execute_task_streaming(task, context)]


async def test_stream_starts_with_started_and_ends_with_result() -> None:
    """The stream opens with `started`, ends with `result`, and tokens join to the output."""
    agent = HybridAgent("a", ScriptedLLM("Hello there, world."))
    events = await collect(agent, "hi")
    assert events[0]["type"] == "started" and events[0]["task"] == "hi"
    assert events[-1]["type"] == "result"
    tokens = "".join(e["content"] for e in events if e["type"] == "token")
    assert tokens == "Hello there, world." == events[-1]["output"]
    assert all({"type", "timestamp", "task_id"} <= e.keys() for e in events)
    assert len({e["task_id"] for e in events}) == 1


async def test_execute_task_returns_the_documented_fields() -> None:
    """execute_task returns output, success, tool_calls, iterations, time, usage, task_id."""
    probe = Probe()
    agent = HybridAgent("a", ScriptedLLM(calls(2), "done"), tools=[probe.tool()])
    result = await agent.execute_task({"description": "do it"})
    assert {"output", "success", "tool_calls", "iterations", "execution_time", "usage",
            "task_id"} <= result.keys()
    assert result["success"] and result["output"] == "done" and result["iterations"] == 2
    assert [c["result"] for c in result["tool_calls"]] == [0, 1]
    assert result["usage"]["input_tokens"] > 0


async def test_tool_calls_of_one_turn_run_concurrently_up_to_the_bound() -> None:
    """Five calls in one turn with max_concurrency=2 never have more than 2 in flight."""
    probe = Probe()
    agent = HybridAgent("a", ScriptedLLM(calls(5), "ok"), tools=[probe.tool()],
                        config=AgentConfig(max_concurrency=2))
    assert (await agent.execute_task("go"))["success"]
    assert probe.started == 5 and probe.max_active == 2


async def test_all_calls_of_a_turn_overlap_when_the_bound_allows() -> None:
    """With the default bound, all calls of one turn are in flight together."""
    probe = Probe()
    agent = HybridAgent("a", ScriptedLLM(calls(6), "ok"), tools=[probe.tool()])
    await agent.execute_task("go")
    assert probe.max_active == 6
    spans = agent.monitor.spans(kind="tool")
    latest_start = max(s.start for s in spans)
    assert all(s.end >= latest_start for s in spans)  # every span overlaps the last start


async def test_parallel_execution_can_be_switched_off() -> None:
    """enable_parallel_execution=False runs one tool at a time."""
    probe = Probe()
    agent = HybridAgent("a", ScriptedLLM(calls(4), "ok"), tools=[probe.tool()],
                        enable_parallel_execution=False)
    await agent.execute_task("go")
    assert probe.started == 4 and probe.max_active == 1


async def test_a_fast_result_arrives_before_a_slow_tool_ends() -> None:
    """tool_result events come in completion order, the moment each call ends."""
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "slow"

    async def fast() -> str:
        return "fast"

    llm = ScriptedLLM(LLMResponse(tool_calls=[ToolCall("slow", {}), ToolCall("fast", {})]),
                             "ok")
    agent = HybridAgent("a", llm, tools=[slow, fast])
    order = []
    async for event in agent.execute_task_streaming("go"):
        if event["type"] == "tool_result":
            order.append(event["tool_name"])
            if event["tool_name"] == "fast":
                assert not release.is_set()  # the slow tool is still running
                release.set()
    assert order == ["fast", "slow"]


async def test_tool_call_event_comes_before_its_result_with_matching_ids() -> None:
    """Each tool_result follows its tool_call, with the same call_id and the parameters."""
    probe = Probe()
    agent = HybridAgent("a", ScriptedLLM(calls(3), "ok"), tools=[probe.tool()])
    events = await collect(agent, "go")
    seen_calls = set()
    for e in events:
        if e["type"] == "tool_call":
            seen_calls.add(e["call_id"])
            assert e["tool_name"] == "probe" and "n" in e["parameters"]
        if e["type"] == "tool_result":
            assert e["call_id"] in seen_calls
            assert e["success"] and e["cached"] is False and e["duration"] >= 0


async def test_invalid_arguments_are_reported_to_the_model() -> None:
    """A validation error becomes the tool's result text, which the model sees next turn."""
    llm = ScriptedLLM(LLMResponse(tool_calls=[ToolCall("probe", {"n": "not a number"})]), "sorry")
    agent = HybridAgent("a", llm, tools=[Probe().tool()])
    result = await agent.execute_task("go")
    assert result["success"]  # the task went on; the tool call failed
    call = result["tool_calls"][0]
    assert not call["success"] and "Invalid arguments for tool 'probe'" in call["error"]
    tool_msg = next(m for m in llm.requests[1] if m.role == "tool")
    assert tool_msg.content.startswith("Error: Invalid arguments for tool 'probe': n:")


async def test_an_unknown_tool_from_the_model_lists_the_registered_ones() -> None:
    """A model calling a tool the agent lacks gets an error naming the agent's tools."""
    llm = ScriptedLLM(LLMResponse(tool_calls=[ToolCall("serach", {})]), "ok")
    agent = HybridAgent("a", llm, tools=[Probe().tool()])
    result = await agent.execute_task("go")
    assert "Tool 'serach' is not registered; registered tools: 'probe'" in (
        result["tool_calls"][0]["error"])


async def test_a_tool_that_raises_becomes_an_error_result() -> None:
    """An exception inside a tool is caught, named and fed back, not raised."""

    def broken(x: int) -> int:
        raise RuntimeError("disk on fire")

    agent = HybridAgent("a", ScriptedLLM(LLMResponse(
        tool_calls=[ToolCall("broken", {"x": 1})]), "ok"), tools=[broken])
    result = await agent.execute_task("go")
    assert result["tool_calls"][0]["error"] == "Tool 'broken' raised RuntimeError: disk on fire"
    assert agent.get_performance_metrics()["tool_errors"] == 1


async def test_tool_timeout_from_agent_config() -> None:
    """A tool running past AgentConfig.tool_timeout fails with a message naming the limit."""

    async def stuck() -> None:
        await asyncio.Event().wait()

    agent = HybridAgent("a", ScriptedLLM(LLMResponse(tool_calls=[ToolCall("stuck", {})]),
                                                "ok"),
                        tools=[stuck], config=AgentConfig(tool_timeout=0.01))
    result = await agent.execute_task("go")
    assert "did not finish within its timeout of 0.01 s" in result["tool_calls"][0]["error"]


async def test_max_iterations_stops_a_model_that_never_answers() -> None:
    """A model that calls tools forever stops at max_iterations with a clear error."""
    agent = HybridAgent("a", ScriptedLLM(calls(1)), tools=[Probe().tool()],
                        config={"max_iterations": 3})
    events = await collect(agent, "go")
    assert [e["type"] for e in events].count("error") == 1
    result = events[-1]
    assert not result["success"] and result["iterations"] == 3
    assert "max_iterations=3" in result["error"]


async def test_a_model_error_ends_the_stream_with_error_then_result() -> None:
    """A failing model gives an `error` event and a failed result, not an exception."""

    def fail(messages: Any, tools: Any) -> LLMResponse:
        raise ValueError("model exploded")

    events = await collect(HybridAgent("a", FunctionLLM(fail)), "go")
    assert [e["type"] for e in events] == ["started", "error", "result"]
    assert events[1]["error"] == "model exploded" and events[-1]["success"] is False


async def test_cancelling_a_task_cancels_its_running_tools() -> None:
    """Cancelling execute_task cancels the tool calls and leaves no task behind."""
    started = asyncio.Event()
    cancelled = []

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    agent = HybridAgent("a", ScriptedLLM(LLMResponse(tool_calls=[
        ToolCall("forever", {}), ToolCall("forever", {})])), tools=[forever])
    job = asyncio.create_task(agent.execute_task("go"))
    await started.wait()
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert cancelled == [True, True]
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert agent.monitor.spans(kind="task")[-1].status == "cancelled"


async def test_leaving_the_stream_early_cancels_running_tools() -> None:
    """A consumer that stops reading the stream stops the tools too."""
    cancelled = []

    async def forever(n: int) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(n)
            raise

    agent = HybridAgent("a", ScriptedLLM(LLMResponse(tool_calls=[
        ToolCall("forever", {"n": 1}), ToolCall("forever", {"n": 2})])), tools=[forever])
    stream = agent.execute_task_streaming("go")
    async for event in stream:
        if event["type"] == "tool_call" and event["parameters"]["n"] == 2:
            break
    await stream.aclose()
    assert sorted(cancelled) == [1, 2]
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_many_tasks_run_on_one_agent_at_once() -> None:
    """Concurrent tasks on one agent keep their own histories and ids."""

    def echo(messages: list[Message], tools: Any) -> str:
        return "answer to " + messages[-1].content

    agent = HybridAgent("a", FunctionLLM(echo, time_to_first_token=0.001))
    results = await asyncio.gather(*(agent.execute_task(f"q{i}") for i in range(20)))
    assert [r["output"] for r in results] == [f"answer to q{i}" for i in range(20)]
    assert len({r["task_id"] for r in results}) == 20
    assert agent.get_performance_metrics()["total_tasks"] == 20


async def test_execute_batch_is_ordered_and_bounded() -> None:
    """execute_batch returns results in input order and runs at most max_concurrency tasks."""
    active = 0
    peak = 0

    async def answer(messages: list[Message], tools: Any) -> str:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        for _ in range(3):
            await asyncio.sleep(0)
        active -= 1
        return messages[-1].content.upper()

    agent = HybridAgent("a", FunctionLLM(answer))
    results = await agent.execute_batch([f"t{i}" for i in range(9)], max_concurrency=3,
                                        progress=False)
    assert [r["output"] for r in results] == [f"T{i}" for i in range(9)]
    assert peak == 3


async def test_execute_batch_rejects_bad_input_before_running() -> None:
    """A bad task or bound in a batch is a ConfigError before any task runs."""
    llm = ScriptedLLM("x")
    agent = HybridAgent("a", llm)
    with pytest.raises(ConfigError, match="max_concurrency must be an integer >= 1"):
        await agent.execute_batch(["a"], max_concurrency=0)
    with pytest.raises(ConfigError, match="task must be a string"):
        await agent.execute_batch(["a", 42], progress=False)
    assert llm.calls == 0


async def test_streaming_off_sends_the_text_as_one_token_event() -> None:
    """enable_streaming=False yields the whole answer as a single token event."""
    agent = HybridAgent("a", ScriptedLLM("one two three"), enable_streaming=False)
    tokens = [e["content"] for e in await collect(agent, "go") if e["type"] == "token"]
    assert tokens == ["one two three"]


def test_unknown_tool_names_are_a_clear_error() -> None:
    """A misspelled tool name lists the registered tools."""
    with pytest.raises(ToolNotFoundError, match="Tool 'serach' is not registered; registered"):
        HybridAgent("a", ScriptedLLM("x"), tools=["serach"])


def test_bad_constructor_arguments_are_clear_errors() -> None:
    """A missing model, a bad config or a single tool not in a list raise ConfigError."""
    with pytest.raises(ConfigError, match="llm_client must have a stream"):
        HybridAgent("a", object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="did you mean 'max_iterations'"):
        HybridAgent("a", ScriptedLLM("x"), config={"max_iteration": 3})
    with pytest.raises(ConfigError, match="tools must be a list"):
        HybridAgent("a", ScriptedLLM("x"), tools="search")  # type: ignore[arg-type]


async def test_bad_task_and_context_are_clear_errors() -> None:
    """Tasks must be text or {'description'}; a session needs a context engine."""
    agent = HybridAgent("a", ScriptedLLM("x"))
    with pytest.raises(ConfigError, match="task must be a string"):
        await agent.execute_task(123)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="non-empty 'description'"):
        await agent.execute_task({"desc": "x"})
    with pytest.raises(ConfigError, match="no context_engine"):
        await agent.execute_task("x", {"session_id": "s1"})


async def test_execute_tools_parallel_keeps_order_and_marks_bad_items() -> None:
    """Results come back in input order; a bad item gives an error item in its place."""
    probe = Probe()
    agent = HybridAgent("a", ScriptedLLM("x"), tools=[probe.tool()])
    out = await agent.execute_tools_parallel([
        {"tool_name": "probe", "parameters": {"n": 1}},
        "not a call",
        {"tool_name": "nope", "parameters": {}},
        {"tool_name": "probe", "parameters": {"n": "x"}},
        {"tool_name": "probe", "parameters": {"n": 5}},
    ], max_concurrency=2)
    assert [o["success"] for o in out] == [True, False, False, False, True]
    assert out[0]["result"] == 1 and out[4]["result"] == 5
    assert "Item 1 is not a tool call" in out[1]["error"]
    assert "Tool 'nope' is not registered" in out[2]["error"]
    assert "Invalid arguments" in out[3]["error"]
    assert probe.max_active == 2
    assert all({"tool_name", "success", "cached", "duration"} <= o.keys() for o in out)


async def test_execute_tools_parallel_rejects_a_bad_bound() -> None:
    """max_concurrency below 1 is a ValueError that says what to pass."""
    agent = HybridAgent("a", ScriptedLLM("x"), tools=[Probe().tool()])
    with pytest.raises(ValueError, match="max_concurrency must be an integer >= 1, got 0"):
        await agent.execute_tools_parallel([], max_concurrency=0)


async def test_performance_metrics_and_operation_timers() -> None:
    """Metrics carry the documented keys; operations time with and async with."""
    agent = HybridAgent("a", ScriptedLLM("x"))
    with agent.track_operation_time("sync_block"):
        await agent.execute_task("go")
    async with agent.track_operation_time("async_block"):
        await agent.execute_task("go")
    metrics = agent.get_performance_metrics()
    for key in ("avg_response_time", "p50_response_time", "p95_response_time",
                "p99_response_time", "min_response_time", "max_response_time", "total_tasks",
                "success_rate", "total_input_tokens", "total_tool_calls", "operations"):
        assert key in metrics
    assert metrics["total_tasks"] == 2 and metrics["success_rate"] == 1.0
    op = agent.get_operation_metrics("sync_block")
    assert op["count"] == 1 and op["avg_time"] >= metrics["min_response_time"]
    assert {"sync_block", "async_block", "task", "llm_call"} <= metrics["operations"].keys()


async def test_spans_record_every_task_model_and_tool_call() -> None:
    """One span per task, model call and tool call, tied to the task id."""
    probe = Probe()
    agent = HybridAgent("a", ScriptedLLM(calls(3), "ok"), tools=[probe.tool()])
    result = await agent.execute_task("go")
    spans = agent.monitor.spans(task_id=result["task_id"])
    kinds = [s.kind for s in spans]
    assert kinds.count("task") == 1 and kinds.count("llm") == 2 and kinds.count("tool") == 3
    assert {s.attrs["turn"] for s in spans if s.kind == "tool"} == {1}
    assert agent.monitor.last_task_id() == result["task_id"]
