"""LangGraph + langchain-core: ``create_react_agent`` driven by a scripted chat model.

The model is a small ``BaseChatModel`` subclass (LangChain's documented way to write a
model): ``_agenerate`` returns an ``AIMessage`` whose ``tool_calls`` are the scripted
calls, or ``"done"`` once the last message is a ``ToolMessage``; ``_astream`` yields
pre-built ``AIMessageChunk``s for the streaming row. ``create_react_agent`` is used with
its defaults (``version="v2"``: each tool call is its own ``Send`` task). The graph's own
``max_concurrency`` config bounds concurrent tool calls. The cache is LangGraph's node
cache (``CachePolicy`` + ``InMemoryCache``) on a one-node graph that runs the tool; the
rate limiter is langchain-core's ``InMemoryRateLimiter``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypedDict

from ._base import DONE, AsyncFn, CachedCall, Limiter, Side, sleeper

__all__ = ["LangGraphSide"]


def _model_class() -> type:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, ToolMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from pydantic import Field

    class ScriptedChatModel(BaseChatModel):
        """Answers with the scripted tool calls, then ``"done"``; streams ``chunks``."""

        calls: list[tuple[str, dict[str, Any]]] = Field(default_factory=list)
        chunks: list[Any] = Field(default_factory=list)

        @property
        def _llm_type(self) -> str:
            return "scripted"

        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self  # the script already knows which tools it calls

        def _reply(self, messages: list[Any]) -> ChatResult:
            if isinstance(messages[-1], ToolMessage) or not self.calls:
                msg = AIMessage(content=DONE, usage_metadata={
                    "input_tokens": 10, "output_tokens": 1, "total_tokens": 11})
            else:
                msg = AIMessage(content="", tool_calls=[
                    {"name": n, "args": a, "id": f"call-{i}", "type": "tool_call"}
                    for i, (n, a) in enumerate(self.calls)
                ], usage_metadata={"input_tokens": 10, "output_tokens": 10,
                                   "total_tokens": 20})
            return ChatResult(generations=[ChatGeneration(message=msg)])

        def _generate(self, messages: list[Any], stop: Any = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:
            return self._reply(messages)

        async def _agenerate(self, messages: list[Any], stop: Any = None,
                             run_manager: Any = None, **kwargs: Any) -> ChatResult:
            return self._reply(messages)

        async def _astream(self, messages: list[Any], stop: Any = None,
                           run_manager: Any = None, **kwargs: Any) -> AsyncIterator[Any]:
            # langchain-core reports each chunk to the callbacks (and so to LangGraph's
            # "messages" stream) itself; a model only yields them
            for chunk in self.chunks:
                yield chunk

    return ScriptedChatModel


class LangGraphSide(Side):
    def __init__(self) -> None:
        super().__init__(
            key="langgraph", label="LangGraph (langchain-core)",
            distributions=("langgraph", "langchain-core"),
            notes={
                "model": "a BaseChatModel subclass returning AIMessage(tool_calls=[...]); "
                         "create_react_agent(model, tools) with its defaults (v2)",
                "bound": "the graph's own config max_concurrency=bound",
                "cache": "StateGraph node with CachePolicy(ttl=300), compiled with "
                         "InMemoryCache(); one graph.ainvoke per call",
                "limiter": "langchain_core InMemoryRateLimiter(requests_per_second=rate, "
                           "max_bucket_size=burst), default check_every_n_seconds=0.1",
            },
        )
        self.imports = (
            ("package", "import langgraph.graph"),
            ("ready", "from langgraph.prebuilt import create_react_agent"),
        )
        import langgraph.prebuilt  # noqa: F401  (fails here when not installed)

    def _agent(self, calls: list[tuple[str, dict[str, Any]]], tools: list[Any],
               chunks: list[Any] | None = None) -> Any:
        from langgraph.prebuilt import create_react_agent

        model = _model_class()(calls=calls, chunks=chunks or [])
        return create_react_agent(model, tools)

    @staticmethod
    def _tool(body: Any, name: str) -> Any:
        from langchain_core.tools import StructuredTool

        async def fn(x: int) -> int:
            return await body(x)

        return StructuredTool.from_function(coroutine=fn, name=name, description=name)

    def _run(self, graph: Any, config: dict[str, Any] | None = None) -> AsyncFn:
        async def run() -> str:
            state = await graph.ainvoke({"messages": [("user", "go")]}, config=config)
            return str(state["messages"][-1].content)

        return run

    def agent_run(self, k: int) -> AsyncFn:
        async def noop(x: int) -> int:
            self.tool_runs += 1
            return x

        graph = self._agent([("noop", {"x": i}) for i in range(k)], [self._tool(noop, "noop")])
        return self._run(graph)

    def fan_out(self, n: int, bound: int, delay: float) -> AsyncFn:
        graph = self._agent([("sleepy", {"x": i}) for i in range(n)],
                            [self._tool(sleeper(delay, self), "sleepy")])
        return self._run(graph, {"max_concurrency": bound})

    def four_tools(self, *, parallel: bool) -> AsyncFn:
        names = ["search", "weather", "calculator", "translator"]
        graph = self._agent([(n, {"x": i}) for i, n in enumerate(names)],
                            [self._tool(sleeper(0.1, self), n) for n in names])
        return self._run(graph, None if parallel else {"max_concurrency": 1})

    def stream(self, pieces: list[str]) -> AsyncFn:
        from langchain_core.messages import AIMessageChunk
        from langchain_core.outputs import ChatGenerationChunk

        chunks = [ChatGenerationChunk(message=AIMessageChunk(content=p, id="run-stream"))
                  for p in pieces]
        graph = self._agent([], [], chunks)

        async def run() -> int:
            count = 0
            async for message, _meta in graph.astream({"messages": [("user", "go")]},
                                                     stream_mode="messages"):
                if isinstance(message, AIMessageChunk) and message.content:
                    count += 1
            return count

        return run

    def batch(self, n: int, bound: int) -> AsyncFn:
        graph = self._agent([], [])
        inputs = [{"messages": [("user", "go")]} for _ in range(n)]

        async def run() -> list[Any]:
            return await graph.abatch(inputs, config={"max_concurrency": bound})

        return run

    def _graph(self, latency: float, cache: bool) -> CachedCall:
        from langgraph.graph import END, START, StateGraph

        class State(TypedDict, total=False):
            x: int
            y: int

        runs = [0]

        async def lookup(state: State) -> dict[str, int]:
            runs[0] += 1
            if latency:
                await asyncio.sleep(latency)
            return {"y": state["x"] * 2}

        builder = StateGraph(State)
        if cache:
            from langgraph.cache.memory import InMemoryCache
            from langgraph.types import CachePolicy

            builder.add_node("lookup", lookup, cache_policy=CachePolicy(ttl=300))
        else:
            builder.add_node("lookup", lookup)
        builder.add_edge(START, "lookup")
        builder.add_edge("lookup", END)
        graph = builder.compile(cache=InMemoryCache()) if cache else builder.compile()

        async def call(x: int) -> object:
            return (await graph.ainvoke({"x": x}))["y"]

        how = "graph.ainvoke of a one-node graph" + (" with CachePolicy" if cache else "")
        return CachedCall(call, lambda: runs[0], how)

    def cached_tool(self, latency: float) -> CachedCall:
        return self._graph(latency, cache=True)

    def uncached_tool(self, latency: float) -> CachedCall:
        return self._graph(latency, cache=False)

    def limiter(self, per_second: float, burst: int) -> Limiter:
        from langchain_core.rate_limiters import InMemoryRateLimiter

        limiter = InMemoryRateLimiter(requests_per_second=per_second, max_bucket_size=burst)
        return Limiter(limiter.aacquire, "InMemoryRateLimiter.aacquire()")
