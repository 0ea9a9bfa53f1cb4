"""SimulatedLLM: picks fitting tools, streams, reports usage, deterministic; FunctionLLM."""

from __future__ import annotations

import itertools
from typing import Any, Literal

import pytest

from pitstop import ConfigError, FunctionLLM, LLMResponse, Message, SimulatedLLM, ToolCall, Usage
from pitstop._tools.base import resolve_tools
from pitstop.llm._summary import summary_request
from pitstop.testing import FakeClock

SPECS = [t.spec for t in resolve_tools(["search", "weather", "calculator", "translate"]).values()]


def plan(task: str, specs=SPECS) -> list[tuple[str, dict]]:
    calls, _ = SimulatedLLM().respond([Message("user", task)], specs)
    return [(c.name, dict(c.arguments)) for c in calls]


def test_picks_several_independent_tools_in_one_turn() -> None:
    """A task asking for several things gets one call per thing, arguments filled in."""
    assert plan(
        "Search for Python news, get the weather in Paris and London, "
        "compute 12 * 7 and translate 'hello' to French"
    ) == [
        ("search", {"query": "Python news"}),
        ("weather", {"location": "Paris"}),
        ("weather", {"location": "London"}),
        ("calculator", {"expression": "12 * 7"}),
        ("translate", {"text": "hello", "target": "fr"}),
    ]


def test_no_fitting_tool_means_a_direct_answer() -> None:
    """A task no tool fits is answered directly, and says the model is simulated."""
    calls, text = SimulatedLLM().respond([Message("user", "Tell me a joke")], SPECS)
    assert calls == [] and "SimulatedLLM" in text


def test_answers_from_tool_results() -> None:
    """After tool results, the model writes an answer that uses them."""
    messages = [
        Message("user", "weather in Oslo"),
        Message("assistant", "", tool_calls=(ToolCall("weather", {"location": "Oslo"}, "c1"),)),
        Message("tool", '{"temperature": 3}', tool_call_id="c1", name="weather"),
    ]
    calls, text = SimulatedLLM().respond(messages, SPECS)
    assert calls == [] and '- weather: {"temperature": 3}' in text


def test_fills_user_tools_from_their_schema() -> None:
    """A user tool is picked by its name; its ticker and day count are taken from the task."""
    from pitstop import Tool

    def stock_price(ticker: str, days: int) -> float:
        """Look up a stock price history."""
        return 1.0

    assert plan("stock price of ACME over 30 days", [Tool(stock_price).spec]) == [
        ("stock_price", {"ticker": "ACME", "days": 30})
    ]


async def timed_stream(
    llm: SimulatedLLM | FunctionLLM, clock: FakeClock
) -> list[tuple[float, object]]:
    """Each item the model streams, with the fake time it arrived at."""
    return [(clock.now, item) async for item in llm.stream([Message("user", "Tell me a joke")])]


async def test_streams_paced_text_and_reports_usage() -> None:
    """Text arrives as several deltas, paced on the injected clock; usage comes last."""
    clock = FakeClock()
    llm = SimulatedLLM(time_to_first_token=0.3, tokens_per_second=50, seed=1, sleep=clock.sleep)
    [timed] = await clock.run(timed_stream(llm, clock))
    items = [item for _, item in timed]
    deltas = [(t, i) for t, i in timed if isinstance(i, str)]
    assert len(deltas) > 10 and isinstance(items[-1], Usage)
    assert items[-1].output_tokens == len(deltas) and items[-1].input_tokens > 0
    first = deltas[0][0]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(deltas)]
    assert 0.3 * 0.85 + 0.02 * 0.7 <= first <= 0.3 * 1.15 + 0.02 * 1.3
    assert all(0.02 * 0.7 - 1e-9 <= g <= 0.02 * 1.3 + 1e-9 for g in gaps)


async def test_same_seed_same_stream() -> None:
    """The same seed gives the same deltas and the same pacing."""

    async def run(seed: int) -> list[tuple[float, object]]:
        clock = FakeClock()
        [timed] = await clock.run(timed_stream(SimulatedLLM(seed=seed, sleep=clock.sleep), clock))
        return timed

    assert await run(3) == await run(3)
    assert [t for t, _ in await run(3)] != [t for t, _ in await run(4)]


async def test_function_llm_paces_on_the_injected_sleep() -> None:
    """FunctionLLM waits time_to_first_token, then 1/tokens_per_second before each delta."""
    clock = FakeClock()
    llm = FunctionLLM(lambda m, t: "one two three", time_to_first_token=0.5,
                      tokens_per_second=10, sleep=clock.sleep)
    [timed] = await clock.run(timed_stream(llm, clock))
    assert [(round(t, 6), i) for t, i in timed if isinstance(i, str)] == [
        (0.6, "one"), (0.7, " two"), (0.8, " three")
    ]


def test_summarizes_when_asked_without_tools() -> None:
    """A summary request (no tools, system asks to summarize) gets an extractive summary."""
    request = summary_request(
        [Message("user", "I like tea. It is warm."), Message("assistant", "Tea is good.")], 100
    )
    calls, text = SimulatedLLM().respond(request, [])
    assert calls == [] and text.startswith("Summary") and "I like tea. It is warm" in text


def test_a_task_that_mentions_summaries_is_not_a_summary_request() -> None:
    """Only the summary protocol's own request is answered with a summary."""
    calls, text = SimulatedLLM().respond(
        [Message("system", "Summarize results briefly."), Message("user", "Search for Python")],
        [],
    )
    assert calls == [] and not text.startswith("Summary")


async def test_max_tokens_bounds_the_answer() -> None:
    """max_tokens cuts the streamed text."""
    llm = SimulatedLLM(time_to_first_token=0, tokens_per_second=1e6)
    items = [i async for i in llm.stream([Message("user", "Tell me a joke")], max_tokens=5)]
    assert len([i for i in items if isinstance(i, str)]) == 5


def test_bad_settings_are_clear_errors() -> None:
    """Negative latency or a zero pace are ConfigErrors; None is no pacing, for both."""
    with pytest.raises(ConfigError, match=r"SimulatedLLM\(tokens_per_second=...\) takes a rate"):
        SimulatedLLM(tokens_per_second=0)
    with pytest.raises(ConfigError, match=r"FunctionLLM\(time_to_first_token=...\) takes seconds"):
        FunctionLLM(lambda m, t: "x", time_to_first_token=-1)
    assert SimulatedLLM(tokens_per_second=None).tokens_per_second is None
    assert FunctionLLM(lambda m, t: "x", tokens_per_second=None).tokens_per_second is None


async def test_no_pacing_streams_the_same_text_without_waiting() -> None:
    """tokens_per_second=None streams what a paced model streams, with no delay per token."""
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    paced = SimulatedLLM(time_to_first_token=0, seed=3, sleep=record)
    free = SimulatedLLM(time_to_first_token=0, tokens_per_second=None, seed=3, sleep=record)
    msgs = [Message("user", "Explain what a tool cache is.")]
    text = [i async for i in paced.stream(msgs) if isinstance(i, str)]
    assert any(waits)
    waits.clear()
    assert [i async for i in free.stream(msgs) if isinstance(i, str)] == text
    assert waits and not any(waits)


async def test_function_llm_streams_text_then_calls_then_usage() -> None:
    """FunctionLLM splits text into deltas that join back, then yields calls and usage."""
    llm = FunctionLLM(lambda m, t: LLMResponse("Hi there  you", [ToolCall("x", {})], Usage(3, 4)))
    items = [i async for i in llm.stream([Message("user", "q")])]
    assert "".join(i for i in items if isinstance(i, str)) == "Hi there  you"
    assert items[-2] == ToolCall("x", {}) and items[-1] == Usage(3, 4)


def _stock_price(ticker: str, days: int = 7) -> dict[str, float]:
    """Get the stock price history of a company.

    Args:
        ticker: the stock symbol, e.g. AAPL.
        days: how many days of history.
    """
    return {}


def _convert(amount: float, currency: Literal["USD", "EUR", "GBP"],
             date: str | None = None) -> float:
    """Convert an amount of money into another currency.

    Args:
        amount: how much money.
        currency: the currency to convert into.
        date: the day of the exchange rate, YYYY-MM-DD.
    """
    return amount


def _lookup_order(order_id: str, customer_email: str) -> dict[str, str]:
    """Find a customer's order."""
    return {}


@pytest.mark.parametrize(("tool", "task", "expected"), [
    (_stock_price, "Get the stock price for ACME over the last 30 days",
     {"ticker": "ACME", "days": 30}),
    (_stock_price, "How has Globex stock done?", {"ticker": "Globex"}),
    (_convert, "Convert 250 dollars to eur at the rate of 2024-03-01",
     {"amount": 250.0, "currency": "EUR", "date": "2024-03-01"}),
    (_lookup_order, "Where is order A-1042 for jane@example.com?",
     {"order_id": "A-1042", "customer_email": "jane@example.com"}),
])
def test_a_users_own_tool_gets_plausible_arguments_from_its_schema(
    tool: Any, task: str, expected: dict[str, Any]
) -> None:
    """Types, enums, names and descriptions pick values out of the task, not the whole text."""
    from pitstop._tools.base import Tool

    spec = Tool(tool).spec
    (call,) = SimulatedLLM()._plan(task, [spec])
    assert call.name == spec.name and call.arguments == expected
