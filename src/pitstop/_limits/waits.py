"""`report_waits`: make the Governor's waits visible, as spans and stream events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pitstop import _events
from pitstop._limits.governor import Wait
from pitstop._metrics.monitor import Monitor
from pitstop.events import RateLimitWaitEvent

if TYPE_CHECKING:
    from opentelemetry.context import Context

__all__ = ["report_waits"]


def report_waits(
    monitor: Monitor,
    waits: Sequence[Wait],
    task_id: str | None,
    emit: Callable[[RateLimitWaitEvent], None] | None,
    otel_parent: Context | None = None,
) -> None:
    """Record each limiter wait as a span and, when streaming, the ``rate_limit_wait``
    event that ends it (its ``start`` went out through ``on_wait`` when it began).

    With OpenTelemetry on, each wait is also a span under `otel_parent` (None: the current
    span, which inside a tool call is its ``execute_tool``).
    """
    end = monitor.clock()
    otel = monitor.otel
    if otel is not None:
        otel.waits(waits, otel_parent)
    for w in waits:
        if w.waited <= 0:
            continue
        monitor.record("wait", w.limit, end - w.waited, end, task_id=task_id,
                       attrs={"requested": w.requested})
        if emit is not None:
            emit(_events.rate_limit_wait(task_id or "", w.limit, w.waited))
