"""Test doubles and Hypothesis strategies of the context tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from hypothesis import strategies as st

from pitstop.llm._base import Message, StreamItem, ToolCall, ToolSpec, Usage


class FakeLLM:
    """A scripted `LLMClient`: records each request and streams a reply in three chunks.

    Args:
        reply: the text, or a function of the request's messages; by default a short
            text naming how many transcript paragraphs it saw.
        fail: an exception to raise instead of answering.
        gate: an event the answer waits for (never set: a model that hangs).
    """

    model = "fake-model"

    def __init__(
        self,
        reply: str | Callable[[Sequence[Message]], str] | None = None,
        *,
        fail: Exception | None = None,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.reply = reply
        self.fail = fail
        self.gate = gate
        self.requests: list[tuple[list[Message], tuple[ToolSpec, ...], int | None]] = []
        self.started = asyncio.Event()

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        max_tokens: int | None = None,
    ) -> AsyncIterator[StreamItem]:
        self.requests.append((list(messages), tuple(tools), max_tokens))
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        if callable(self.reply):
            text = self.reply(messages)
        elif self.reply is not None:
            text = self.reply
        else:
            paragraphs = len(messages[-1].content.split("\n\n"))
            text = f"The user and assistant exchanged {paragraphs} messages."
        third = max(1, len(text) // 3)
        for i in range(0, len(text), third):
            yield text[i : i + third]
        yield Usage(input_tokens=42, output_tokens=7)


def chat(n: int, *, start: int = 0) -> list[Message]:
    """`n` alternating user/assistant messages with numbered texts."""
    return [
        Message("user" if i % 2 == 0 else "assistant", f"message {i}")
        for i in range(start, start + n)
    ]


def tool_turn(turn: int, calls: int) -> list[Message]:
    """An assistant message calling `calls` tools, then one result per call."""
    ids = [f"call-{turn}-{k}" for k in range(calls)]
    ask = Message(
        "assistant",
        "",
        tuple(ToolCall("search", {"q": f"t{turn}k{k}"}, i) for k, i in enumerate(ids)),
    )
    answers = [
        Message("tool", f"result {turn}-{k}", tool_call_id=i, name="search")
        for k, i in enumerate(ids)
    ]
    return [ask, *answers]


@st.composite
def conversations(draw: st.DrawFn, max_turns: int = 40) -> list[Message]:
    """Conversations of user and assistant texts, tool-call groups and system messages."""
    messages: list[Message] = []
    if draw(st.booleans()):
        messages.append(Message("system", "You are pinned."))
    for turn in range(draw(st.integers(0, max_turns))):
        kind = draw(st.sampled_from(["user", "assistant", "tools", "tools", "system"]))
        if kind == "tools":
            messages.extend(tool_turn(turn, draw(st.integers(1, 4))))
        elif kind == "system":
            if draw(st.integers(0, 5)) == 0:
                messages.append(Message("system", f"system note {turn}"))
        else:
            messages.append(
                Message(kind, f"{kind} text {turn} " + "word " * draw(st.integers(0, 30)))
            )
    return messages
