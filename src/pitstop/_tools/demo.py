"""Demo tools for tutorials: a real safe calculator and three simulated APIs.

``search``, ``weather`` and ``translate`` (also registered as ``translation`` and
``translator``, the names the guide uses) call no network. They return deterministic
results after a deterministic simulated latency, and declare a per-call cost, so caching
and parallelism have something real to save. Set the environment variable
``PITSTOP_DEMO_LATENCY_SCALE`` (default 1.0) to speed them up or slow them down.
"""

from __future__ import annotations

import ast
import asyncio
import math
import operator
import os
import zlib
from typing import Any

from pitstop._tools.base import Tool, default_registry, tool
from pitstop.errors import ToolArgumentError

__all__ = ["calculator", "evaluate", "search", "translate", "weather"]


def _scale() -> float:
    try:
        return max(0.0, float(os.environ.get("PITSTOP_DEMO_LATENCY_SCALE", "1")))
    except ValueError:
        return 1.0


def _h(*parts: str) -> int:
    return zlib.crc32("|".join(parts).encode())


async def _simulated_latency(low: float, high: float, *key: str) -> float:
    seconds = (low + (high - low) * (_h(*key) % 1000) / 1000) * _scale()
    if seconds:
        await asyncio.sleep(seconds)
    return seconds


# -- calculator: a real one, no eval -----------------------------------------------

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Any] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCS: dict[str, Any] = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "log": math.log, "exp": math.exp,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "min": min, "max": max,
}
_CONSTS = {"pi": math.pi, "e": math.e}


def evaluate(expression: str) -> float | int:
    """Evaluate arithmetic safely by walking its syntax tree (no ``eval``).

    Supports numbers, ``+ - * / // % **``, parentheses, ``pi``, ``e`` and the functions
    sqrt, abs, round, log, exp, sin, cos, tan, min, max.
    """
    if len(expression) > 500:
        raise ToolArgumentError("Expression too long (over 500 characters).")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except SyntaxError:
        raise ToolArgumentError(f"Not an arithmetic expression: {expression!r}.") from None

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 1000:
                raise ToolArgumentError(f"Exponent {right} is too large (at most 1000).")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Name) and node.id in _CONSTS:
            return _CONSTS[node.id]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in _FUNCS and not node.keywords):
            return _FUNCS[node.func.id](*(walk(a) for a in node.args))
        raise ToolArgumentError(
            f"Unsupported element {ast.dump(node)[:60]!r} in {expression!r}; use numbers, "
            "+ - * / // % **, parentheses and sqrt/abs/round/log/exp/sin/cos/tan/min/max."
        )

    try:
        return walk(tree)  # type: ignore[no-any-return]
    except ZeroDivisionError:
        raise ToolArgumentError(f"Division by zero in {expression!r}.") from None
    except (OverflowError, ValueError) as err:
        raise ToolArgumentError(f"Cannot evaluate {expression!r}: {err}.") from None


_OPS = {"add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
        "divide": operator.truediv, "power": operator.pow, "mod": operator.mod}


@tool(inline=True, cost=0.0)
def calculator(
    operation: str | None = None,
    a: float | None = None,
    b: float | None = None,
    expression: str | None = None,
) -> float | int:
    """A real calculator (no eval): either `operation` with `a` and `b`, or an `expression`.

    Args:
        operation: add, subtract, multiply, divide, power or mod.
        a: the first operand.
        b: the second operand.
        expression: arithmetic such as "(2 + 3) * sqrt(16)", instead of operation/a/b.
    """
    if expression is not None:
        return evaluate(expression)
    if operation is None or a is None or b is None:
        raise ToolArgumentError(
            "calculator needs either `expression`, or `operation` with `a` and `b`."
        )
    fn = _OPS.get(operation.lower())
    if fn is None:
        raise ToolArgumentError(
            f"Unknown operation {operation!r}; use one of {', '.join(_OPS)}."
        )
    if operation.lower() == "divide" and b == 0:
        raise ToolArgumentError("Division by zero (b=0).")
    result = fn(a, b)
    return int(result) if float(result).is_integer() and abs(result) < 2**53 else result


# -- simulated APIs ----------------------------------------------------------------

_TOPICS = ["overview", "tutorial", "news", "benchmarks", "best practices", "pitfalls"]


@tool(cost=0.005)
async def search(query: str, max_results: int = 3) -> list[dict[str, str]]:
    """Simulated web search (no network): deterministic results after a simulated API
    latency of 0.3-0.6 s; declared cost $0.005 per call.

    Args:
        query: what to search for.
        max_results: how many results to return (1-10).
    """
    if not 1 <= max_results <= 10:
        raise ToolArgumentError(f"max_results must be between 1 and 10, got {max_results}.")
    await _simulated_latency(0.3, 0.6, "search", query)
    slug = "-".join(query.lower().split())[:40] or "empty"
    return [
        {
            "title": f"{query}: {_TOPICS[(_h(query, str(i)) + i) % len(_TOPICS)]}",
            "url": f"https://example.org/{slug}/{i + 1}",
            "snippet": f"Result {i + 1} about {query} (simulated).",
        }
        for i in range(max_results)
    ]


_CONDITIONS = ["sunny", "cloudy", "light rain", "windy", "clear", "overcast"]


@tool(cost=0.001)
async def weather(location: str, units: str = "metric") -> dict[str, Any]:
    """Simulated weather API (no network): deterministic conditions after a simulated
    latency of 0.2-0.4 s; declared cost $0.001 per call.

    Args:
        location: a city or place name, e.g. "Paris" or "NYC".
        units: "metric" (Celsius) or "imperial" (Fahrenheit).
    """
    if units not in ("metric", "imperial"):
        raise ToolArgumentError(f"units must be 'metric' or 'imperial', got {units!r}.")
    await _simulated_latency(0.2, 0.4, "weather", location)
    celsius = (_h(location.lower()) % 35) - 5
    temp = celsius if units == "metric" else round(celsius * 9 / 5 + 32)
    return {
        "location": location,
        "temperature": temp,
        "units": "C" if units == "metric" else "F",
        "conditions": _CONDITIONS[_h("c", location.lower()) % len(_CONDITIONS)],
    }


_PHRASES = {
    "es": {"hello": "hola", "thank you": "gracias", "good morning": "buenos días",
           "goodbye": "adiós", "cat": "gato", "dog": "perro", "world": "mundo"},
    "fr": {"hello": "bonjour", "thank you": "merci", "good morning": "bonjour",
           "goodbye": "au revoir", "cat": "chat", "dog": "chien", "world": "monde"},
    "de": {"hello": "hallo", "thank you": "danke", "good morning": "guten Morgen",
           "goodbye": "auf Wiedersehen", "cat": "Katze", "dog": "Hund", "world": "Welt"},
}


@tool(cost=0.002)
async def translate(text: str, target: str = "es") -> dict[str, str]:
    """Simulated translation API (no network): a small phrase book, a tagged echo
    otherwise, after a simulated latency of 0.2-0.3 s; declared cost $0.002 per call.

    Args:
        text: the text to translate.
        target: the target language code, e.g. "es", "fr" or "de".
    """
    await _simulated_latency(0.2, 0.3, "translate", text, target)
    book = _PHRASES.get(target.lower(), {})
    translated = book.get(text.strip().lower().rstrip("!.?"))
    if translated is None:
        words = [book.get(w.lower(), w) for w in text.split()]
        translated = f"[{target}] " + " ".join(words)
    return {"text": text, "target": target, "translation": translated}


translation: Tool = default_registry.register(translate.with_options(name="translation"))
translator: Tool = default_registry.register(translate.with_options(name="translator"))
