"""Every stream event of `HybridAgent.execute_task_streaming`, in one place.

Events are plain dicts (cheap to build, easy to print, JSON-ready), typed here as
TypedDicts. Each has ``type``, ``timestamp`` (``time.time()``) and ``task_id``.
Match on ``event["type"]``::

    started -> (token | tool_call | tool_result | rate_limit_wait | compression | usage)* -> result
                                                                              or -> error
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "CompressionEvent",
    "ErrorEvent",
    "Event",
    "RateLimitWaitEvent",
    "ResultEvent",
    "StartedEvent",
    "TokenEvent",
    "ToolCallEvent",
    "ToolResultEvent",
    "UsageEvent",
]


class _Base(TypedDict):
    timestamp: float
    task_id: str


class StartedEvent(_Base):
    type: Literal["started"]
    task: str


class TokenEvent(_Base):
    type: Literal["token"]
    content: str


class ToolCallEvent(_Base):
    type: Literal["tool_call"]
    call_id: str
    tool_name: str
    parameters: dict[str, Any]


class ToolResultEvent(_Base, total=False):
    type: Literal["tool_result"]
    call_id: str
    tool_name: str
    success: bool
    result: Any
    error: str
    cached: bool
    duration: float


class RateLimitWaitEvent(_Base):
    type: Literal["rate_limit_wait"]
    limit: str
    waited: float


class CompressionEvent(_Base, total=False):
    type: Literal["compression"]
    strategy: str
    before: int
    after: int
    tokens_before: int
    tokens_after: int
    duration: float


class UsageEvent(_Base):
    type: Literal["usage"]
    input_tokens: int
    output_tokens: int


class ResultEvent(_Base):
    type: Literal["result"]
    output: str
    success: bool
    tool_calls: list[dict[str, Any]]
    iterations: int
    execution_time: float
    usage: dict[str, int]
    error: str | None


class ErrorEvent(_Base):
    type: Literal["error"]
    error: str
    error_type: str


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
