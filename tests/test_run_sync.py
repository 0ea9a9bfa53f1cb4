"""`HybridAgent.run_sync`: one call that works in a script and inside a running loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from pitstop import FunctionLLM, HybridAgent, LLMResponse


def _agent(answer: str = "hi") -> HybridAgent:
    return HybridAgent("sync", FunctionLLM(lambda messages, tools: LLMResponse(text=answer)))


def test_run_sync_in_a_script_returns_what_execute_task_returns() -> None:
    """With no loop running, run_sync returns execute_task's dict."""
    agent = _agent("forty-two")
    result = agent.run_sync("What is 6 * 7?")
    assert result["success"] and result["output"] == "forty-two"
    assert set(result) >= {"output", "success", "tool_calls", "iterations", "execution_time",
                           "usage", "task_id"}
    assert agent.run_sync("again")["output"] == "forty-two"  # a second call reuses its loop


async def test_run_sync_inside_a_running_loop_without_patching_it() -> None:
    """Called from a coroutine (a notebook cell), run_sync works and leaves the loop alone."""
    loop = asyncio.get_running_loop()
    agent = _agent("from a cell")
    result = agent.run_sync("task", context={"user": "ada"})
    assert result["output"] == "from a cell"
    assert not getattr(loop, "_nest_patched", False)
    assert type(loop).run_until_complete is asyncio.BaseEventLoop.run_until_complete


def test_run_sync_passes_the_context_and_reports_bad_input() -> None:
    """The context reaches the run; a bad task is the same ConfigError as execute_task's."""
    seen: list[Any] = []

    def respond(messages: list[Any], tools: list[Any]) -> LLMResponse:
        seen.append(messages[-1].content)
        return LLMResponse(text="ok")

    agent = HybridAgent("sync", FunctionLLM(respond))
    assert agent.run_sync({"description": "hello"})["output"] == "ok"
    assert seen == ["hello"]
    with pytest.raises(ValueError, match="task"):
        agent.run_sync(42)  # type: ignore[arg-type]


def test_run_sync_from_threads_runs_one_at_a_time_on_one_loop() -> None:
    """Calls from several threads all finish (they queue on the agent's private loop)."""
    agent = _agent("x")
    outs: list[str] = []
    threads = [threading.Thread(target=lambda: outs.append(agent.run_sync("t")["output"]))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outs == ["x"] * 4
