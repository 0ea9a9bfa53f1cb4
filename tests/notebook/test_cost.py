"""Dollars in the notebook layer: the cost frame, the profile's Cost section, cache-bust hints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from pitstop import HybridAgent, Tool, ToolCall, Usage
from pitstop.llm._base import Message, StreamItem, ToolSpec
from pitstop.llm._pricing import Pricing
from pitstop.notebook._advice import hints
from pitstop.notebook._frames import cost_frame


class _UsageModel:
    """Calls a tool once, then answers; each call reports the next scripted usage."""

    model = "priced"

    def __init__(self, usages: list[Usage]) -> None:
        self.usages = usages
        self.pricing = Pricing(None, {"input": 1.0, "output": 2.0, "cached_input": 0.5})

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (), *,
        max_tokens: int | None = None,
    ) -> AsyncIterator[StreamItem]:
        u = self.usages.pop(0)
        if messages[-1].role != "tool":
            yield ToolCall("lookup", {"q": "x"})
        else:
            yield "done"
        yield Usage(u.input_tokens, u.output_tokens, u.cached_input_tokens, 0,
                    self.pricing.cost(u.input_tokens, u.output_tokens, u.cached_input_tokens))


def lookup(q: str) -> str:
    return q


async def test_cost_frame_has_a_row_per_model_and_priced_tool() -> None:
    """The frame's dollars match the hand computation, and the tool's declared cost counts."""
    llm = _UsageModel([Usage(2000, 10, 0), Usage(2100, 20, 1536)])
    agent = HybridAgent("a", llm, tools=[Tool(lookup, cost=0.01)])
    await agent.execute_task("go")
    frame = cost_frame(agent)
    model_cost = (2000 * 1.0 + 10 * 2.0 + (2100 - 1536) * 1.0 + 1536 * 0.5 + 20 * 2.0) / 1e6
    assert frame.loc["model:priced", "cost_usd"] == pytest.approx(model_cost)
    assert frame.loc["model:priced", "saved_usd"] == pytest.approx(1536 * 0.5 / 1e6)
    assert frame.loc["model:priced", "cached_share"] == pytest.approx(1536 / 4100)
    assert frame.loc["tool:lookup", "cost_usd"] == pytest.approx(0.01)
    assert agent.get_performance_metrics()["total_cost"] == pytest.approx(model_cost + 0.01)


async def test_a_call_that_lost_the_prompt_cache_gets_a_hint() -> None:
    """A long prompt whose cached share collapses after a well-cached call is named."""
    warm = HybridAgent("w", _UsageModel([Usage(2000, 10, 1800), Usage(2100, 10, 1920)]),
                       tools=[Tool(lookup)])
    await warm.execute_task("go")
    assert not [h for h in hints(warm) if "prompt cache" in h]
    bust = HybridAgent("b", _UsageModel([Usage(2000, 10, 1800), Usage(2100, 10, 0)]),
                       tools=[Tool(lookup)])
    await bust.execute_task("go")
    [hint] = [h for h in hints(bust) if "prompt cache" in h]
    assert "1 model call lost" in hint and "byte-identical" in hint


def test_the_stream_summary_line_shows_the_task_cost() -> None:
    """A priced run's summary ends with its dollars; an unpriced one shows none."""
    from pitstop.notebook._state import RunState, summary_line

    for cost, shown in ((0.00042, "· $0.0004"), (None, None)):
        state = RunState()
        state.result = {"success": True, "execution_time": 1.0, "cost": cost,
                        "usage": {"total_tokens": 120}}
        line = summary_line(state)
        assert "120 tokens" in line
        assert (shown in line) if shown else "$" not in line
