"""pydantic-ai: ``Agent`` driven by ``FunctionModel``, the library's own test double.

The model function is ``async`` (a sync one would run in a worker thread) and returns a
``ModelResponse`` of ``ToolCallPart``s, then ``TextPart("done")``, with its usage given
(so pydantic-ai does not estimate tokens). Streaming uses
``FunctionModel(stream_function=...)`` yielding pre-built strings, read through
``agent.run_stream(...)`` and ``stream_text(delta=True, debounce_by=None)`` so each delta
reaches the caller on its own, as with the other contenders. pydantic-ai starts every
tool call of a turn at once and has no per-run bound, so the fan-out at bound 10 gates
the tool body with an ``asyncio.Semaphore``; ``Tool(sequential=True)`` gives one after
another. Batches use the agent's own ``Agent(max_concurrency=bound)``. No tool cache, no
rate limiter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ._base import DONE, AsyncFn, Side, bounded, sleeper

__all__ = ["PydanticAISide"]


def _model(calls: list[tuple[str, dict[str, Any]]]) -> Any:
    from pydantic_ai.messages import (
        ModelRequest,
        ModelResponse,
        TextPart,
        ToolCallPart,
        ToolReturnPart,
    )
    from pydantic_ai.models.function import FunctionModel
    from pydantic_ai.usage import RequestUsage

    async def fn(messages: list[Any], info: Any) -> ModelResponse:
        last = messages[-1]
        if not calls or (isinstance(last, ModelRequest)
                         and any(isinstance(p, ToolReturnPart) for p in last.parts)):
            return ModelResponse(parts=[TextPart(DONE)],
                                 usage=RequestUsage(input_tokens=10, output_tokens=1))
        return ModelResponse(
            parts=[ToolCallPart(n, a, tool_call_id=f"call-{i}")
                   for i, (n, a) in enumerate(calls)],
            usage=RequestUsage(input_tokens=10, output_tokens=10),
        )

    return FunctionModel(fn)


class PydanticAISide(Side):
    def __init__(self) -> None:
        super().__init__(
            key="pydantic_ai", label="pydantic-ai", distributions=("pydantic-ai-slim",),
            notes={
                "model": "FunctionModel(async fn) returning ModelResponse([ToolCallPart...]) "
                         "with RequestUsage; stream_function for streaming",
                "bound": "no per-run tool bound in pydantic-ai: asyncio.Semaphore(bound) "
                         "inside the tool; Tool(sequential=True) for one after another; "
                         "Agent(max_concurrency=bound) for batches",
            },
        )
        self.imports = (
            ("package", "import pydantic_ai"),
            ("ready", "from pydantic_ai import Agent"),
        )
        import pydantic_ai  # noqa: F401  (fails here when not installed)

    @staticmethod
    def _run(agent: Any) -> AsyncFn:
        async def run() -> str:
            return str((await agent.run("go")).output)

        return run

    def agent_run(self, k: int) -> AsyncFn:
        from pydantic_ai import Agent, Tool

        async def noop(x: int) -> int:
            self.tool_runs += 1
            return x

        model = _model([("noop", {"x": i}) for i in range(k)])
        return self._run(Agent(model, tools=[Tool(noop, name="noop")]))

    def fan_out(self, n: int, bound: int, delay: float) -> AsyncFn:
        from pydantic_ai import Agent, Tool

        body = bounded(sleeper(delay, self), bound if bound < n else None)

        async def sleepy(x: int) -> int:
            return await body(x)

        model = _model([("sleepy", {"x": i}) for i in range(n)])
        return self._run(Agent(model, tools=[Tool(sleepy, name="sleepy")]))

    def four_tools(self, *, parallel: bool) -> AsyncFn:
        from pydantic_ai import Agent, Tool

        names = ["search", "weather", "calculator", "translator"]
        body = sleeper(0.1, self)

        async def api(x: int) -> int:
            return await body(x)

        tools = [Tool(api, name=n, sequential=not parallel) for n in names]
        model = _model([(n, {"x": i}) for i, n in enumerate(names)])
        return self._run(Agent(model, tools=tools))

    def stream(self, pieces: list[str]) -> AsyncFn:
        from pydantic_ai import Agent
        from pydantic_ai.models.function import FunctionModel

        async def stream_fn(messages: list[Any], info: Any) -> AsyncIterator[str]:
            for p in pieces:
                yield p

        agent = Agent(FunctionModel(stream_function=stream_fn))

        async def run() -> int:
            count = 0
            async with agent.run_stream("go") as result:
                async for _ in result.stream_text(delta=True, debounce_by=None):
                    count += 1
            return count

        return run

    def batch(self, n: int, bound: int) -> AsyncFn:
        import asyncio

        from pydantic_ai import Agent

        agent = Agent(_model([]), max_concurrency=bound)

        async def run() -> list[Any]:
            return await asyncio.gather(*(agent.run("go") for _ in range(n)))

        return run
