"""Interrupting ``await agent.execute_batch(...)`` in a notebook: one line, results kept."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pitstop import FunctionLLM, HybridAgent, LLMResponse


def _agent(gate: asyncio.Event) -> HybridAgent:
    async def respond(messages: list[Any], tools: list[Any]) -> LLMResponse:
        task = messages[-1].content
        if task.startswith("slow"):
            await gate.wait()
        return LLMResponse(text=f"done {task}")

    return HybridAgent("batch", FunctionLLM(respond))


async def test_cancelled_batch_keeps_finished_results_and_renders_one_line() -> None:
    """Cancelling the batch cancels the rest; finished results stay in last_batch."""
    agent = _agent(asyncio.Event())
    tasks = ["fast 0", "slow 1", "fast 2", "slow 3", "slow 4"]
    batch = asyncio.ensure_future(agent.execute_batch(tasks, progress=False))
    while sum(r is not None for r in agent.last_batch) < 2:  # noqa: ASYNC110 - no hook to await
        await asyncio.sleep(0.01)
    batch.cancel()
    with pytest.raises(asyncio.CancelledError) as info:
        await batch
    assert [r and r["output"] for r in agent.last_batch] == \
        ["done fast 0", None, "done fast 2", None, None]
    assert info.value._render_traceback_() == [  # type: ignore[attr-defined]
        "Interrupted: 2 of 5 tasks finished; their results are in agent.last_batch "
        "(in task order, None for the 3 cut short)."]
    assert [s.status for s in agent.monitor.spans(kind="task")].count("cancelled") == 3


async def test_in_ipython_the_interrupt_is_one_line(ip: Any, capsys: Any) -> None:
    """The cancelled cell prints one line, not asyncio's traceback."""
    agent = _agent(asyncio.Event())
    ip.user_ns["agent"] = agent
    raw = 'results = await agent.execute_batch(["fast", "slow"], progress=False)\n'
    cell = asyncio.ensure_future(ip.run_cell_async(raw, transformed_cell=ip.transform_cell(raw)))
    while not agent.last_batch or agent.last_batch[0] is None:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    cell.cancel()  # what ipykernel does on Kernel > Interrupt
    result = await asyncio.wait_for(cell, 5)
    assert not result.success
    out = capsys.readouterr()
    shown = (out.out + out.err).strip().splitlines()
    assert shown == ["Interrupted: 1 of 2 tasks finished; their results are in agent.last_batch "
                     "(in task order, None for the 1 cut short)."]
