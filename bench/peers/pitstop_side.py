"""pitstop's side: `HybridAgent` driven by `FunctionLLM`, the library's own test double.

Everything goes through the public API a user calls: ``execute_task``,
``execute_task_streaming``, ``execute_batch``, ``execute_tools_parallel``, the
`CacheConfig` of the agent, and the `Governor` that enforces `ResourceLimits`.
Monitoring is on (it always is). The scripted model gives its usage, as a provider does,
so no token counting runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ._base import DONE, AsyncFn, CachedCall, Limiter, Side, Unsupported, sleeper

__all__ = ["PitstopSide"]


class _ListLLM:
    """A zero-latency model that streams a fixed list of deltas (no per-token work)."""

    model = "list"

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces

    async def stream(self, messages: Sequence[Any], tools: Sequence[Any] = (), *,
                     max_tokens: int | None = None) -> AsyncIterator[object]:
        from pitstop.llm._base import Usage

        for p in self.pieces:
            yield p
        yield Usage(1, len(self.pieces))


class PitstopSide(Side):
    def __init__(self) -> None:
        super().__init__(
            key="pitstop", label="pitstop", distributions=("pitstop",),
            notes={
                "model": "FunctionLLM(fn) returning LLMResponse(tool_calls=[ToolCall(...)]) "
                         "with its Usage; a 20-line LLMClient streaming a list for the "
                         "streaming row",
                "bound": "AgentConfig(max_concurrency=bound) (its own bound)",
                "cache": "HybridAgent(cache_config=CacheConfig(default_ttl=300, "
                         "max_cache_size=1e6)); one call per execute_tools_parallel",
                "limiter": "pitstop._limits.Governor(ResourceLimits(max_tool_calls_per_minute"
                           "=60×rate, tool_call_burst_size=burst)).acquire_tool_call()",
            },
        )
        self.imports = (
            ("package", "import pitstop"),
            ("ready", "import pitstop; pitstop.HybridAgent"),
        )

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _scripted(calls: list[tuple[str, dict[str, Any]]]) -> Any:
        from pitstop import FunctionLLM, LLMResponse, ToolCall
        from pitstop.llm._base import Usage

        def fn(messages: list[Any], tools: object) -> LLMResponse:
            if messages[-1].role == "tool" or not calls:
                return LLMResponse(text=DONE, usage=Usage(10, 1))
            return LLMResponse(tool_calls=[ToolCall(n, a) for n, a in calls],
                               usage=Usage(10, 10))

        return FunctionLLM(fn)

    def _run(self, agent: Any) -> AsyncFn:
        async def run() -> str:
            r = await agent.execute_task("go")
            if not r["success"]:
                raise RuntimeError(f"pitstop run failed: {r['error']}")
            return str(r["output"])

        return run

    # -- agent loop ----------------------------------------------------------------------

    def agent_run(self, k: int) -> AsyncFn:
        from pitstop import HybridAgent, Tool

        async def noop(x: int) -> int:
            self.tool_runs += 1
            return x

        llm = self._scripted([("noop", {"x": i}) for i in range(k)])
        return self._run(HybridAgent("bench", llm, tools=[Tool(noop)]))

    def fan_out(self, n: int, bound: int, delay: float) -> AsyncFn:
        from pitstop import AgentConfig, HybridAgent, Tool

        tool = Tool(sleeper(delay, self), name="sleepy")
        llm = self._scripted([("sleepy", {"x": i}) for i in range(n)])
        agent = HybridAgent("bench", llm, tools=[tool],
                            config=AgentConfig(max_concurrency=bound))
        return self._run(agent)

    def four_tools(self, *, parallel: bool) -> AsyncFn:
        from pitstop import HybridAgent, Tool

        names = ["search", "weather", "calculator", "translator"]
        tools = [Tool(sleeper(0.1, self), name=n) for n in names]
        llm = self._scripted([(n, {"x": i}) for i, n in enumerate(names)])
        agent = HybridAgent("bench", llm, tools=tools, enable_parallel_execution=parallel)
        return self._run(agent)

    def stream(self, pieces: list[str]) -> AsyncFn:
        from pitstop import HybridAgent

        agent = HybridAgent("bench", _ListLLM(pieces))

        async def run() -> int:
            count = 0
            async for event in agent.execute_task_streaming("go"):
                if event["type"] == "token":
                    count += 1
            return count

        return run

    def batch(self, n: int, bound: int) -> AsyncFn:
        from pitstop import HybridAgent

        agent = HybridAgent("bench", self._scripted([]))
        tasks = ["go"] * n

        async def run() -> list[Any]:
            results = await agent.execute_batch(tasks, max_concurrency=bound, progress=False)
            if not all(r["success"] for r in results):
                raise RuntimeError("a pitstop batch task failed")
            return results

        return run

    # -- features ------------------------------------------------------------------------

    def _tool_calls(self, latency: float, cache: bool) -> CachedCall:
        try:
            from pitstop import CacheConfig, HybridAgent, Tool
        except ImportError as exc:  # the cache package is not there yet
            raise Unsupported(f"pending: {exc}") from exc
        runs = [0]

        async def lookup(x: int) -> int:
            runs[0] += 1
            if latency:
                await asyncio.sleep(latency)
            return x * 2

        config = (CacheConfig(default_ttl=300, max_cache_size=1_000_000) if cache else None)
        agent = HybridAgent("bench-cache", self._scripted([]), tools=[Tool(lookup)],
                            cache_config=config)

        async def call(x: int) -> object:
            (r,) = await agent.execute_tools_parallel(
                [{"tool_name": "lookup", "parameters": {"x": x}}])
            if not r["success"]:
                raise RuntimeError(r["error"])
            return r["result"]

        how = "execute_tools_parallel([one call]) with" + (" CacheConfig" if cache else "out cache")
        return CachedCall(call, lambda: runs[0], how)

    def cached_tool(self, latency: float) -> CachedCall:
        return self._tool_calls(latency, cache=True)

    def uncached_tool(self, latency: float) -> CachedCall:
        return self._tool_calls(latency, cache=False)

    def limiter(self, per_second: float, burst: int) -> Limiter:
        try:
            from pitstop import ResourceLimits
            from pitstop._limits.governor import Governor
        except ImportError as exc:
            raise Unsupported(f"pending: {exc}") from exc
        governor = Governor(ResourceLimits(
            max_tool_calls_per_minute=round(per_second * 60), tool_call_burst_size=burst,
            max_concurrent_tasks=None, resource_wait_timeout_seconds=None,
        ))

        async def acquire() -> None:
            await governor.acquire_tool_call()
            governor.release_tool_call()

        return Limiter(acquire, "Governor.acquire_tool_call() + release_tool_call()")
