"""Defect 10: a valid tool result that cannot be shown becomes a placeholder, not a failure."""

from __future__ import annotations

from typing import Any

import pytest

from pitstop import HybridAgent, tool
from pitstop.llm import FunctionLLM, LLMResponse, ToolCall


class Unprintable:
    """An object whose repr and str both raise."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __repr__


@tool(register=False)
def huge(x: int = 0) -> int:
    """An integer of more than 4,300 digits."""
    return 10**5000 + x


@tool(register=False)
def unprintable(x: int = 0) -> Unprintable:
    """An object that cannot be turned into text."""
    return Unprintable()


@tool(register=False)
def nested(x: int = 0) -> dict[str, Any]:
    """A dict holding both."""
    return {"n": 10**5000, "o": Unprintable()}


@pytest.mark.parametrize("name", ["huge", "unprintable", "nested"])
async def test_a_result_that_cannot_be_shown_is_a_placeholder(name: str) -> None:
    """The task succeeds; the model reads a placeholder naming the result's type."""
    seen: list[str] = []

    def model(messages: Any, tools: Any) -> LLMResponse:
        replies = [m.content for m in messages if m.role == "tool"]
        if replies:
            seen.extend(replies)
            return LLMResponse(text="done")
        return LLMResponse(tool_calls=[ToolCall(name, {"x": 1})])

    agent = HybridAgent("r", FunctionLLM(model), tools=[huge, unprintable, nested])
    result = await agent.execute_task("go")
    assert result["success"], result["error"]
    assert result["tool_calls"][0]["success"] is True
    assert len(seen) == 1 and "cannot be shown" in seen[0]
