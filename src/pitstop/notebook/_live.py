"""`LiveTimeline`: the Gantt chart of a run, growing while the run goes.

A bar appears when a model turn or a tool call starts and stops growing when it ends;
limiter waits and compressions get their own lanes, as in the static chart. The live
chart is light HTML (one positioned ``div`` per bar), redrawn at most `rate` times a
second (10 by default) by a `Coalescer`, plus a timer that keeps running bars growing
between events. When the run ends it is replaced, under the same display id, by the
static chart of `pitstop.notebook._gantt` (drawn from the Monitor's exact spans), so
the saved notebook holds the same picture as ``%%agent --timeline`` always did.

**Why a widget while it grows.** In a kernel the live chart is an `ipywidgets.HTML`
whose value is redrawn: widget updates reach the browser even while ``%%agent``'s
answer area captures the cell's output (a capturing Output widget swallows display
updates of its cell). The static chart replaces it by display id once nothing captures:
right after the run in ``%%agent``, or on the loop's next turn after the result event
when the chart follows an agent on its own.

The live lanes come from the event stream alone, so model turns are placed from the
events around them (a turn starts when the run or the previous tool turn ends); the
final static chart has the measured times.

``%%agent --timeline`` feeds it the run's events. ``timeline(agent, live=True)`` returns
one that follows the agent's next run, wherever it is started from.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pitstop.events import Event
from pitstop.notebook._coalesce import CallLater, Coalescer, loop_call_later
from pitstop.notebook._gantt import COLOURS, INSTANT, LEGEND
from pitstop.notebook._sources import agent_of
from pitstop.notebook._state import format_seconds

__all__ = ["LiveTimeline"]

TICK_SECONDS = 0.1
"""How often running bars grow between events (at most `rate` redraws a second)."""


@dataclass(slots=True)
class _Bar:
    label: str
    category: str
    start: float
    end: float | None = None


class LiveTimeline:
    """A Gantt chart of one run that grows while it runs, then becomes the static chart.

    Feed it events with `handle` (``%%agent --timeline`` does), or let it follow an
    agent's next run with `follow` (``timeline(agent, live=True)`` does).

    Args:
        agent: the agent whose spans draw the final chart (None: no final chart).
        rate: the most redraws a second.
        clock: seconds, the same clock as the events' ``timestamp`` (``time.time``).
        call_later: arms the redraw timers (injected in tests).
        publish: where each redraw and the final chart go, as display bundles (tests);
            by default a widget while it grows, then its display handle.
    """

    def __init__(
        self,
        agent: Any = None,
        *,
        rate: float = 10.0,
        clock: Callable[[], float] = time.time,
        call_later: CallLater = loop_call_later,
        publish: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.agent = None if agent is None else agent_of("LiveTimeline", agent)
        self.task_id: str | None = None
        self.bars: list[_Bar] = []
        self.redraws = 0
        self.finished = False
        self._clock = clock
        self._call_later = call_later
        self._t0: float | None = None
        self._turn = 0
        self._model: _Bar | None = None
        self._tools: dict[str, _Bar] = {}
        self._waits: dict[str, _Bar] = {}
        self._open_calls: set[str] = set()
        self._ticker: Any = None
        self._handle: Any = None
        self._widget: Any = None
        self._published_final = False
        self._publish = publish
        self._coalescer = Coalescer(self._redraw, rate=rate, clock=clock, call_later=call_later)

    # -- showing ---------------------------------------------------------------------

    def show(self) -> None:
        """Display the chart (empty until the run starts), as a widget in a kernel."""
        from IPython.display import display

        if self._handle is not None:
            return
        if self._publish is None:
            import ipywidgets as widgets

            self._widget = widgets.HTML(value=self.bundle()["text/html"])
            self._handle = display(self._widget, display_id=True)
        else:
            self._handle = display(self.bundle(), raw=True, display_id=True)

    def _ipython_display_(self) -> None:
        self.show()

    # -- following an agent ----------------------------------------------------------

    def follow(self, agent: Any) -> LiveTimeline:
        """Grow with the next run `agent` starts (from any cell), then stop following."""
        self.agent = agent_of("LiveTimeline.follow", agent)
        self.agent._taps.append(self._tap)
        return self

    def unfollow(self) -> None:
        """Stop following the agent (nothing happens if it was not followed)."""
        taps = getattr(self.agent, "_taps", None)
        if taps is not None and self._tap in taps:
            taps.remove(self._tap)

    def _tap(self, event: Event) -> None:
        if self.task_id is None and event["type"] == "started":
            self.task_id = event["task_id"]
        if event["task_id"] == self.task_id:
            self.handle(event)
            if self.finished:
                self.unfollow()

    # -- events ----------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Fold one event of the run into the chart."""
        now = event["timestamp"]
        kind = event["type"]
        if kind == "started":
            self.task_id = event["task_id"]
            self._t0 = now
            self._open_model(now)
        elif self._t0 is None:
            self._t0 = now
        match event["type"]:
            case "usage":
                if self._model is not None:
                    self._model.end = now
                    self._model = None
            case "tool_call":
                self._end_model(now)
                label = f"turn {self._turn} · {event['tool_name']} #{len(self._tools) + 1}"
                bar = _Bar(label, "tool", now)
                self._tools[event["call_id"]] = bar
                self._open_calls.add(event["call_id"])
                self.bars.append(bar)
            case "tool_result":
                found = self._tools.get(event["call_id"])
                if found is not None:
                    found.end = now
                    found.category = ("failed" if not event["success"] else
                                      "cached" if event["cached"] else "tool")
                self._open_calls.discard(event["call_id"])
                if not self._open_calls:  # the tool turn is over: the next model turn
                    self._open_model(now)
            case "rate_limit_wait":
                if event["phase"] == "start":
                    bar = _Bar(f"wait · {event['limit']}", "wait", now)
                    self._waits[event["limit"]] = bar
                    self.bars.append(bar)
                else:
                    started = self._waits.pop(event["limit"], None)
                    if started is not None:
                        started.end = now
                    else:
                        self.bars.append(_Bar(f"wait · {event['limit']}", "wait",
                                              now - event.get("waited", 0.0), now))
            case "compression":
                took = float(event.get("duration") or 0.0)
                self.bars.append(_Bar("compression", "compression", now - took, now))
            case "result" | "error":
                self._end_model(now)
                if event["type"] == "result":
                    self.finish(now=False)
                    return
        self._poke()

    def _open_model(self, now: float) -> None:
        self._turn += 1
        self._model = _Bar(f"turn {self._turn} · model", "model", now)
        self.bars.append(self._model)
        self._tools = {k: v for k, v in self._tools.items() if v.end is None}

    def _end_model(self, now: float) -> None:
        if self._model is not None:
            if self._model.end is None:
                self._model.end = now
            self._model = None

    def _poke(self) -> None:
        self._coalescer.poke()
        running = any(b.end is None for b in self.bars)
        if running and self._ticker is None and not self.finished:
            self._ticker = self._call_later(TICK_SECONDS, self._tick)

    def _tick(self) -> None:
        self._ticker = None
        if not self.finished:
            self._poke()

    # -- drawing ---------------------------------------------------------------------

    def _redraw(self) -> None:
        self.redraws += 1
        bundle = self.bundle()
        if self._publish is not None:
            self._publish(bundle)
        elif self._widget is not None:
            self._widget.value = bundle["text/html"]

    def bundle(self) -> dict[str, Any]:
        """The chart as it stands: ``text/html`` and a ``text/plain`` summary."""
        now = self._clock()
        t0 = self._t0 if self._t0 is not None else now
        total = max(now - t0, max((b.end or now) - t0 for b in self.bars) if self.bars
                    else 0.0, 1e-6)
        rows = []
        for b in self.bars:
            end = b.end if b.end is not None else now
            left = (b.start - t0) / total * 100
            width = (end - b.start) / total * 100
            running = " pitstop-live-running" if b.end is None else ""
            tip = html.escape(f"{b.label}: {format_seconds(end - b.start)}"
                              + (" (running)" if b.end is None else ""))
            if width < INSTANT * 100 and b.end is not None:  # a cache hit: a marker
                mark = (f"<div title='{tip}' style='position:absolute;left:calc({left:.2f}% - "
                        f"5px);top:3px;width:10px;height:10px;transform:rotate(45deg);"
                        f"background:{COLOURS[b.category]};border:1px solid #333'></div>")
            else:
                mark = (f"<div class='pitstop-live-bar{running}' title='{tip}' style='position:"
                        f"absolute;left:{left:.2f}%;width:max({width:.2f}%, 2px);top:2px;"
                        f"height:14px;background:{COLOURS[b.category]};border-radius:2px'>"
                        "</div>")
            rows.append(
                "<div style='display:flex;align-items:center;height:20px'>"
                f"<div style='width:210px;font-size:12px;white-space:nowrap;overflow:hidden;"
                f"text-overflow:ellipsis'>{html.escape(b.label)}</div>"
                f"<div style='position:relative;flex:1;height:18px;background:#fafafa'>{mark}"
                "</div></div>")
        used = list(dict.fromkeys(b.category for b in self.bars))
        legend = " ".join(
            f"<span style='margin-right:10px'><span style='display:inline-block;width:10px;"
            f"height:10px;background:{COLOURS[c]};margin-right:4px'></span>"
            f"{html.escape(LEGEND[c])}</span>" for c in used)
        state = "running" if not self.finished else "done"
        who = self.task_id or ("no run was recorded" if self.finished else "waiting for a run")
        took = [format_seconds(now - t0)] if self.bars else []
        head = ("<div style='font-weight:600;font-size:12px'>"
                f"{html.escape(' · '.join(['live timeline', who, *took, state]))}</div>")
        page = (f"<div class='pitstop-live-timeline' style='font-family:sans-serif;"
                f"max-width:900px'>{head}{''.join(rows)}<div style='font-size:11px;"
                f"margin-top:4px'>{legend}</div></div>")
        plain = f"live timeline · {who} · {len(self.bars)} bars"
        return {"text/html": page, "text/plain": plain}

    def finish(self, *, now: bool = True) -> None:
        """Stop growing and leave the static chart of the run in place of the live one.

        Args:
            now: publish the static chart at once; False: on the loop's next turn, when
                ``%%agent``'s answer area no longer captures the cell's output.
        """
        if not self.finished:
            self.finished = True
            if self._ticker is not None:
                self._ticker.cancel()
                self._ticker = None
            self._coalescer.close()
        if now:
            self._leave_static()
            return
        try:
            import asyncio

            asyncio.get_running_loop().call_soon(self._leave_static)
        except RuntimeError:
            self._leave_static()

    def _leave_static(self) -> None:
        if self._published_final:
            return
        self._published_final = True
        # no chart of the run (it never started, or no span was recorded): the live chart's
        # last state, as static HTML, so no widget is left for a saved notebook
        final = self.final_bundle() or self.bundle()
        if self._publish is not None:
            self._publish(final)
            return
        if self._handle is not None:
            self._handle.update(final, raw=True)
        if self._widget is not None:
            self._widget.close()
            self._widget = None

    def final_bundle(self) -> dict[str, Any] | None:
        """The static chart of the run from the agent's spans (None without an agent)."""
        if self.agent is None or self.task_id is None:
            return None
        from pitstop.errors import NoRunRecorded
        from pitstop.notebook._gantt import timeline_bundle

        try:
            return timeline_bundle(self.agent, self.task_id)
        except NoRunRecorded:
            return None
