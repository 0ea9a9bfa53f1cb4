"""Shared pieces of the OpenTelemetry tests: a scripted agent whose two tools overlap."""

from __future__ import annotations

import asyncio
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from tests.otel.conftest import Telemetry

from pitstop import FunctionLLM, HybridAgent, LLMResponse, Message, ToolCall, Usage
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
