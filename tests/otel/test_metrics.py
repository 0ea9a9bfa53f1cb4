"""pitstop.otel metrics: the GenAI client histograms, with the conventions' buckets."""

from __future__ import annotations

from tests.otel.conftest import Telemetry

from pitstop import FunctionLLM, HybridAgent, LLMResponse, Message, ToolCall, Usage
from pitstop.llm._base import ToolSpec


def scripted(messages: list[Message], tools: list[ToolSpec]) -> LLMResponse:
    if messages[-1].role == "tool":
        return LLMResponse("done", usage=Usage(120, 7))
    return LLMResponse(tool_calls=[ToolCall("echo", {"x": 1})], usage=Usage(100, 20))


async def echo(x: int) -> int:
    return x


async def test_operation_duration_has_one_point_per_model_call(telemetry: Telemetry) -> None:
    """gen_ai.client.operation.duration counts every chat call, in seconds, per model."""
    agent = HybridAgent("a", FunctionLLM(scripted, model="m1"), tools=[echo])
    await agent.execute_task("one")
    await agent.execute_task("two")
    points = telemetry.points("gen_ai.client.operation.duration")
    assert len(points) == 1
    p = points[0]
    assert dict(p.attributes) == {"gen_ai.operation.name": "chat",
                                  "gen_ai.provider.name": "pitstop.function",
                                  "gen_ai.request.model": "m1"}
    assert p.count == 4 and p.sum > 0
    assert list(p.explicit_bounds) == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56,
                                       5.12, 10.24, 20.48, 40.96, 81.92]


async def test_token_usage_records_input_and_output_per_call(telemetry: Telemetry) -> None:
    """gen_ai.client.token.usage holds each call's input and output tokens by token type."""
    agent = HybridAgent("a", FunctionLLM(scripted, model="m1"), tools=[echo])
    await agent.execute_task("one")
    by_type = {dict(p.attributes)["gen_ai.token.type"]: p
               for p in telemetry.points("gen_ai.client.token.usage")}
    assert set(by_type) == {"input", "output"}
    assert by_type["input"].count == 2 and by_type["input"].sum == 220
    assert by_type["output"].count == 2 and by_type["output"].sum == 27
    assert by_type["input"].min == 100 and by_type["input"].max == 120
    assert list(by_type["input"].explicit_bounds)[:4] == [1, 4, 16, 64]
