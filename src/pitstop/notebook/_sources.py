"""What the notebook helpers read from, checked at their entry.

`cache_frame`, `hints`, `TTLTuner`... take a `HybridAgent`; `metrics_frame` also a
`Monitor`; `spans_frame`, `timeline` and `batch_timeline` also a `Monitor` or an iterable
of `Span`. A wrong object (the agent's name, a result dict, None) is a `ConfigError`
naming the helper and the value, not an ``AttributeError`` from deep inside pandas or
matplotlib code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pitstop._agent import HybridAgent
from pitstop._metrics.monitor import Monitor, Span
from pitstop.errors import ConfigError

__all__ = ["agent_of", "monitor_of", "spans_of"]


def _shown(value: object) -> str:
    return f"{value!r:.60} ({type(value).__name__})"


def agent_of(helper: str, agent: object) -> HybridAgent:
    """`agent`, when it is a `HybridAgent`."""
    if isinstance(agent, HybridAgent):
        return agent
    raise ConfigError(
        f"{helper}(agent) takes a HybridAgent, got {_shown(agent)}; pass the agent object "
        "itself."
    )


def monitor_of(helper: str, source: object) -> Monitor:
    """The `Monitor` of a `HybridAgent`, or `source` when it is one."""
    if isinstance(source, HybridAgent):
        return source.monitor
    if isinstance(source, Monitor):
        return source
    raise ConfigError(f"{helper}(...) takes a HybridAgent or its Monitor, got {_shown(source)}.")


def spans_of(helper: str, source: object, *, task_id: str | None = None,
             kind: str | None = None) -> list[Span]:
    """The spans of a `HybridAgent` or `Monitor`, or of an iterable of `Span` (read once),
    oldest first as recorded, optionally of one task and/or one kind."""
    if isinstance(source, (HybridAgent, Monitor)):
        return monitor_of(helper, source).spans(task_id=task_id, kind=kind)
    if isinstance(source, (str, bytes)) or not isinstance(source, Iterable):
        raise ConfigError(
            f"{helper}(...) takes a HybridAgent, a Monitor or an iterable of Span, got "
            f"{_shown(source)}."
        )
    spans: list[Any] = list(source)
    for s in spans:
        if not isinstance(s, Span):
            raise ConfigError(
                f"{helper}(...) got an iterable holding {_shown(s)}; it takes Span objects "
                "(from agent.monitor.spans())."
            )
    return [s for s in spans
            if (task_id is None or s.task_id == task_id) and (kind is None or s.kind == kind)]
