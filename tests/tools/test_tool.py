"""Tools: schemas from signatures, validation, sync/async execution, registry, demo tools."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pitstop import ConfigError, Tool, ToolArgumentError, ToolNotFoundError, ToolRegistry, tool
from pitstop._tools.base import resolve_tools
from pitstop._tools.demo import calculator, evaluate, search, translate, weather


def lookup(city: str, days: int = 3, detailed: bool = False) -> dict:
    """Look up a forecast.

    Args:
        city: the city to look up.
        days: how many days ahead,
            at most 10.
        detailed: include hourly data.

    Returns:
        The forecast.
    """
    return {"city": city, "days": days}


def test_schema_and_description_come_from_signature_and_docstring() -> None:
    """Types, defaults, required names and per-argument docs make the JSON schema."""
    t = Tool(lookup)
    assert t.name == "lookup" and t.description == "Look up a forecast."
    props = t.parameters["properties"]
    assert props["city"] == {"type": "string", "description": "the city to look up."}
    assert props["days"]["type"] == "integer" and props["days"]["default"] == 3
    assert props["days"]["description"] == "how many days ahead, at most 10."
    assert t.parameters["required"] == ["city"]
    assert t.spec.to_openai()["function"]["name"] == "lookup"


def test_validation_coerces_and_reports_every_problem() -> None:
    """Valid arguments are coerced; invalid ones give one sentence naming each problem."""
    t = Tool(lookup)
    assert t.validate({"city": "Oslo", "days": "5"}) == {"city": "Oslo", "days": 5,
                                                          "detailed": False}
    with pytest.raises(ToolArgumentError) as err:
        t.validate({"days": "soon", "colour": "red"})
    msg = str(err.value)
    assert msg.startswith("Invalid arguments for tool 'lookup': ")
    assert "city: required argument missing" in msg
    assert "days: Input should be a valid integer" in msg and "'soon'" in msg
    assert "colour: is not a parameter of this tool" in msg
    with pytest.raises(ToolArgumentError, match="expected an object of named arguments"):
        t.validate(["Oslo"])  # type: ignore[arg-type]


async def test_sync_tools_run_in_a_thread_unless_inline() -> None:
    """A sync tool runs off the event loop's thread; inline=True runs on it."""

    def where() -> str:
        return threading.current_thread().name

    assert (await Tool(where)()).startswith("pitstop-tool")
    assert await Tool(where, inline=True)() == threading.current_thread().name


async def test_async_tools_and_tool_timeout() -> None:
    """Async tools are awaited; a tool's own timeout gives ToolTimeoutError (a TimeoutError)."""

    async def slow() -> str:
        await asyncio.Event().wait()  # never set: only the timeout ends it
        return "late"

    with pytest.raises(TimeoutError, match="did not finish within its timeout of 0.01 s"):
        await Tool(slow, timeout=0.01)()


def test_options_are_validated() -> None:
    """Bad names, timeouts, costs and *args are clear ConfigErrors."""
    with pytest.raises(ConfigError, match="timeout must be > 0"):
        Tool(lookup, timeout=0)
    with pytest.raises(ConfigError, match="cost must be >= 0"):
        Tool(lookup, cost=-1)
    with pytest.raises(ConfigError, match="not valid"):
        Tool(lookup, name="has space")

    def star(*args: int) -> None: ...

    with pytest.raises(ConfigError, match=r"\*args and \*\*kwargs"):
        Tool(star)
    assert Tool(lookup, cacheable=False, cost=0.01).with_options(name="other").cost == 0.01


def test_decorator_registers_and_the_registry_resolves_names() -> None:
    """@tool registers by name; resolve_tools accepts names, Tools and functions."""
    reg = ToolRegistry()

    @tool(register=False, cost=0.5)
    def ping() -> str:
        """Ping."""
        return "pong"

    reg.register(ping)
    resolved = resolve_tools(["ping", lookup], reg)
    assert list(resolved) == ["ping", "lookup"] and resolved["ping"].cost == 0.5
    with pytest.raises(ToolNotFoundError, match="registered tools: 'ping'"):
        reg.get("pong")


def test_demo_tools_are_registered_under_the_guides_names() -> None:
    """search, weather, calculator and translate (also translation/translator) resolve."""
    resolved = resolve_tools(["search", "weather", "calculator", "translate", "translation",
                              "translator"])
    assert resolved["translator"].name == "translator"
    assert all("simulated" in resolved[n].description.lower()
               for n in ("search", "weather", "translate"))
    assert search.cost == 0.005 and weather.cost == 0.001 and translate.cost == 0.002


async def test_calculator_is_real_and_safe() -> None:
    """The calculator computes operations and expressions and refuses anything else."""
    assert await calculator(operation="add", a=1, b=2) == 3
    assert await calculator(operation="divide", a=7, b=2) == 3.5
    assert await calculator(expression="(2 + 3) * sqrt(16) - 2^3") == 12.0
    assert evaluate("max(3, 9) % 4") == 1
    for bad in ("__import__('os').system('true')", "open('x')", "(1).__class__", "2 ** 100000"):
        with pytest.raises(ToolArgumentError):
            evaluate(bad)
    with pytest.raises(ToolArgumentError, match="Division by zero"):
        await calculator(operation="divide", a=1, b=0)
    with pytest.raises(ToolArgumentError, match="Unknown operation 'root'"):
        await calculator(operation="root", a=1, b=2)


async def test_simulated_api_tools_are_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulated APIs give the same answer for the same arguments."""
    monkeypatch.setenv("PITSTOP_DEMO_LATENCY_SCALE", "0")
    assert await search(query="asyncio") == await search(query="asyncio")
    w = await weather(location="Paris")
    assert w["location"] == "Paris" and w["units"] == "C"
    assert (await translate(text="Hello", target="es"))["translation"] == "hola"
