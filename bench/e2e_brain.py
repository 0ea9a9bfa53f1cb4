"""The scripted model behind bench_e2e.py's emulator: every contender gets the same answers.

Task ``i`` ("Task i: ...") runs two or three model turns (three when i is even) and
makes two to four tool calls in all (``2 + i % 3``): all in the first turn of a
two-turn task, split over the first two turns of a three-turn one. The last turn
answers with a fixed ~50-token text that starts ``Answer for task i``, which the
benchmark checks. Served by ``python -m pitstop emulate --brain e2e_brain:answer``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pitstop import LLMResponse, Message, ToolCall, ToolSpec

TOOLS = ("lookup", "weather", "convert")
CITIES = ("Paris", "Tokyo", "Lima", "Oslo")
ANSWER = (
    "the lookup found three relevant sources, the weather is mild with light wind, and "
    "the converted amount is within the budget; the plan can go ahead as proposed, with "
    "a review of the figures next week."
)


def plan(i: int) -> list[list[tuple[str, dict[str, object]]]]:
    """The tool calls of each tool turn of task `i` (then one answer turn)."""
    total = 2 + i % 3
    calls: list[tuple[str, dict[str, object]]] = []
    for k in range(total):
        name = TOOLS[(i + k) % len(TOOLS)]
        args: dict[str, object] = (
            {"query": f"topic {i} part {k}"} if name == "lookup"
            else {"city": CITIES[(i + k) % len(CITIES)]} if name == "weather"
            else {"amount": 10 + k, "currency": "EUR"}
        )
        calls.append((name, args))
    if i % 2 == 0:  # three turns: split the calls over two tool turns
        half = (total + 1) // 2
        return [calls[:half], calls[half:]]
    return [calls]


def task_number(messages: Sequence[Message]) -> int:
    for m in messages:
        if m.role == "user":
            found = re.search(r"Task (\d+)", m.content)
            if found:
                return int(found.group(1))
    return 0


def answer(messages: list[Message], tools: list[ToolSpec]) -> LLMResponse:
    """The next turn of the task in `messages`."""
    i = task_number(messages)
    turns = plan(i)
    done = sum(1 for m in messages if m.role == "assistant" and m.tool_calls)
    if done < len(turns):
        return LLMResponse(tool_calls=[ToolCall(n, a) for n, a in turns[done]])
    return LLMResponse(text=f"Answer for task {i}: {ANSWER}")
