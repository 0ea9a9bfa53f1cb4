"""Defect 8: a generator (any iterable) of tool calls or tasks is read once and fully run."""

from __future__ import annotations

from collections.abc import Iterator

from pitstop import HybridAgent, SimulatedLLM, tool


@tool(register=False)
def double(x: int) -> int:
    """Twice x."""
    return 2 * x


async def test_execute_tools_parallel_takes_a_generator() -> None:
    """A generator of calls gives one result per call, in order, and each tool runs once."""
    agent = HybridAgent("g", SimulatedLLM(), tools=[double])
    out = await agent.execute_tools_parallel(
        {"tool_name": "double", "parameters": {"x": i}} for i in range(25)
    )
    assert [r["result"] for r in out] == [2 * i for i in range(25)]
    assert agent.monitor.operation_metrics("tool:double")["count"] == 25


async def test_execute_batch_takes_a_generator() -> None:
    """A generator of tasks gives one result per task, not an empty list."""
    agent = HybridAgent("g", SimulatedLLM(time_to_first_token=0, tokens_per_second=100_000))
    tasks: Iterator[str] = (f"say hello {i}" for i in range(5))
    results = await agent.execute_batch(tasks, progress=False)
    assert len(results) == 5 and all(r["success"] for r in results)
