"""`timeline`: a Gantt chart of one run, drawn from the Monitor's spans.

One lane per model call and per tool call, grouped by model turn (turns are shaded
in alternation), plus lanes for limiter waits and compressions. Time runs left to
right from the start of the task. Tool calls that ran in parallel overlap: the chart
shows at a glance whether a turn's calls ran together or one after another. A span too
short to see as a bar (a cache hit takes a fraction of a millisecond) is drawn as a
marker of its colour, with its own legend entry, so no call is invisible.

`timeline_data` computes the lanes (pure, tested exactly); `timeline` draws them with
matplotlib; `timeline_text` draws them in characters for terminals.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

from pitstop._metrics.monitor import Span
from pitstop.errors import NoRunRecorded, PitstopError
from pitstop.notebook._sources import spans_of
from pitstop.notebook._state import format_seconds

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pitstop.notebook._live import LiveTimeline

__all__ = ["Bar", "Lane", "TimelineData", "peak_overlap", "show_timeline",
           "timeline", "timeline_bundle", "timeline_data", "timeline_text"]

COLOURS = {
    "task": "#d9d9d9",
    "model": "#4c72b0",
    "tool": "#dd8452",
    "cached": "#55a868",
    "failed": "#c44e52",
    "cancelled": "#8c8c8c",
    "wait": "#8172b3",
    "compression": "#937860",
}
LEGEND = {
    "task": "task", "model": "model call", "tool": "tool call (ran)",
    "cached": "tool call (cache hit)", "failed": "tool call (failed)",
    "cancelled": "cancelled", "wait": "limiter wait", "compression": "compression",
}


INSTANT = 0.02
"""Spans shorter than this share of the chart are drawn as a marker, not a bar."""
MARKER = "D"


@dataclass(frozen=True, slots=True)
class Bar:
    """One span on a lane, in seconds from the task's start."""

    start: float
    end: float
    category: str
    """A key of `COLOURS`."""


@dataclass(frozen=True, slots=True)
class Lane:
    label: str
    turn: int | None
    """The model turn it belongs to (None for the task, waits and compressions)."""
    bars: tuple[Bar, ...]


@dataclass(frozen=True, slots=True)
class TimelineData:
    """The lanes of one task, top to bottom."""

    task_id: str
    duration: float
    status: str
    lanes: tuple[Lane, ...]
    peak_parallel: dict[int, int]
    """Per model turn: the most tool calls that were running at the same moment."""


def peak_overlap(items: Iterable[Any]) -> int:
    """The most of `items` (anything with ``start`` and ``end``) running at one moment.

    One that ends at the moment another starts does not overlap it.
    """
    items = list(items)
    edges = sorted([(b.start, 1) for b in items] + [(b.end, -1) for b in items])
    peak = running = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def timeline_data(source: Any, task_id: str | None = None) -> TimelineData:
    """The lanes of one task (default: the last one that finished).

    Args:
        source: a `HybridAgent`, a `Monitor` or an iterable of `Span`.
        task_id: the task to draw.

    Raises:
        NoRunRecorded: no task has finished yet, or none has this id.
    """
    spans = spans_of("timeline", source)
    tasks = [s for s in spans if s.kind == "task"]
    if not tasks:
        raise NoRunRecorded("No run is recorded yet; run a task first (e.g. with %%agent).")
    if task_id is None:
        task = tasks[-1]
    else:
        found = [s for s in tasks if s.task_id == task_id]
        if not found:
            recent = ", ".join(repr(s.task_id) for s in tasks[-5:])
            raise NoRunRecorded(f"No run with task_id {task_id!r} is recorded; recent: {recent}.")
        task = found[-1]
    t0 = task.start
    mine = [s for s in spans if s.task_id == task.task_id and s.kind != "task"]

    def bar(s: Span, category: str) -> Bar:
        return Bar(s.start - t0, s.end - t0, category)

    lanes: list[Lane] = [Lane("task", None, (bar(task, "task"),))]
    for limit in dict.fromkeys(s.name for s in mine if s.kind == "wait"):
        waits = tuple(bar(s, "wait") for s in mine if s.kind == "wait" and s.name == limit)
        lanes.append(Lane(f"wait · {limit}", None, waits))
    compressions = tuple(bar(s, "compression") for s in mine if s.kind == "compression")
    if compressions:
        lanes.append(Lane("compression", None, compressions))
    turns = sorted({int(s.attrs.get("turn", 0)) for s in mine if s.kind in ("llm", "tool")})
    peaks: dict[int, int] = {}
    for turn in turns:
        for s in mine:
            if s.kind == "llm" and int(s.attrs.get("turn", 0)) == turn:
                lanes.append(Lane(f"turn {turn} · model", turn, (bar(s, "model"),)))
        tools = sorted((s for s in mine
                        if s.kind == "tool" and int(s.attrs.get("turn", 0)) == turn),
                       key=lambda s: s.start)
        tool_bars = []
        for k, s in enumerate(tools, 1):
            if s.status == "cancelled":
                category = "cancelled"
            elif s.status != "ok":
                category = "failed"
            else:
                category = "cached" if s.attrs.get("cached") else "tool"
            b = bar(s, category)
            tool_bars.append(b)
            lanes.append(Lane(f"turn {turn} · {s.name} #{k}", turn, (b,)))
        if tool_bars:
            peaks[turn] = peak_overlap(tool_bars)
    return TimelineData(str(task.task_id), task.end - task.start, task.status, tuple(lanes),
                        peaks)


def _unit(duration: float) -> tuple[float, str]:
    return (1000.0, "ms") if duration < 1 else (1.0, "s")


def _title(data: TimelineData) -> str:
    tools = [b for lane in data.lanes for b in lane.bars if lane.turn is not None
             and b.category != "model"]
    cached = sum(1 for b in tools if b.category == "cached")
    head = f"{data.task_id} · {format_seconds(data.duration)}"
    parts = [head, f"{len(tools)} tool calls" + (f" ({cached} cached)" if cached else "")]
    if data.status != "ok":
        parts.append(data.status)
    line = " · ".join(parts)
    peaks = [f"turn {t}: up to {p} at once" for t, p in data.peak_parallel.items()]
    return line + ("\n" + ", ".join(peaks) if peaks else "")


@overload
def timeline(agent_or_spans: Any, task_id: str | None = None, *,
             live: Literal[False] = False) -> Figure: ...


@overload
def timeline(agent_or_spans: Any, task_id: str | None = None, *,
             live: Literal[True]) -> LiveTimeline: ...


def timeline(agent_or_spans: Any, task_id: str | None = None, *,
             live: bool = False) -> Figure | LiveTimeline:
    """Draw one run as a Gantt chart and return the matplotlib `Figure`.

    With ``live=True``, return a `LiveTimeline` that follows the agent's *next* run: its
    bars appear and grow while the run goes (at most 10 redraws a second), and when
    the run ends it becomes this same static chart. Show it (last line of a cell, or
    ``display``), then run a task, in the same cell or a later one::

        timeline(agent, live=True)
        await agent.execute_task("Search for Python news and the weather in Paris")

    Args:
        agent_or_spans: a `HybridAgent`, a `Monitor` or an iterable of `Span` (``live``
            needs a `HybridAgent`).
        task_id: the task to draw (default: the last one that finished).
        live: follow the next run instead of drawing a finished one.

    Raises:
        NoRunRecorded: no task has finished yet, or none has this id.
    """
    if live:
        from pitstop.notebook._live import LiveTimeline

        if not hasattr(agent_or_spans, "_taps"):
            raise PitstopError(f"timeline(..., live=True) follows a HybridAgent's next run; "
                               f"got {type(agent_or_spans).__name__}.")
        return LiveTimeline().follow(agent_or_spans)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    data = timeline_data(agent_or_spans, task_id)
    scale, unit = _unit(data.duration)
    lanes = data.lanes
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.32 * len(lanes)))
    plt.close(fig)  # returned, not shown by pyplot: the notebook displays it once
    used: list[str] = []
    marked: list[str] = []  # categories drawn as markers (too short for a bar)
    span = max(data.duration * scale, 1e-9)
    for y, lane in enumerate(lanes):
        if lane.turn is not None and lane.turn % 2 == 0:
            ax.axhspan(y - 0.5, y + 0.5, color="#f3f3f3", zorder=0)
        for b in lane.bars:
            width = (b.end - b.start) * scale
            if width < span * INSTANT:
                ax.plot([b.start * scale], [y], marker=MARKER, markersize=9, linestyle="none",
                        color=COLOURS[b.category], markeredgecolor="black",
                        markeredgewidth=0.6, zorder=4, gid=f"pitstop-{b.category}")
                if b.category not in marked:
                    marked.append(b.category)
            else:
                ax.barh(y, width, left=b.start * scale, height=0.6, color=COLOURS[b.category],
                        edgecolor="white", linewidth=0.5, zorder=2)
                if b.category not in used:
                    used.append(b.category)
            if lane.label != "task" and width > span * 0.12:
                ax.text(b.start * scale + width / 2, y, format_seconds(b.end - b.start),
                        ha="center", va="center", fontsize=8, color="white", zorder=3)
    ax.set_yticks(range(len(lanes)), [lane.label for lane in lanes], fontsize=9)
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.set_xlim(0, span * 1.02)
    ax.set_xlabel(f"time since the task started ({unit})")
    ax.grid(axis="x", color="#e0e0e0", zorder=1)
    ax.set_axisbelow(True)
    ax.set_title(_title(data), fontsize=10, loc="left")
    handles: list[Any] = [Patch(color=COLOURS[c], label=LEGEND[c]) for c in used]
    handles += [Line2D([], [], marker=MARKER, markersize=8, linestyle="none",
                       color=COLOURS[c], markeredgecolor="black", markeredgewidth=0.6,
                       label=f"{LEGEND[c]}, instant") for c in marked]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8,
              frameon=False)
    fig.tight_layout()
    return fig


def timeline_text(data: TimelineData, width: int = 50) -> str:
    """The same chart in characters (``█`` ran, ``▒`` cache hit, ``░`` waited)."""
    marks = {"task": "─", "model": "█", "tool": "█", "cached": "▒", "failed": "x",
             "cancelled": "·", "wait": "░", "compression": "≈"}
    total = max(data.duration, 1e-9)
    label_width = max(len(lane.label) for lane in data.lanes)
    rows = [_title(data)]
    for lane in data.lanes:
        cells = [" "] * width
        for b in lane.bars:
            lo = min(width - 1, round(b.start / total * width))
            hi = max(lo + 1, min(width, round(b.end / total * width)))
            for i in range(lo, hi):
                cells[i] = marks[b.category]
        b0, b1 = lane.bars[0], lane.bars[-1]
        when = f"{format_seconds(b0.start)} – {format_seconds(b1.end)}"
        rows.append(f"{lane.label:<{label_width}} |{''.join(cells)}| {when}")
    return "\n".join(rows)


def timeline_bundle(agent_or_spans: Any, task_id: str | None = None) -> dict[str, Any]:
    """The chart as a display bundle: a PNG, and `timeline_text` as ``text/plain``.

    Raises:
        NoRunRecorded: no task has finished yet, or none has this id.
    """
    data = timeline_data(agent_or_spans, task_id)
    fig = timeline(agent_or_spans, data.task_id)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return {"image/png": buf.getvalue(), "text/plain": timeline_text(data)}


def show_timeline(agent_or_spans: Any, task_id: str | None = None) -> None:
    """Display the chart: a PNG in Jupyter, `timeline_text` where images cannot show."""
    from IPython.core.error import UsageError
    from IPython.display import display

    try:
        bundle = timeline_bundle(agent_or_spans, task_id)
    except NoRunRecorded as exc:
        raise UsageError(str(exc)) from None
    display(bundle, raw=True)
