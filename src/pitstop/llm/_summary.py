"""The summary protocol: how a compression asks a model for a summary, in one place.

`ContextEngine` writes a summary request (`summary_request`: the instruction, then the
folded messages rendered as a transcript) and puts the answer back into the
conversation as a summary message (`summary_message`). `SimulatedLLM` recognises the
request (`is_summary_request`) and reads the transcript back (`read_transcript`), so
the wording of either side can change here without the other one silently breaking.

A transcript is one paragraph per message::

    user: What is the weather in Paris?
    assistant called weather({"location": "Paris"})
    tool weather result: {"temp_c": 18}
    assistant: It is 18 °C in Paris.
    (earlier summary) the text of a summary folded into this one
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from pitstop.llm._base import Message, ToolSpec

__all__ = [
    "SUMMARY_INSTRUCTION",
    "Line",
    "is_summary",
    "is_summary_request",
    "read_transcript",
    "render_transcript",
    "summary_count",
    "summary_message",
    "summary_request",
]

SUMMARY_INSTRUCTION = (
    "Summarize the conversation below in at most {max_tokens} tokens, for the assistant "
    "that continues it. Keep the facts, names, numbers, decisions, tool results and open "
    "questions it will need; write plain prose and add nothing that is not in the conversation."
)
"""The system message of a summary request (``{max_tokens}`` is filled in)."""

_INSTRUCTION_START = SUMMARY_INSTRUCTION.split("{", 1)[0]

_HEADER = "[Summary of the {count} earlier messages of this conversation]"
_HEADER_RE = re.compile(r"^\[Summary of the (\d+) earlier messages of this conversation\]")

# the transcript's line prefixes, written by `render_transcript`, read by `read_transcript`
_EARLIER = "(earlier summary) "
_CALLED = " called "
_TOOL_RESULT = re.compile(r"^tool (?P<name>\S*) ?result: ")


def summary_request(transcript_of: Sequence[Message], max_tokens: int) -> list[Message]:
    """The messages that ask a model to summarise `transcript_of` in `max_tokens` tokens."""
    return [
        Message("system", SUMMARY_INSTRUCTION.format(max_tokens=max_tokens)),
        Message("user", render_transcript(transcript_of)),
    ]


def is_summary_request(messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> bool:
    """Whether `messages` are a request made by `summary_request` (which offers no tools)."""
    return (
        not tools
        and bool(messages)
        and messages[0].role == "system"
        and messages[0].content.startswith(_INSTRUCTION_START)
    )


def is_summary(message: Message) -> bool:
    """Whether `message` is a summary that a compression wrote."""
    return message.role == "system" and _HEADER_RE.match(message.content) is not None


def summary_count(message: Message) -> int:
    """How many original messages `message` stands for (1 for an ordinary message)."""
    match = _HEADER_RE.match(message.content) if message.role == "system" else None
    return int(match.group(1)) if match else 1


def summary_message(text: str, count: int) -> Message:
    """The system message that replaces `count` original messages by `text`."""
    return Message("system", _HEADER.format(count=count) + "\n" + text.strip())


def _render(m: Message) -> str:
    if is_summary(m):
        return _EARLIER + m.content.split("\n", 1)[-1]
    if m.role == "tool":
        return f"tool {m.name or ''} result: {m.content}".replace("  ", " ")
    lines = [f"{m.role}: {m.content}"] if m.content or not m.tool_calls else []
    for call in m.tool_calls:
        args = json.dumps(dict(call.arguments), ensure_ascii=False, default=str)
        lines.append(f"{m.role}{_CALLED}{call.name}({args})")
    return "\n".join(lines)


def render_transcript(messages: Sequence[Message]) -> str:
    """The messages to summarise, as plain text, one message per paragraph."""
    return "\n\n".join(_render(m) for m in messages)


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a transcript, as `read_transcript` understands it."""

    kind: Literal["said", "called", "result", "summary"]
    """``said``: a message's text; ``called``: a tool call; ``result``: a tool's answer;
    ``summary``: an earlier summary folded into this transcript."""
    role: str
    """Who: ``user``, ``assistant``, ``system`` or ``tool`` (``summary`` for a summary)."""
    text: str
    """The text said, the tool's result, or the summary; for ``called``, the arguments."""
    tool: str = ""
    """The tool's name (``called`` and ``result``)."""


_ROLES = ("user", "assistant", "system", "tool")


def read_transcript(transcript: str) -> Iterator[Line]:
    """The lines of a transcript written by `render_transcript`, in order.

    Continuation lines of a multi-line message are skipped: each `Line` holds the first
    line of what was said.
    """
    for raw in transcript.splitlines():
        line = raw.strip()
        if line.startswith(_EARLIER):
            yield Line("summary", "summary", line[len(_EARLIER) :])
            continue
        result = _TOOL_RESULT.match(line)
        if result:
            yield Line("result", "tool", line[result.end() :], result.group("name"))
            continue
        for role in _ROLES:
            if line.startswith(role + _CALLED):
                name, _, args = line[len(role + _CALLED) :].partition("(")
                yield Line("called", role, args.removesuffix(")"), name)
                break
            if line.startswith(role + ":"):
                yield Line("said", role, line[len(role) + 1 :].strip())
                break
