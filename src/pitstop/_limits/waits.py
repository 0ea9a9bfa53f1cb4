"""`report_waits`: make the Governor's waits visible, as spans and stream events."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pitstop import _events
from pitstop._limits.governor import Wait
from pitstop._metrics.monitor import Monitor
from pitstop.events import RateLimitWaitEvent

__all__ = ["report_waits"]


def report_waits(
    monitor: Monitor, waits: Sequence[Wait], task_id: str | None,
    emit: Callable[[RateLimitWaitEvent], None] | None,
) -> None:
    """Record each limiter wait as a span and, when streaming, a ``rate_limit_wait`` event."""
    end = monitor.clock()
    for w in waits:
        if w.waited <= 0:
            continue
        monitor.record("wait", w.limit, end - w.waited, end, task_id=task_id,
                       attrs={"requested": w.requested})
        if emit is not None:
            emit(_events.rate_limit_wait(task_id or "", w.limit, w.waited))
