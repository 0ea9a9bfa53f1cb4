"""pitstop.otel: GenAI spans with the right names, attributes, nesting and content rules."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from tests.otel.conftest import Telemetry
from tests.otel.helpers import CONTENT_KEYS, SECRET, attrs, make_agent, parent_id

from pitstop import (
    AgentConfig,
    ConfigError,
    FunctionLLM,
    HybridAgent,
    Tool,
    otel,
)


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
