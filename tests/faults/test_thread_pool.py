"""Defect 13: sync tools stuck past their timeout never starve another sync tool."""

from __future__ import annotations

import threading

import pytest

from pitstop import HybridAgent, tool
from pitstop._tools.base import THREADS_PER_TOOL
from pitstop.llm import FunctionLLM, LLMResponse

pytestmark = pytest.mark.timeout(60)


async def test_stuck_calls_of_one_tool_leave_the_others_running() -> None:
    """More stuck calls than the old shared pool had threads; another tool still runs,
    and the stuck threads are reported."""
    release = threading.Event()
    started: list[int] = []

    @tool(register=False, timeout=1.0)  # long enough for every thread to start
    def hangs(i: int) -> int:
        """Blocks until released (a stuck network call)."""
        started.append(i)
        release.wait(30)
        return i

    @tool(register=False, timeout=5)
    def quick(i: int) -> int:
        """Returns at once."""
        return i

    agent = HybridAgent("t", FunctionLLM(lambda m, t: LLMResponse(text="x")),
                        tools=[hangs, quick])
    try:
        stuck = await agent.execute_tools_parallel(
            [{"tool_name": "hangs", "parameters": {"i": i}} for i in range(40)],
            max_concurrency=40,
        )
        assert not any(r["success"] for r in stuck)
        out = await agent.execute_tools_parallel(
            [{"tool_name": "quick", "parameters": {"i": i}} for i in range(3)]
        )
        assert [r.get("result") for r in out] == [0, 1, 2], out
        assert len(started) == THREADS_PER_TOOL
        assert agent.get_performance_metrics()["stuck_tool_threads"] == {
            "hangs": THREADS_PER_TOOL
        }
    finally:
        release.set()
