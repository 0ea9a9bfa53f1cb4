"""Constructors of the stream events: the one place each event's shape is built.

Plain functions returning dict literals typed by `pitstop.events`: as cheap as writing
the literal in place, and the type checker holds every builder to the documented shape.
"""

from __future__ import annotations

import time
import traceback as _tb
from typing import Any

from pitstop.events import (
    CompressionEvent,
    ErrorEvent,
    RateLimitWaitEvent,
    ResultEvent,
    StartedEvent,
    TaskResult,
    TokenEvent,
    ToolCallEvent,
    UsageEvent,
)


def started(task_id: str, task: str) -> StartedEvent:
    return {"type": "started", "timestamp": time.time(), "task_id": task_id, "task": task}


def token(task_id: str, content: str) -> TokenEvent:
    return {"type": "token", "timestamp": time.time(), "task_id": task_id, "content": content}


def tool_call(task_id: str, call_id: str, tool_name: str, parameters: Any) -> ToolCallEvent:
    return {"type": "tool_call", "timestamp": time.time(), "task_id": task_id,
            "call_id": call_id, "tool_name": tool_name, "parameters": parameters}


def rate_limit_wait(task_id: str, limit: str, waited: float) -> RateLimitWaitEvent:
    """The ``end`` of a wait."""
    return {"type": "rate_limit_wait", "timestamp": time.time(), "task_id": task_id,
            "limit": limit, "phase": "end", "waited": waited}


def rate_limit_wait_start(task_id: str, limit: str, expected: float | None) -> RateLimitWaitEvent:
    """The ``start`` of a wait (`expected` None when it cannot be told)."""
    return {"type": "rate_limit_wait", "timestamp": time.time(), "task_id": task_id,
            "limit": limit, "phase": "start", "expected": expected}


def usage(
    task_id: str, input_tokens: int, output_tokens: int, cached_input_tokens: int,
    reasoning_tokens: int, cost: float | None,
) -> UsageEvent:
    return {"type": "usage", "timestamp": time.time(), "task_id": task_id,
            "input_tokens": input_tokens, "output_tokens": output_tokens,
            "cached_input_tokens": cached_input_tokens, "reasoning_tokens": reasoning_tokens,
            "cost": cost}


def error(task_id: str, exc: BaseException) -> ErrorEvent:
    return {"type": "error", "timestamp": time.time(), "task_id": task_id,
            "error": str(exc) or type(exc).__name__, "error_type": type(exc).__name__}


def compression(
    task_id: str, strategy: str, before: int, after: int, tokens_before: int,
    tokens_after: int, duration: float,
) -> CompressionEvent:
    return {"type": "compression", "timestamp": time.time(), "task_id": task_id,
            "strategy": strategy, "before": before, "after": after,
            "tokens_before": tokens_before, "tokens_after": tokens_after, "duration": duration}


def result(task_id: str, outcome: TaskResult) -> ResultEvent:
    return {"type": "result", "timestamp": time.time(), **outcome}


TRACEBACK_LINES = 60
"""The most lines of a traceback kept on a span (the end of it, where the error is)."""


def user_traceback(exc: BaseException) -> str | None:
    """The traceback of an error raised by user code (a tool, a model function), else None.

    pitstop's own errors already say what happened and what to do; an error from user
    code, or one of ours caused by it, keeps its traceback for the notebook to show.
    """
    from pitstop.errors import PitstopError

    if isinstance(exc, PitstopError) and exc.__cause__ is None:
        return None
    lines = "".join(_tb.format_exception(exc)).splitlines()
    if len(lines) > TRACEBACK_LINES:
        lines = ["...", *lines[-TRACEBACK_LINES:]]
    return "\n".join(lines)
