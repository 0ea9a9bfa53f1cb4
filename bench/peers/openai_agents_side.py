"""openai-agents: ``Agent`` + ``Runner`` driven by a scripted ``Model`` subclass.

``get_response`` returns a ``ModelResponse`` of ``ResponseFunctionToolCall`` items, then
an output message ``"done"`` once the input ends with a ``function_call_output``.
``stream_response`` yields pre-built Responses-API events (created, one
``ResponseTextDeltaEvent`` per piece, completed), read through ``Runner.run_streamed``
and counted as the raw text-delta events reach the caller. Tracing is disabled with
``set_tracing_disabled(True)``. Tool calls are bounded by the SDK's own
``RunConfig(tool_execution=ToolExecutionConfig(max_function_tool_concurrency=...))``;
batches use ``asyncio.gather`` behind a semaphore (the SDK has no batch API). No tool
cache, no rate limiter.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from ._base import DONE, AsyncFn, Side, sleeper

__all__ = ["OpenAIAgentsSide"]


def _text_message(text: str) -> Any:
    from openai.types.responses import ResponseOutputMessage, ResponseOutputText

    return ResponseOutputMessage(
        type="message", id="msg-1", role="assistant", status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
    )


def _model(calls: list[tuple[str, dict[str, Any]]], pieces: list[str] | None = None) -> Any:
    from agents.items import ModelResponse
    from agents.models.interface import Model
    from agents.usage import Usage
    from openai.types.responses import ResponseFunctionToolCall

    events = _stream_events(pieces) if pieces is not None else []

    class ScriptedModel(Model):
        async def get_response(self, system_instructions: Any, input: Any, *args: Any,
                               **kwargs: Any) -> ModelResponse:
            last = input[-1] if isinstance(input, list) and input else None
            kind = last.get("type") if isinstance(last, dict) else getattr(last, "type", None)
            if not calls or kind == "function_call_output":
                return ModelResponse(output=[_text_message(DONE)],
                                     usage=Usage(requests=1, input_tokens=10, output_tokens=1,
                                                 total_tokens=11),
                                     response_id=None)
            return ModelResponse(
                output=[ResponseFunctionToolCall(type="function_call", call_id=f"call-{i}",
                                                 name=n, arguments=json.dumps(a), id=f"fc-{i}")
                        for i, (n, a) in enumerate(calls)],
                usage=Usage(requests=1, input_tokens=10, output_tokens=10, total_tokens=20),
                response_id=None,
            )

        async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            for event in events:
                yield event

    return ScriptedModel()


def _stream_events(pieces: list[str]) -> list[Any]:
    """The Responses-API events of one streamed text answer, built once."""
    from openai.types.responses import (
        Response,
        ResponseCompletedEvent,
        ResponseContentPartAddedEvent,
        ResponseContentPartDoneEvent,
        ResponseCreatedEvent,
        ResponseOutputItemAddedEvent,
        ResponseOutputItemDoneEvent,
        ResponseOutputText,
        ResponseTextDeltaEvent,
        ResponseTextDoneEvent,
    )

    text = "".join(pieces)
    message = _text_message(text)
    part = ResponseOutputText(type="output_text", text=text, annotations=[])

    def response(output: list[Any]) -> Response:
        return Response(id="resp-1", created_at=0, model="scripted", object="response",
                        output=output, tool_choice="auto", tools=[], top_p=None,
                        parallel_tool_calls=True)

    seq = iter(range(10**9))
    events: list[Any] = [
        ResponseCreatedEvent(type="response.created", response=response([]),
                             sequence_number=next(seq)),
        ResponseOutputItemAddedEvent(type="response.output_item.added", item=message,
                                     output_index=0, sequence_number=next(seq)),
        ResponseContentPartAddedEvent(type="response.content_part.added", item_id="msg-1",
                                      output_index=0, content_index=0, part=part,
                                      sequence_number=next(seq)),
    ]
    events += [ResponseTextDeltaEvent(type="response.output_text.delta", item_id="msg-1",
                                      output_index=0, content_index=0, delta=p, logprobs=[],
                                      sequence_number=next(seq)) for p in pieces]
    events += [
        ResponseTextDoneEvent(type="response.output_text.done", item_id="msg-1",
                              output_index=0, content_index=0, text=text, logprobs=[],
                              sequence_number=next(seq)),
        ResponseContentPartDoneEvent(type="response.content_part.done", item_id="msg-1",
                                     output_index=0, content_index=0, part=part,
                                     sequence_number=next(seq)),
        ResponseOutputItemDoneEvent(type="response.output_item.done", item=message,
                                    output_index=0, sequence_number=next(seq)),
        ResponseCompletedEvent(type="response.completed", response=response([message]),
                               sequence_number=next(seq)),
    ]
    return events


class OpenAIAgentsSide(Side):
    def __init__(self) -> None:
        super().__init__(
            key="openai_agents", label="openai-agents", distributions=("openai-agents",),
            notes={
                "model": "a Model subclass returning ResponseFunctionToolCall items / an "
                         "output message; pre-built ResponseTextDeltaEvents for streaming; "
                         "set_tracing_disabled(True)",
                "bound": "the SDK's own RunConfig(tool_execution=ToolExecutionConfig("
                         "max_function_tool_concurrency=bound)); batches: gather+Semaphore",
            },
        )
        self.imports = (
            ("package", "import agents"),
            ("ready", "from agents import Agent, Runner"),
        )
        from agents import set_tracing_disabled

        set_tracing_disabled(True)

    def _tool(self, body: Any, name: str) -> Any:
        from agents import function_tool

        async def fn(x: int) -> int:
            return await body(x)

        return function_tool(fn, name_override=name)

    @staticmethod
    def _run(agent: Any, bound: int | None = None) -> AsyncFn:
        from agents import RunConfig, Runner

        config = None
        if bound is not None:
            from agents import ToolExecutionConfig

            config = RunConfig(tool_execution=ToolExecutionConfig(
                max_function_tool_concurrency=bound))

        async def run() -> str:
            return str((await Runner.run(agent, "go", run_config=config)).final_output)

        return run

    def agent_run(self, k: int) -> AsyncFn:
        from agents import Agent

        async def noop(x: int) -> int:
            self.tool_runs += 1
            return x

        agent = Agent(name="bench", model=_model([("noop", {"x": i}) for i in range(k)]),
                      tools=[self._tool(noop, "noop")])
        return self._run(agent)

    def fan_out(self, n: int, bound: int, delay: float) -> AsyncFn:
        from agents import Agent

        agent = Agent(name="bench", model=_model([("sleepy", {"x": i}) for i in range(n)]),
                      tools=[self._tool(sleeper(delay, self), "sleepy")])
        return self._run(agent, bound)

    def four_tools(self, *, parallel: bool) -> AsyncFn:
        from agents import Agent

        names = ["search", "weather", "calculator", "translator"]
        body = sleeper(0.1, self)
        agent = Agent(name="bench", model=_model([(n, {"x": i}) for i, n in enumerate(names)]),
                      tools=[self._tool(body, n) for n in names])
        return self._run(agent, None if parallel else 1)

    def stream(self, pieces: list[str]) -> AsyncFn:
        from agents import Agent, Runner
        from openai.types.responses import ResponseTextDeltaEvent

        agent = Agent(name="bench", model=_model([], pieces))

        async def run() -> int:
            count = 0
            result = Runner.run_streamed(agent, "go")
            async for event in result.stream_events():
                if event.type == "raw_response_event" and isinstance(event.data,
                                                                     ResponseTextDeltaEvent):
                    count += 1
            return count

        return run

    def batch(self, n: int, bound: int) -> AsyncFn:
        from agents import Agent

        one = self._run(Agent(name="bench", model=_model([])))
        sem = asyncio.Semaphore(bound)

        async def gated() -> str:
            async with sem:
                return await one()

        async def run() -> list[str]:
            return await asyncio.gather(*(gated() for _ in range(n)))

        return run
