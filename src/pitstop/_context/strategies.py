"""The pure part of compression: where a conversation may be cut, and what goes.

Nothing here awaits or keeps state, so every rule can be checked with Hypothesis:

- `cut_points` lists the indices where a conversation may be split without separating
  an assistant message that calls tools from the ``tool`` messages answering it.
- `plan` picks the cut: the messages after it are kept word for word, the system
  messages before it are kept, and the rest before it are folded (summarised or dropped).
- `apply` builds the compressed conversation from a plan and an optional summary.

How the summary is asked for and marked is the summary protocol, `pitstop.llm._summary`,
shared with `SimulatedLLM`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pitstop.llm._base import Message
from pitstop.llm._summary import is_summary
from pitstop.llm._tokens import count_tokens

__all__ = ["Plan", "apply", "clip_to_tokens", "cut_points", "plan"]

def cut_points(messages: Sequence[Message]) -> list[int]:
    """The indices ``c`` where ``messages[:c]`` / ``messages[c:]`` splits no tool-call group.

    A group is an assistant message with tool calls together with every ``tool`` message
    answering one of its calls (matched by ``tool_call_id``, or, without a matching id, by
    following it directly). Groups whose spans overlap form one unit. ``0`` and
    ``len(messages)`` are always cut points.
    """
    n = len(messages)
    last_member = list(range(n))  # for a caller: the index of its last answer
    owner: dict[str, int] = {}
    caller: int | None = None  # the caller whose answers directly follow, if any
    for i, m in enumerate(messages):
        role = m.role
        if role == "tool":
            o = owner.get(m.tool_call_id, caller) if m.tool_call_id else caller
            if o is not None and i > last_member[o]:
                last_member[o] = i
        elif role == "assistant" and m.tool_calls:
            for call in m.tool_calls:
                if call.id:
                    owner[call.id] = i
            caller = i
        else:
            caller = None
    cuts = [0]
    reach = -1
    for i, last in enumerate(last_member):
        if last > reach:
            reach = last
        if reach == i:
            cuts.append(i + 1)
    return cuts


@dataclass(frozen=True, slots=True)
class Plan:
    """What one compression keeps and folds; indices into the original conversation."""

    cut: int
    """``messages[cut:]`` are kept word for word, in order."""
    keep_head: tuple[int, ...]
    """Indices before `cut` kept as they are (the system messages)."""
    fold: tuple[int, ...]
    """Indices before `cut` that are summarised (or, when truncating, dropped)."""

    @property
    def noop(self) -> bool:
        return not self.fold


def plan(
    messages: Sequence[Message],
    *,
    summarizing: bool,
    keep_recent: int,
    max_messages: int | None = None,
    max_tail_tokens: int | None = None,
    count: Callable[[Message], int] | None = None,
    max_summaries: int = 1,
) -> Plan:
    """Choose the cut of one compression.

    The kept tail holds at least `keep_recent` messages (more when a tool-call group
    straddles that line). With `max_messages` or `max_tail_tokens` it grows, one group at
    a time, while the whole result (kept system messages, the summary and the tail)
    stays within `max_messages` and the tail within `max_tail_tokens` tokens.

    Args:
        messages: the conversation, oldest first.
        summarizing: True when the folded messages become one summary (which then takes
            one message of `max_messages`, and earlier summaries are folded into it);
            False when they are dropped (earlier summaries are then kept, like any
            other system message).
        keep_recent: messages the tail keeps at least.
        max_messages: the most messages the result may hold; None to keep only the floor.
        max_tail_tokens: the most tokens the tail may grow to beyond the floor.
        count: tokens of one message; needed with `max_tail_tokens`.
        max_summaries: when summarizing, earlier summaries are kept word for word (and
            the new one goes after them) while there are fewer than this many; else
            they are all folded into the new one. Keeping them keeps the start of the
            prompt byte-identical, so a provider's prompt cache stays warm.
    """
    n = len(messages)
    cuts = cut_points(messages)

    fold_summaries = summarizing and sum(map(is_summary, messages)) >= max_summaries
    pinned = [  # the system messages a cut keeps in front of the summary, in order
        i
        for i, m in enumerate(messages)
        if m.role == "system" and not (fold_summaries and is_summary(m))
    ]
    floor = cuts[bisect.bisect_right(cuts, max(0, n - keep_recent)) - 1]
    cut = floor
    if max_messages is not None or max_tail_tokens is not None:
        tail_tokens = 0
        if max_tail_tokens is not None:
            if count is None:
                raise ValueError("plan: max_tail_tokens needs count=")
            tail_tokens = sum(count(m) for m in messages[floor:])
        for c in reversed(cuts[: bisect.bisect_left(cuts, floor)]):
            if max_messages is not None:
                kept = bisect.bisect_left(pinned, c)  # system messages before the cut
                total = kept + (1 if summarizing and c > kept else 0) + (n - c)
                if total > max_messages:
                    break
            if max_tail_tokens is not None:
                assert count is not None
                grown = tail_tokens + sum(count(m) for m in messages[c:cut])
                if grown > max_tail_tokens:
                    break
                tail_tokens = grown
            cut = c
    keep_head = tuple(pinned[: bisect.bisect_left(pinned, cut)])
    kept_set = set(keep_head)
    fold = tuple(i for i in range(cut) if i not in kept_set)
    if len(fold) == 1 and is_summary(messages[fold[0]]):
        return Plan(0, (), ())  # re-summarising a lone summary would only lose detail
    return Plan(cut, keep_head, fold)


def apply(messages: Sequence[Message], p: Plan, summary: Message | None) -> list[Message]:
    """The compressed conversation: kept system messages, the summary, then the tail."""
    head = [messages[i] for i in p.keep_head]
    if summary is not None:
        head.append(summary)
    return [*head, *messages[p.cut :]]


def clip_to_tokens(text: str, max_tokens: int, model: str | None = None) -> str:
    """`text` cut down (at a word boundary where possible) to at most `max_tokens` tokens."""
    if count_tokens(text, model) <= max_tokens:
        return text
    lo, hi = 0, len(text)  # the longest prefix that fits: binary search on its length
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid], model) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    clipped = text[:lo]
    space = clipped.rfind(" ")
    if space > lo // 2:
        clipped = clipped[:space]
    return clipped.rstrip()
