"""Defect 2: no input makes the calculator burn CPU, block the loop, or speak raw errors."""

from __future__ import annotations

import threading
import time

import pytest

from pitstop import AgentConfig, HybridAgent, SimulatedLLM
from pitstop._tools import demo
from pitstop.errors import ToolArgumentError

pytestmark = pytest.mark.timeout(30)  # before the fix the first cases ran for hours


@pytest.mark.parametrize(
    "expression",
    [
        "((9**999)**999)**999",  # the exponent is small, the base is not
        "round(1, -10**9)",
        "round(1, -10**7)",
        "(10**999) * (10**999) * (10**999)",
        "2 ** 10 ** 5",
    ],
)
def test_costly_expressions_are_refused_with_a_sentence(expression: str) -> None:
    """An expression whose cost has no bound is refused before it is computed."""
    with pytest.raises(ToolArgumentError, match="digits"):
        demo.evaluate(expression)


@pytest.mark.parametrize(
    ("operation", "a", "b", "says"),
    [
        ("power", 10, 400, "too large"),
        ("power", -8, 0.5, "no real result"),
        ("mod", 5, 0, "Division by zero"),
    ],
)
async def test_operation_mode_failures_are_sentences(
    operation: str, a: float, b: float, says: str
) -> None:
    """Operation mode answers a failing operation with a sentence, not exception text."""
    agent = HybridAgent("calc", SimulatedLLM(), tools=["calculator"])
    [out] = await agent.execute_tools_parallel(
        [{"tool_name": "calculator", "parameters": {"operation": operation, "a": a, "b": b}}]
    )
    assert out["success"] is False
    assert says in out["error"]
    for raw in ("Errno", "Numerical result", "float modulo", "complex", "OverflowError"):
        assert raw not in out["error"]


@pytest.mark.parametrize(
    "expression", ["sqrt(-1)", "sqrt(1, 2)", "exp(1000)", "(-8) ** 0.5", "1e308 * 10"]
)
def test_expression_failures_are_sentences(expression: str) -> None:
    """Domain, arity, overflow and complex results come back as ToolArgumentError."""
    with pytest.raises(ToolArgumentError):
        demo.evaluate(expression)


async def test_an_expression_runs_off_the_event_loop_so_a_timeout_fires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slow evaluation runs in a worker thread: the loop stays free and tool_timeout fires."""
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def slow_evaluate(expression: str) -> int:
        seen.append(threading.get_ident())
        time.sleep(0.5)
        return 1

    monkeypatch.setattr(demo, "evaluate", slow_evaluate)
    agent = HybridAgent("calc", SimulatedLLM(), tools=["calculator"],
                        config=AgentConfig(tool_timeout=0.05))
    [out] = await agent.execute_tools_parallel(
        [{"tool_name": "calculator", "parameters": {"expression": "1 + 1"}}]
    )
    assert seen and seen[0] != loop_thread
    assert out["success"] is False and "timeout" in out["error"]
