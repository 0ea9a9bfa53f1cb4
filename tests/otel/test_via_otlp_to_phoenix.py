"""pitstop's spans over OTLP/HTTP into a real tracing backend (Arize Phoenix), read back."""

from __future__ import annotations

import time
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from tests.otel.helpers import make_agent
from tests.otel.phoenix import PhoenixServer

from pitstop import otel

# Phoenix boots in 10-30 s on a busy 2-core machine (it starts while earlier tests run)
pytestmark = [pytest.mark.phoenix, pytest.mark.timeout(300)]


def read_spans(phoenix: PhoenixServer, project: str, want: int) -> list[dict[str, Any]]:
    """The project's spans, once Phoenix has ingested at least `want` of them."""
    deadline = time.monotonic() + 30
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            spans = phoenix.get(f"/v1/projects/{project}/spans?limit=100")["data"]
        except OSError:  # the project appears with its first span
            spans = []
        if len(spans) >= want:
            return spans
        time.sleep(0.2)
    raise AssertionError(f"Phoenix holds {len(spans)} spans of {project}, expected {want}")


async def test_phoenix_receives_the_genai_spans_and_reads_them_as_agent_llm_and_tool(
    phoenix: PhoenixServer,
) -> None:
    """A task's spans sent over OTLP come back from Phoenix with their names, tree and
    attributes, classified by Phoenix's GenAI conversion as AGENT, LLM and TOOL spans."""
    provider = TracerProvider(resource=Resource({
        "service.name": "pitstop-tests", "openinference.project.name": "pitstop-otel-test"}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{phoenix.url}/v1/traces", timeout=10)))
    otel.instrument(provider)
    try:
        result = await make_agent().execute_task("research this")
    finally:
        otel.uninstrument()
        provider.force_flush()
        provider.shutdown()
    assert result["success"]

    spans = read_spans(phoenix, "pitstop-otel-test", want=5)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        by_name.setdefault(s["name"], []).append(s)
    assert sorted(by_name) == ["chat gpt-test", "execute_tool fetch", "execute_tool lookup",
                               "invoke_agent Researcher"]
    (root,) = by_name["invoke_agent Researcher"]
    assert root["parent_id"] is None and root["span_kind"] == "AGENT"
    assert root["attributes"]["gen_ai.agent.id"] == "agent-7"
    trace_id = root["context"]["trace_id"]
    for s in spans:
        assert s["context"]["trace_id"] == trace_id
        if s is not root:
            assert s["parent_id"] == root["context"]["span_id"], s["name"]
    chats = by_name["chat gpt-test"]
    assert len(chats) == 2 and {c["span_kind"] for c in chats} == {"LLM"}
    assert sorted(c["attributes"]["llm.token_count.prompt"] for c in chats) == [20, 30]
    assert by_name["execute_tool lookup"][0]["span_kind"] == "TOOL"
    assert by_name["execute_tool lookup"][0]["attributes"]["gen_ai.tool.call.id"] == "call-1"


def test_phoenix_listens_on_loopback_only(phoenix: PhoenixServer) -> None:
    """Every socket the Phoenix of the tests listens on (HTTP and OTLP gRPC) is loopback."""
    import psutil

    assert phoenix.proc is not None
    procs = [psutil.Process(phoenix.proc.pid)]
    procs += procs[0].children(recursive=True)
    listening = [c.laddr for p in procs for c in p.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening, "Phoenix listens on nothing?"
    assert all(a.ip in ("127.0.0.1", "::1", "::ffff:127.0.0.1") for a in listening), listening
    assert {a.port for a in listening} >= {phoenix.port, phoenix.grpc_port}
