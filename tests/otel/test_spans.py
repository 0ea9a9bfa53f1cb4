"""pitstop.otel: GenAI spans with the right names, attributes, nesting and content rules."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from tests.otel.conftest import Telemetry

from pitstop import (
    AgentConfig,
    CacheConfig,
    ConfigError,
    FunctionLLM,
    HybridAgent,
    LLMResponse,
    Message,
    Tool,
    ToolCall,
    Usage,
    otel,
)
from pitstop.llm._base import ToolSpec

SECRET = "the launch code is 0000"
CONTENT_KEYS = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
                "gen_ai.tool.definitions", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"}


def two_tools_then_answer(messages: list[Message], tools: list[ToolSpec]) -> LLMResponse:
    """Turn 1: call `lookup` and `fetch` together; turn 2: answer."""
    if messages[-1].role == "tool":
        return LLMResponse("the answer", usage=Usage(30, 3))
    return LLMResponse(tool_calls=[ToolCall("lookup", {"key": SECRET}, "call-1"),
                                   ToolCall("fetch", {"url": "x"}, "call-2")],
                       usage=Usage(20, 8))


class Rendezvous:
    """Both tools must be running at once for either to finish: proves they overlap."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.arrived = 0
        self.all_here = asyncio.Event()

    async def meet(self) -> None:
        self.arrived += 1
        if self.arrived == self.n:
            self.all_here.set()
        await asyncio.wait_for(self.all_here.wait(), 5)


def make_agent(t: Telemetry | None = None, **kwargs: Any) -> HybridAgent:
    meet = Rendezvous(2)
    user_tracer = t.tracer_provider.get_tracer("user-code") if t is not None else None

    async def lookup(key: str) -> str:
        """Look a key up."""
        await meet.meet()
        if user_tracer is not None:
            with user_tracer.start_as_current_span("user span inside lookup"):
                await asyncio.sleep(0)
        return f"value of {key}"

    async def fetch(url: str) -> dict[str, str]:
        """Fetch a page."""
        await meet.meet()
        return {"page": url}

    return HybridAgent("agent-7", FunctionLLM(two_tools_then_answer, model="gpt-test"),
                       tools=[lookup, fetch], name="Researcher", **kwargs)


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_invoke_agent_chat_and_execute_tool_spans_follow_the_conventions(
    telemetry: Telemetry,
) -> None:
    """One task gives invoke_agent, two chat and two execute_tool spans with GenAI attributes."""
    result = await make_agent().execute_task("research this")
    assert result["success"]
    names = sorted(s.name for s in telemetry.spans())
    assert names == ["chat gpt-test", "chat gpt-test", "execute_tool fetch",
                     "execute_tool lookup", "invoke_agent Researcher"]

    agent_span = telemetry.one("invoke_agent Researcher")
    assert agent_span.kind is SpanKind.INTERNAL
    a = attrs(agent_span)
    assert a["gen_ai.operation.name"] == "invoke_agent"
    assert a["gen_ai.agent.name"] == "Researcher"
    assert a["gen_ai.agent.id"] == "agent-7"
    assert a["gen_ai.provider.name"] == "pitstop.function"
    assert a["gen_ai.request.model"] == "gpt-test"
    assert a["gen_ai.usage.input_tokens"] == 50 and a["gen_ai.usage.output_tokens"] == 11
    assert a["pitstop.task.id"] == result["task_id"]
    assert agent_span.status.status_code is StatusCode.UNSET

    first, second = sorted(telemetry.named("chat "), key=lambda s: s.start_time or 0)
    c = attrs(first)
    assert c["gen_ai.operation.name"] == "chat"
    assert c["gen_ai.provider.name"] == "pitstop.function"
    assert c["gen_ai.request.model"] == "gpt-test"
    assert c["gen_ai.request.max_tokens"] == AgentConfig().max_output_tokens
    assert c["gen_ai.usage.input_tokens"] == 20 and c["gen_ai.usage.output_tokens"] == 8
    assert c["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert attrs(second)["gen_ai.response.finish_reasons"] == ("stop",)
    assert first.kind is SpanKind.INTERNAL  # an in-process model

    tool = telemetry.one("execute_tool lookup")
    t = attrs(tool)
    assert t["gen_ai.operation.name"] == "execute_tool"
    assert t["gen_ai.tool.name"] == "lookup"
    assert t["gen_ai.tool.call.id"] == "call-1"
    assert t["gen_ai.tool.type"] == "function"
    assert t["gen_ai.tool.description"] == "Look a key up."
    assert t["pitstop.cache.hit"] is False and t["pitstop.cache.shared"] is False


async def test_spans_nest_under_invoke_agent_across_concurrent_tool_tasks(
    telemetry: Telemetry,
) -> None:
    """Two tools running at once in their own tasks are children of the task's span, and a
    span the tool itself opens is a child of its execute_tool span."""
    await make_agent(telemetry).execute_task("research this")
    root = telemetry.one("invoke_agent Researcher")
    assert root.parent is None
    for span in telemetry.spans():
        if span is not root:
            assert span.context.trace_id == root.context.trace_id, span.name
    for name in ("chat gpt-test", "execute_tool lookup", "execute_tool fetch"):
        for span in telemetry.spans():
            if span.name == name:
                assert parent_id(span) == root.context.span_id, name
    inner = telemetry.one("user span inside lookup")
    assert parent_id(inner) == telemetry.one("execute_tool lookup").context.span_id


async def test_invoke_agent_is_a_child_of_the_callers_current_span(telemetry: Telemetry) -> None:
    """A task run inside the caller's span nests under it."""
    tracer = telemetry.tracer_provider.get_tracer("caller")
    with tracer.start_as_current_span("request handler") as outer:
        await make_agent().execute_task("research this")
    assert parent_id(telemetry.one("invoke_agent Researcher")) == outer.get_span_context().span_id


async def test_concurrent_tasks_each_keep_their_own_tree(telemetry: Telemetry) -> None:
    """Three tasks of one batch run at once; every tool span is under its own task's span."""
    agents = [make_agent() for _ in range(3)]
    await asyncio.gather(*(a.execute_task(f"task {i}") for i, a in enumerate(agents)))
    roots = telemetry.named("invoke_agent")
    assert len(roots) == 3 and len({r.context.trace_id for r in roots}) == 3
    by_trace = {r.context.trace_id: r.context.span_id for r in roots}
    tools = telemetry.named("execute_tool")
    assert len(tools) == 6
    for span in tools:
        assert parent_id(span) == by_trace[span.context.trace_id]


async def test_streaming_leaves_the_consumers_current_span_alone(telemetry: Telemetry) -> None:
    """While the consumer iterates the event stream, its current span stays its own."""
    from opentelemetry import trace

    tracer = telemetry.tracer_provider.get_tracer("caller")
    with tracer.start_as_current_span("consumer") as outer:
        async for _ in make_agent().execute_task_streaming("research this"):
            assert trace.get_current_span() is outer


async def test_no_content_is_exported_by_default(telemetry: Telemetry) -> None:
    """Without capture_content no prompt, answer, argument or result leaves the process."""
    result = await make_agent().execute_task(f"please look up {SECRET}")
    assert result["success"]
    for span in telemetry.spans():
        a = attrs(span)
        assert not CONTENT_KEYS & set(a), span.name
        for value in a.values():
            assert "launch code" not in str(value) and "the answer" not in str(value)


async def test_capture_content_exports_messages_arguments_and_results(
    telemetry_with_content: Telemetry,
) -> None:
    """With capture_content=True the conventions' content attributes carry the run's text."""
    t = telemetry_with_content
    await make_agent().execute_task("research this")
    a = attrs(t.one("invoke_agent Researcher"))
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "research this"}]}]
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "text", "content": "the answer"}]
    assert json.loads(a["gen_ai.system_instructions"])[0]["type"] == "text"

    first, second = sorted(t.named("chat "), key=lambda s: s.start_time or 0)
    sent = json.loads(attrs(first)["gen_ai.input.messages"])
    assert [m["role"] for m in sent] == ["system", "user"]
    out = json.loads(attrs(first)["gen_ai.output.messages"])
    assert out[0]["finish_reason"] == "tool_calls"
    assert {"type": "tool_call", "id": "call-1", "name": "lookup",
            "arguments": {"key": SECRET}} in out[0]["parts"]
    assert {d["name"] for d in json.loads(attrs(first)["gen_ai.tool.definitions"])} == {
        "lookup", "fetch"}
    replies = json.loads(attrs(second)["gen_ai.input.messages"])
    assert {"type": "tool_call_response", "id": "call-1",
            "result": f"value of {SECRET}"} in replies[-2]["parts"] + replies[-1]["parts"]

    tool = attrs(t.one("execute_tool lookup"))
    assert json.loads(tool["gen_ai.tool.call.arguments"]) == {"key": SECRET}
    assert json.loads(tool["gen_ai.tool.call.result"]) == f"value of {SECRET}"


async def test_nothing_is_exported_after_uninstrument(telemetry: Telemetry) -> None:
    """uninstrument() stops the spans and metrics of every later run."""
    agent = make_agent()
    await agent.execute_task("research this")
    spans_before = len(telemetry.spans())
    assert spans_before == 5 and otel.is_instrumented()
    calls_before = sum(p.count for p in telemetry.points("gen_ai.client.operation.duration"))
    otel.uninstrument()
    assert not otel.is_instrumented()
    result = await make_agent().execute_task("research this")
    assert result["success"]
    assert len(telemetry.spans()) == spans_before
    assert sum(p.count for p in telemetry.points("gen_ai.client.operation.duration")) == \
        calls_before
    assert len(agent.monitor.spans(kind="llm")) == 2  # the Monitor still records


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


async def test_direct_tool_calls_nest_under_the_callers_span(telemetry: Telemetry) -> None:
    """execute_tools_parallel outside a task puts its tool spans under the caller's span."""

    async def echo(x: int) -> int:
        return x

    agent = HybridAgent("a", FunctionLLM(lambda m, t: "x"), tools=[Tool(echo)])
    tracer = telemetry.tracer_provider.get_tracer("caller")
    with tracer.start_as_current_span("batch job") as outer:
        await agent.execute_tools_parallel([{"tool_name": "echo", "parameters": {"x": i}}
                                            for i in range(3)])
    spans = telemetry.named("execute_tool echo")
    assert len(spans) == 3
    assert {parent_id(s) for s in spans} == {outer.get_span_context().span_id}


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


async def test_chat_span_of_an_openai_client_is_client_with_server_address(
    telemetry: Telemetry,
) -> None:
    """OpenAIClient against an OpenAI-compatible server on loopback: provider openai, kind
    CLIENT, the server's address and port, and the usage the server reported."""
    from tests.llm.fake_openai_server import Reply, fake_openai_server, text_chunks

    from pitstop import OpenAIClient

    with fake_openai_server(Reply(chunks=text_chunks(["Hi", " there"], usage=(13, 2)))) as srv:
        llm = OpenAIClient("gpt-4o-mini", base_url=srv.base_url)
        result = await HybridAgent("a", llm).execute_task("go")
    assert result["success"]
    chat = telemetry.one("chat gpt-4o-mini")
    assert chat.kind is SpanKind.CLIENT
    a = attrs(chat)
    assert a["gen_ai.provider.name"] == "openai"
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == srv.port
    assert a["gen_ai.usage.input_tokens"] == 13 and a["gen_ai.usage.output_tokens"] == 2
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(point.attributes)["server.address"] == "127.0.0.1"
    assert attrs(telemetry.one("invoke_agent a"))["gen_ai.provider.name"] == "openai"


async def test_a_client_names_its_own_provider(telemetry: Telemetry) -> None:
    """Any client may say its gen_ai.provider.name with a `provider_name` attribute."""
    llm = FunctionLLM(lambda m, t: "x", model="claude-test")
    llm.provider_name = "anthropic"  # type: ignore[attr-defined]
    await HybridAgent("a", llm).execute_task("go")
    assert attrs(telemetry.one("chat claude-test"))["gen_ai.provider.name"] == "anthropic"


def test_instrument_rejects_what_is_not_a_provider() -> None:
    """A wrong tracer_provider, meter_provider or capture_content is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="tracer_provider must be an OpenTelemetry"):
        otel.instrument("jaeger")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="meter_provider must be an OpenTelemetry"):
        otel.instrument(meter_provider=42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="capture_content must be True or False"):
        otel.instrument(capture_content="yes")  # type: ignore[arg-type]
    assert not otel.is_instrumented()


def test_pitstop_loads_no_opentelemetry_until_asked() -> None:
    """`import pitstop` and a run leave OpenTelemetry unloaded; only pitstop.otel loads it."""
    import subprocess
    import sys

    code = (
        "import asyncio, sys\n"
        "from pitstop import FunctionLLM, HybridAgent\n"
        "asyncio.run(HybridAgent('a', FunctionLLM(lambda m, t: 'x')).execute_task('go'))\n"
        "print('opentelemetry' in sys.modules)\n"
        "import pitstop.otel\n"
        "print('opentelemetry' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]


def test_instrument_without_providers_uses_the_global_ones() -> None:
    """instrument() with no argument sends spans and metrics to the global providers."""
    import subprocess
    import sys

    code = (
        "import asyncio\n"
        "from opentelemetry import metrics, trace\n"
        "from opentelemetry.sdk.metrics import MeterProvider\n"
        "from opentelemetry.sdk.metrics.export import InMemoryMetricReader\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import "
        "InMemorySpanExporter\n"
        "from pitstop import FunctionLLM, HybridAgent, otel\n"
        "exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "trace.set_tracer_provider(provider)\n"
        "metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))\n"
        "otel.instrument()\n"
        "asyncio.run(HybridAgent('a', FunctionLLM(lambda m, t: 'x')).execute_task('go'))\n"
        "print(sorted(s.name for s in exporter.get_finished_spans()))\n"
        "data = reader.get_metrics_data()\n"
        "print(sorted(m.name for rm in data.resource_metrics for sm in rm.scope_metrics "
        "for m in sm.metrics))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["['chat function-llm', 'invoke_agent a']",
                   "['gen_ai.client.operation.duration', 'gen_ai.client.token.usage']"]


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
