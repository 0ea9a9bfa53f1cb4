"""Every stream event of `HybridAgent.execute_task_streaming`, and the result of a task.

Events are plain dicts (cheap to build, easy to print, JSON-ready), typed here as
TypedDicts and joined in one union, `Event`. Each has ``type``, ``timestamp``
(``time.time()``) and ``task_id``. A type checker narrows the union on ``type``::

    match event["type"]:
        case "token":
            print(event["content"], end="")
        case "tool_result":
            print(event["tool_name"], event["duration"])

The order of one run::

    started -> (token | tool_call | tool_result | rate_limit_wait | compression | usage)* -> result
                                                                              or -> error -> result

The agent builds every event through the constructors in ``pitstop._events``, typed
with these classes, so the shapes here are the shapes on the wire.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "CompressionEvent",
    "ErrorEvent",
    "Event",
    "EventType",
    "RateLimitWaitEvent",
    "ResultEvent",
    "StartedEvent",
    "TaskResult",
    "TokenEvent",
    "TokenUsage",
    "ToolCallEvent",
    "ToolCallRecord",
    "ToolOutcome",
    "ToolResultEvent",
    "UsageEvent",
]

EventType = Literal[
    "started", "token", "tool_call", "tool_result", "rate_limit_wait", "compression", "usage",
    "result", "error",
]
"""The ``type`` of every event, in the order they can first appear."""


class _Stamp(TypedDict):
    timestamp: float
    """Wall-clock time the event was made (``time.time()``)."""
    task_id: str
    """The run it belongs to: ``{agent_id}-{n}``."""


class StartedEvent(_Stamp):
    """The run was accepted and begins."""

    type: Literal["started"]
    task: str
    """The task's text."""


class TokenEvent(_Stamp):
    """A piece of the model's text, the moment it arrives."""

    type: Literal["token"]
    content: str
    """The text delta (with ``enable_streaming=False``, the turn's whole text)."""


class ToolCallEvent(_Stamp):
    """A tool call starts (before the cache is asked)."""

    type: Literal["tool_call"]
    call_id: str
    """The call's id, shared with its ``tool_result``."""
    tool_name: str
    """The tool the model asked for."""
    parameters: Any
    """The arguments as the model sent them (usually a dict)."""


class _ToolEnd(TypedDict):
    call_id: str
    """The call's id, shared with its ``tool_call``."""
    tool_name: str
    """The tool that ran (or was asked for, when it does not exist)."""
    success: bool
    """True when the tool returned; False when it failed, timed out or was not found."""
    result: NotRequired[Any]
    """What the tool returned (only when ``success``)."""
    error: NotRequired[str]
    """A sentence saying what went wrong (only when not ``success``)."""
    cached: bool
    """True when the result came from the cache or an identical call in flight."""
    duration: float
    """Seconds from the call's start to its result, on the Monitor's clock."""


class ToolResultEvent(_Stamp, _ToolEnd):
    """A tool call ended; results arrive in completion order."""

    type: Literal["tool_result"]


class ToolCallRecord(_ToolEnd):
    """One tool call of a finished task, in ``TaskResult.tool_calls``."""

    parameters: Any
    """The arguments as the model sent them."""


class ToolOutcome(TypedDict):
    """One item of `HybridAgent.execute_tools_parallel`'s result, in input order."""

    tool_name: str | None
    """The tool asked for (None when the item was not a tool call at all)."""
    success: bool
    """True when the tool returned."""
    result: NotRequired[Any]
    """What the tool returned (only when ``success``)."""
    error: NotRequired[str]
    """A sentence saying what went wrong (only when not ``success``)."""
    cached: bool
    """True when the result came from the cache or an identical call in flight."""
    duration: float
    """Seconds the call took."""


class RateLimitWaitEvent(_Stamp):
    """A limit makes the run wait. Waits come in pairs, so a view can show one while
    it lasts: ``phase="start"`` the moment the wait begins, with the seconds it is
    `expected` to take, then ``phase="end"`` with the seconds actually `waited`::

        {"type": "rate_limit_wait", "limit": "max_tokens_per_minute", "phase": "start",
         "expected": 1.2, ...}
        {"type": "rate_limit_wait", "limit": "max_tokens_per_minute", "phase": "end",
         "waited": 1.19, ...}

    A wait cut short (the run cancelled, the wait timed out) has no ``end``.
    """

    type: Literal["rate_limit_wait"]
    limit: str
    """The limit's field name, e.g. ``max_tokens_per_minute``."""
    phase: Literal["start", "end"]
    """``start`` when the wait begins, ``end`` when it is over."""
    expected: NotRequired[float | None]
    """Only on ``start``: seconds the wait should take as the limit stands now (None when
    it depends on others finishing, e.g. a concurrency slot)."""
    waited: NotRequired[float]
    """Only on ``end``: seconds waited."""


class CompressionEvent(_Stamp):
    """The session's history was compressed before a model turn."""

    type: Literal["compression"]
    strategy: str
    """``truncate``, ``summarize`` or ``hybrid``."""
    before: int
    """Messages before."""
    after: int
    """Messages after."""
    tokens_before: int
    """Estimated prompt tokens before."""
    tokens_after: int
    """Estimated prompt tokens after."""
    duration: float
    """Seconds the compression took (a summary calls the model)."""


class UsageEvent(_Stamp):
    """What one model turn used, as the model reported it, and what it cost."""

    type: Literal["usage"]
    input_tokens: int
    """Prompt tokens of the turn (cached ones included)."""
    output_tokens: int
    """Generated tokens of the turn (reasoning ones included)."""
    cached_input_tokens: int
    """Prompt tokens the provider served from its prompt cache, at a discount."""
    reasoning_tokens: int
    """Output tokens spent on hidden reasoning."""
    cost: float | None
    """Dollars, at the model's price (None when the price is unknown)."""


class TokenUsage(TypedDict):
    """Token totals of one task."""

    input_tokens: int
    """Prompt tokens over every turn."""
    output_tokens: int
    """Generated tokens over every turn."""
    total_tokens: int
    """Their sum."""
    cached_input_tokens: int
    """Prompt tokens served from the provider's prompt cache, over every turn."""
    reasoning_tokens: int
    """Reasoning tokens over every turn."""


class TaskResult(TypedDict):
    """What `HybridAgent.execute_task` returns (and the ``result`` event carries)."""

    task_id: str
    """The run's id."""
    output: str
    """The final answer ("" when the run failed before one)."""
    success: bool
    """True when the run ended with an answer."""
    tool_calls: list[ToolCallRecord]
    """Every tool call of the run, in the order the model asked for them."""
    iterations: int
    """Model turns taken."""
    execution_time: float
    """Seconds from start to end, on the Monitor's clock."""
    usage: TokenUsage
    """Token totals."""
    cost: float | None
    """Dollars the task's model calls cost (None when the model's price is unknown)."""
    error: str | None
    """Why the run failed, or None."""


class ResultEvent(_Stamp, TaskResult):  # both declare task_id: str (the same type)
    """The last event of every run, successful or not."""

    type: Literal["result"]


class ErrorEvent(_Stamp):
    """The run failed; a ``result`` with ``success=False`` follows."""

    type: Literal["error"]
    error: str
    """A sentence saying what went wrong."""
    error_type: str
    """The exception's class name."""


Event = (
    StartedEvent
    | TokenEvent
    | ToolCallEvent
    | ToolResultEvent
    | RateLimitWaitEvent
    | CompressionEvent
    | UsageEvent
    | ResultEvent
    | ErrorEvent
)
"""Any event of the stream; narrow it with ``event["type"]``."""
