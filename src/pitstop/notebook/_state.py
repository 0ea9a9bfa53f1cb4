"""`RunState`: what one streamed run has shown so far, built from its events.

Both stream views (the widget and the plain-text one) fold events into a
`RunState` and render from it, so they cannot disagree about what happened.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pitstop.events import Event

__all__ = ["Chip", "RunState", "chips_html", "format_money", "format_rate", "format_seconds",
           "limit_label", "summary_line"]

_LIMITS = {
    "max_tokens_per_minute": "tokens/minute",
    "max_tool_calls_per_minute": "tool calls/minute",
    "max_concurrent_tasks": "a task slot (max_concurrent_tasks)",
    "max_concurrent_tool_calls": "a tool-call slot (max_concurrent_tool_calls)",
    "max_cost_per_hour": "the hourly budget",
}


def limit_label(limit: str) -> str:
    """``tokens/minute`` for ``max_tokens_per_minute``: the limit as a reader says it."""
    return _LIMITS.get(limit, limit)

ChipStatus = Literal["running", "done", "cached", "failed", "cancelled"]

MAX_CHIPS = 40
"""Chips shown at most; earlier ones are counted in a ``+N earlier`` marker."""


@dataclass(slots=True)
class Chip:
    """One tool call as the views show it."""

    call_id: str
    tool: str
    parameters: Any
    status: ChipStatus = "running"
    duration: float | None = None
    error: str | None = None

    def label(self, width: int = 48) -> str:
        """``search(query='Python')``, cut to `width` characters."""
        params = self.parameters
        if isinstance(params, dict):
            inner = ", ".join(f"{k}={v!r}" for k, v in params.items())
        else:
            inner = json.dumps(params, default=str)
        text = f"{self.tool}({inner})"
        return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(slots=True)
class RunState:
    """Everything a view needs, folded from the event stream."""

    task_id: str | None = None
    text: list[str] = field(default_factory=list)
    chips: dict[str, Chip] = field(default_factory=dict)
    waits: dict[str, list[float]] = field(default_factory=dict)
    """limit name -> [number of waits, seconds waited]."""
    waiting: dict[str, tuple[float | None, float]] = field(default_factory=dict)
    """limit name -> (expected seconds, when the wait began on `clock`): waits going on."""
    compressions: list[dict[str, Any]] = field(default_factory=list)
    turns: int = 0
    error: str | None = None
    result: dict[str, Any] | None = None
    _turn_has_text: bool = False
    clock: Callable[[], float] = time.monotonic
    """Seconds, for the countdown of a wait going on (injected in tests)."""

    def apply(self, event: Event) -> str:
        """Fold one event in; return the text it adds (empty for non-text events)."""
        added = ""
        match event["type"]:
            case "started":
                self.task_id = event["task_id"]
            case "token":
                added = event["content"]
                if added and not self._turn_has_text and self.turns and self.text:
                    added = "\n\n" + added  # the answer after tool calls: a new paragraph
                if added:
                    self._turn_has_text = True
                    self.text.append(added)
            case "tool_call":
                cid = event["call_id"]
                self.chips[cid] = Chip(cid, event["tool_name"], event["parameters"])
            case "tool_result":
                cid = event["call_id"]
                chip = self.chips.get(cid)
                if chip is None:
                    chip = self.chips[cid] = Chip(cid, event["tool_name"], None)
                chip.duration = event["duration"]
                if not event["success"]:
                    chip.status, chip.error = "failed", event.get("error", "failed")
                else:
                    chip.status = "cached" if event["cached"] else "done"
            case "rate_limit_wait" if event["phase"] == "start":
                self.waiting[event["limit"]] = (event.get("expected"), self.clock())
            case "rate_limit_wait":
                self.waiting.pop(event["limit"], None)
                acc = self.waits.setdefault(event["limit"], [0, 0.0])
                acc[0] += 1
                acc[1] += event.get("waited", 0.0)
            case "compression":
                self.compressions.append(dict(event))
            case "usage":
                self.turns += 1
                self._turn_has_text = False
            case "error":
                self.error = event["error"]
            case "result":
                self.result = dict(event)
                if self.error is None and not event["success"]:
                    self.error = event["error"] or "the run failed"
        return added

    def settle(self, spans: Iterable[Any]) -> None:
        """Give calls still shown as running the outcome their tool spans recorded.

        After an interrupt, results that finished but were not yet streamed would
        otherwise look cancelled.
        """
        by_call = {s.attrs.get("call_id"): s for s in spans}
        for chip in self.chips.values():
            span = by_call.get(chip.call_id)
            if chip.status != "running" or span is None:
                continue
            chip.duration = span.end - span.start
            if span.status == "cancelled":
                chip.status = "cancelled"
            elif span.status != "ok":
                chip.status, chip.error = "failed", "failed"
            else:
                chip.status = "cached" if span.attrs.get("cached") else "done"

    def cancel_running(self) -> None:
        """Mark the calls still running as cancelled (the run was interrupted)."""
        for chip in self.chips.values():
            if chip.status == "running":
                chip.status = "cancelled"

    @property
    def streamed(self) -> str:
        return "".join(self.text)

    @property
    def answer(self) -> str:
        """The final answer when the run ended, else the text streamed so far."""
        if self.result is not None and self.result.get("output"):
            return str(self.result["output"])
        return self.streamed

    def notes(self) -> list[str]:
        """One line per wait going on (with its countdown), per limit that made the run
        wait, and per compression."""
        now = self.clock()
        lines = []
        for limit, (expected, began) in self.waiting.items():
            about = ""
            if expected is not None:
                about = f", about {format_seconds(max(0.0, expected - (now - began)))}"
            lines.append(f"◷ waiting for {limit_label(limit)}{about}")
        lines += [
            f"◔ waited {format_seconds(total)} for {limit_label(limit)} ({int(n)}×)"
            for limit, (n, total) in self.waits.items()
        ]
        for c in self.compressions:
            lines.append(
                f"⇊ compressed the conversation {c.get('before')} → {c.get('after')} "
                f"messages ({c.get('strategy')})"
            )
        return lines


def format_seconds(seconds: float | None) -> str:
    """A duration rounded for reading: ``0.2 ms``, ``850 ms``, ``1.2 s``, ``2 min 05 s``.

    Milliseconds below one second (one decimal below 10 ms), seconds with one decimal
    below a minute, then minutes and seconds: the one way every view shows a duration.
    """
    if seconds is None:
        return "?"
    if seconds == 0:
        return "0 s"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 0.9995:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def format_money(dollars: float | None) -> str:
    """Money with its unit, rounded for reading: ``$0.0042``, ``$0.12``, ``$12.30``."""
    if dollars is None:
        return "?"
    if dollars == 0:
        return "$0"
    if abs(dollars) < 0.01:
        return f"${dollars:.4f}"
    return f"${dollars:.2f}"


def format_rate(share: float | None) -> str:
    """A rate as a percentage: ``0%``, ``4.5%``, ``62%``."""
    if share is None:
        return "?"
    pct = share * 100
    return f"{pct:.1f}%" if 0 < abs(pct) < 10 else f"{pct:.0f}%"


_CHIP_STYLE = {
    "running": ("#555", "#f2f2f2", "●"),
    "done": ("#1b7a33", "#e9f7ee", "✓"),
    "cached": ("#0b5cad", "#e6f0fb", "⚡"),
    "failed": ("#b3261e", "#fdecea", "✗"),
    "cancelled": ("#777", "#f2f2f2", "■"),
}


def chips_html(chips: list[Chip]) -> str:
    """The tool calls as inline chips (inline styles: no CSS file needed)."""
    if not chips:
        return ""
    hidden = max(0, len(chips) - MAX_CHIPS)
    parts = []
    if hidden:
        parts.append(f"<span style='color:#777;margin-right:6px'>+{hidden} earlier</span>")
    for chip in chips[hidden:]:
        fg, bg, icon = _CHIP_STYLE[chip.status]
        detail = {"running": "running", "cancelled": "cancelled",
                  "cached": f"cached · {format_seconds(chip.duration)}",
                  "done": format_seconds(chip.duration),
                  "failed": f"failed: {chip.error}"}[chip.status]
        parts.append(
            f"<span class='pitstop-chip pitstop-chip-{chip.status}' title='{html.escape(detail)}' "
            f"style='display:inline-block;margin:2px 4px 2px 0;padding:1px 8px;"
            f"border:1px solid {fg};border-radius:10px;background:{bg};color:{fg};"
            f"font-size:12px;font-family:monospace'>{icon} {html.escape(chip.label())} "
            f"<b>{html.escape(detail if len(detail) < 60 else detail[:59] + '…')}</b></span>"
        )
    return "".join(parts)


def summary_line(state: RunState, *, cancelled: bool = False, agent: str = "") -> str:
    """``✓ done in 1.23 s · my_agent · 2 model turns · 4 tool calls (1 cached) · 1,423 tokens ·
    $0.0004``.

    The head says what happened: ``done``, ``done with N failed tool calls`` (the run
    answered, but some of its tools failed), ``failed`` or ``interrupted``.
    """
    chips = list(state.chips.values())
    cached = sum(1 for c in chips if c.status == "cached")
    failed = sum(1 for c in chips if c.status == "failed")
    calls = f"{len(chips)} tool call{'s' if len(chips) != 1 else ''}"
    extra = [f"{cached} cached"] * bool(cached) + [f"{failed} failed"] * bool(failed)
    if extra:
        calls += f" ({', '.join(extra)})"
    running = state.result is None and state.error is None and not cancelled
    tools_running = any(c.status == "running" for c in chips)
    turns = (f"model turn {max(state.turns, 1)}, tools running" if running and tools_running
             else f"model turn {state.turns + 1}" if running
             else f"{state.turns} model turn{'s' if state.turns != 1 else ''}")
    parts = [agent, turns, calls] if agent else [turns, calls]
    result = state.result or {}
    tokens = (result.get("usage") or {}).get("total_tokens")
    if tokens is not None:
        parts.append(f"{tokens:,} tokens")
    cost = result.get("cost")
    if cost:  # None: the model's price is unknown; 0: nothing billed
        parts.append(format_money(cost))
    if cancelled:
        head = "■ interrupted"
    elif state.error is not None:
        head = "✗ failed"
    elif state.result is not None and failed:
        head = (f"⚠ done with {failed} failed tool call{'s' if failed != 1 else ''} in "
                f"{format_seconds(result.get('execution_time'))}")
    elif state.result is not None:
        head = f"✓ done in {format_seconds(result.get('execution_time'))}"
    else:
        head = "● running"
    line = " · ".join([head, *parts])
    if state.error is not None and not cancelled:
        line += f": {state.error}"
    return line
