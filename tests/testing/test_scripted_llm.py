"""ScriptedLLM: one script per task, requests recorded, pacing on a fake clock."""

from __future__ import annotations

import warnings

import pytest

from pitstop import ConfigError, HybridAgent, LLMResponse, Message, ToolCall, Usage
from pitstop.testing import FakeClock, ScriptedLLM


async def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


async def test_each_task_follows_the_script_from_its_first_turn() -> None:
    """Two tasks on one agent both ask for the tool, then answer; requests are recorded."""
    llm = ScriptedLLM(LLMResponse(tool_calls=[ToolCall("add", {"a": 2, "b": 3})]), "five")
    agent = HybridAgent("t", llm, tools=[add])
    first = await agent.execute_task("one")
    second = await agent.execute_task("two")
    assert [r["output"] for r in (first, second)] == ["five", "five"]
    assert [len(r["tool_calls"]) for r in (first, second)] == [1, 1]
    assert len(llm.requests) == 4
    assert [m.role for m in llm.requests[1]][-2:] == ["assistant", "tool"]


async def test_the_last_turn_repeats() -> None:
    """A model called more often than its script has turns repeats the last one."""
    llm = ScriptedLLM(LLMResponse(tool_calls=[ToolCall("add", {"a": 1, "b": 1})]))
    agent = HybridAgent("t", llm, tools=[add], config={"max_iterations": 3})
    result = await agent.execute_task("loop")
    assert len(result["tool_calls"]) == 3 and not result["success"]


def test_an_empty_script_is_a_config_error() -> None:
    """A script with no turn is refused with an example of one."""
    with pytest.raises(ConfigError, match=r"at least one turn, e.g. ScriptedLLM\('the answer'\)"):
        ScriptedLLM()


async def test_the_readme_example_runs_on_fake_time() -> None:
    """The README's testing example: the answer streams at 10 words/s on the fake clock."""
    clock = FakeClock()
    llm = ScriptedLLM(LLMResponse(tool_calls=[ToolCall("add", {"a": 6, "b": 36})]),
                      "It is 42.", tokens_per_second=10, sleep=clock.sleep)
    agent = HybridAgent("t", llm, tools=[add])
    [result] = await clock.run(agent.execute_task("What is 6 + 36?"))
    assert result["output"] == "It is 42." and result["tool_calls"][0]["result"] == 42
    assert clock.now == pytest.approx(0.3)  # three words, 0.1 s apart


async def test_it_is_unpriced_without_a_warning_unless_priced() -> None:
    """By default its cost is None and nothing warns; price= bills its usage."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = await HybridAgent("t", ScriptedLLM("hi")).execute_task("q")
    assert result["success"]
    priced = ScriptedLLM("hi", price={"input": 1.0, "output": 2.0})
    usage = [i async for i in priced.stream([Message("user", "q")])][-1]
    assert isinstance(usage, Usage) and usage.cost is not None and usage.cost > 0
