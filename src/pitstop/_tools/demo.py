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

from pitstop._tools.base import Tool, tool
from pitstop.errors import ToolArgumentError

__all__ = ["DEMO_TOOLS", "calculator", "evaluate", "search", "translate", "weather"]


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

MAX_DIGITS = 1000
"""The largest integer the calculator computes with, in decimal digits. With it every
operation takes microseconds, whatever a model writes."""
_MAX_BITS = int(MAX_DIGITS * math.log2(10)) + 1

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
            ast.Mod: "%", ast.Pow: "**"}
_UNARY: dict[type[ast.unaryop], Any] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCS: dict[str, Any] = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "log": math.log, "exp": math.exp,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "min": min, "max": max,
}
_CONSTS = {"pi": math.pi, "e": math.e}


def _too_big(what: str) -> ToolArgumentError:
    return ToolArgumentError(
        f"{what} would have more than {MAX_DIGITS} digits, more than this calculator "
        "computes; use smaller numbers."
    )


def _bits(value: Any) -> int:
    return value.bit_length() if isinstance(value, int) else 0


def _binary(op: type[ast.operator], left: Any, right: Any) -> Any:
    """One binary operation, refused before it starts when its result would be too big."""
    if op is ast.Pow:
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            if (abs(left).bit_length() - 1) * right > _MAX_BITS:
                raise _too_big(f"{_shown(left)} ** {_shown(right)}")
    elif op is ast.Mult and _bits(left) + _bits(right) > _MAX_BITS + 1:
        raise _too_big(f"{_shown(left)} * {_shown(right)}")
    result = _BINARY[op](left, right)
    if isinstance(result, complex):
        raise ToolArgumentError(
            f"{_shown(left)} {_SYMBOLS[op]} {_shown(right)} has no real result (a negative "
            "number to a fractional power)."
        )
    return result


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:10]}...{text[-6:]} ({len(text)} digits)"


def _call(name: str, args: list[Any]) -> Any:
    if name == "round" and len(args) == 2:
        digits = args[1]
        if not isinstance(digits, int) or abs(digits) > MAX_DIGITS:
            raise ToolArgumentError(
                f"round(x, n) needs n (the digits to keep) to be a whole number between "
                f"-{MAX_DIGITS} and {MAX_DIGITS}, "
                f"got {_shown(digits)}."
            )
    return _FUNCS[name](*args)


def evaluate(expression: str) -> float | int:
    """Evaluate arithmetic safely by walking its syntax tree (no ``eval``).

    Supports numbers, ``+ - * / // % **``, parentheses, ``pi``, ``e`` and the functions
    sqrt, abs, round, log, exp, sin, cos, tan, min, max. Every operation is bounded:
    integers of at most `MAX_DIGITS` digits (checked before a power or a product is
    computed), ``round`` digits within the same bound, so an evaluation takes
    microseconds whatever the input. Anything else is a `ToolArgumentError` sentence.
    """
    if not isinstance(expression, str):
        raise ToolArgumentError(f"expression must be text, got {type(expression).__name__}.")
    if len(expression) > 500:
        raise ToolArgumentError("Expression too long (over 500 characters).")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ToolArgumentError(f"Not an arithmetic expression: {expression!r}.") from None

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            value = node.value
            if isinstance(value, int) and value.bit_length() > _MAX_BITS:
                raise _too_big(f"The number {_shown(value)}")
            return value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            result = _binary(type(node.op), walk(node.left), walk(node.right))
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            result = _UNARY[type(node.op)](walk(node.operand))
        elif isinstance(node, ast.Name) and node.id in _CONSTS:
            return _CONSTS[node.id]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in _FUNCS and not node.keywords):
            result = _call(node.func.id, [walk(a) for a in node.args])
        else:
            raise ToolArgumentError(
                f"Unsupported element {ast.dump(node)[:60]!r} in {expression!r}; use numbers, "
                "+ - * / // % **, parentheses and sqrt/abs/round/log/exp/sin/cos/tan/min/max."
            )
        if isinstance(result, int) and result.bit_length() > _MAX_BITS:
            raise _too_big("The result")
        if isinstance(result, float) and not math.isfinite(result):
            raise ToolArgumentError(
                f"{expression!r} overflows (a result beyond 1.8e308 or not a number)."
            )
        return result

    try:
        return walk(tree)  # type: ignore[no-any-return]
    except ToolArgumentError:
        raise
    except ZeroDivisionError:
        raise ToolArgumentError(f"Division by zero in {expression!r}.") from None
    except OverflowError:
        raise ToolArgumentError(
            f"{expression!r} overflows: a result beyond 1.8e308 cannot be computed."
        ) from None
    except ValueError:
        raise ToolArgumentError(
            f"{expression!r} is outside a function's domain (such as sqrt or log of a "
            "negative number)."
        ) from None
    except TypeError:
        raise ToolArgumentError(
            f"A function in {expression!r} got the wrong number or kind of arguments "
            "(sqrt(x), round(x) or round(x, n), min(a, b, ...))."
        ) from None
    except RecursionError:
        raise ToolArgumentError(f"{expression!r} is nested too deeply.") from None


_OPS = {"add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
        "divide": operator.truediv, "power": operator.pow, "mod": operator.mod}


def _operate(operation: str, a: float, b: float) -> float | int:
    """One operation on two numbers, with a sentence for each way it can fail."""
    fn = _OPS.get(operation.lower())
    if fn is None:
        raise ToolArgumentError(
            f"Unknown operation {operation!r}; use one of {', '.join(_OPS)}."
        )
    a, b = float(a), float(b)
    call = f"{operation.lower()}({a:g}, {b:g})"
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ToolArgumentError(f"{call}: the operands must be finite numbers.")
    if operation.lower() in ("divide", "mod") and b == 0:
        raise ToolArgumentError(f"Division by zero in {call} (b=0).")
    try:
        result = fn(a, b)
    except OverflowError:
        result = math.inf
    except ZeroDivisionError:  # 0 ** negative
        raise ToolArgumentError(f"{call}: zero to a negative power is undefined.") from None
    if isinstance(result, complex):
        raise ToolArgumentError(
            f"{call} has no real result (a negative number to a fractional power)."
        )
    if not math.isfinite(result):
        raise ToolArgumentError(f"{call} is too large for a number (beyond 1.8e308).")
    return int(result) if float(result).is_integer() and abs(result) < 2**53 else result


@tool(cost=0.0, register=False)
async def calculator(
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
        # Bounded, but an expression is still many operations: it runs off the event
        # loop, so nothing else waits for it and a timeout can always fire.
        return await asyncio.to_thread(evaluate, expression)
    if operation is None or a is None or b is None:
        raise ToolArgumentError(
            "calculator needs either `expression`, or `operation` with `a` and `b`."
        )
    return _operate(operation, a, b)


# -- simulated APIs ----------------------------------------------------------------

_TOPICS = ["overview", "tutorial", "news", "benchmarks", "best practices", "pitfalls"]


@tool(cost=0.005, register=False)
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


@tool(cost=0.001, register=False)
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


@tool(cost=0.002, register=False)
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


translation: Tool = translate.with_options(name="translation")
translator: Tool = translate.with_options(name="translator")

DEMO_TOOLS: tuple[Tool, ...] = (calculator, search, weather, translate, translation, translator)
"""Registered in the default registry on its first lookup, under names not taken yet."""
