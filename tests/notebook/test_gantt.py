"""The Gantt chart of one run: lanes computed exactly, then drawn."""

from __future__ import annotations

import pytest

from pitstop import Monitor, Span, ToolCall
from pitstop.errors import NoRunRecorded
from pitstop.notebook._gantt import (
    peak_overlap,
    timeline,
    timeline_data,
    timeline_text,
)

from .conftest import make_agent


def spans() -> list[Span]:
    """Task t1 (1 s): a wait, two turns, three tool calls (one cached, one failed)."""
    return [
        Span("task", "t0", 0.0, 0.5, "ok", "t0"),
        Span("wait", "max_tokens_per_minute", 10.0, 10.1, "ok", "t1", {"requested": 50}),
        Span("llm", "m", 10.1, 10.2, "ok", "t1", {"turn": 1}),
        Span("tool", "search", 10.2, 10.5, "ok", "t1", {"turn": 1, "call_id": "a",
                                                       "cached": False}),
        Span("tool", "search", 10.2, 10.21, "ok", "t1", {"turn": 1, "call_id": "b",
                                                        "cached": True}),
        Span("tool", "weather", 10.25, 10.6, "error", "t1", {"turn": 1, "call_id": "c",
                                                            "cached": False}),
        Span("llm", "m", 10.6, 11.0, "ok", "t1", {"turn": 2}),
        Span("task", "t1", 10.0, 11.0, "ok", "t1"),
    ]


def test_lanes_of_the_last_task() -> None:
    """Lanes: task, waits, then per turn the model call and each tool call, with categories."""
    data = timeline_data(spans())
    assert data.task_id == "t1" and data.duration == pytest.approx(1.0)
    assert [(lane.label, lane.turn) for lane in data.lanes] == [
        ("task", None),
        ("wait · max_tokens_per_minute", None),
        ("turn 1 · model", 1),
        ("turn 1 · search #1", 1),
        ("turn 1 · search #2", 1),
        ("turn 1 · weather #3", 1),
        ("turn 2 · model", 2),
    ]
    cats = [[b.category for b in lane.bars] for lane in data.lanes]
    assert cats == [["task"], ["wait"], ["model"], ["tool"], ["cached"], ["failed"], ["model"]]
    search = data.lanes[3].bars[0]
    assert (search.start, search.end) == (pytest.approx(0.2), pytest.approx(0.5))
    assert data.peak_parallel == {1: 2}  # b ended at 0.21, before weather started at 0.25


def test_a_task_chosen_by_id() -> None:
    """task_id picks an earlier task; an unknown id lists the recent ones."""
    assert timeline_data(spans(), "t0").lanes[0].bars[0].end == pytest.approx(0.5)
    with pytest.raises(NoRunRecorded, match="No run with task_id 'zz' is recorded; "
                                            "recent: 't0', 't1'."):
        timeline_data(spans(), "zz")


def test_nothing_recorded_yet() -> None:
    """An agent that never ran says so in one sentence."""
    with pytest.raises(NoRunRecorded, match="No run is recorded yet"):
        timeline_data(Monitor())


def test_peak_overlap() -> None:
    """Touching intervals do not overlap; nested ones do."""
    class Interval:
        def __init__(self, start: float, end: float) -> None:
            self.start, self.end = start, end

    assert peak_overlap([Interval(0, 1), Interval(1, 2), Interval(2, 3)]) == 1
    assert peak_overlap([Interval(0, 3), Interval(1, 2), Interval(1.5, 1.6), Interval(2.5, 4)]) == 3
    assert peak_overlap([]) == 0


def test_the_figure_has_a_bar_per_span_and_a_legend() -> None:
    """The chart has one bar per span (a marker for the instant cache hit), labelled
    lanes, a time axis and a legend."""
    fig = timeline(spans())
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == \
        [lane.label for lane in timeline_data(spans()).lanes]
    bars = [p for p in ax.patches if p.get_height() == pytest.approx(0.6)]
    markers = [line for line in ax.lines if line.get_gid() == "pitstop-cached"]
    assert len(bars) == 6 and len(markers) == 1
    assert ax.get_xlabel() == "time since the task started (s)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["task", "limiter wait", "model call", "tool call (ran)",
                      "tool call (failed)", "tool call (cache hit), instant"]
    assert "turn 1: up to 2 at once" in ax.get_title(loc="left")


def test_text_chart() -> None:
    """The text chart places bars in proportion to time."""
    text = timeline_text(timeline_data(spans()), width=10)
    lines = text.splitlines()
    assert lines[0] == "t1 · 1.0 s · 3 tool calls (1 cached)"
    assert lines[2] == "task                         |──────────| 0 s – 1.0 s"
    assert lines[4] == "turn 1 · model               | █        | 100 ms – 200 ms"
    assert lines[5] == "turn 1 · search #1           |  ███     | 200 ms – 500 ms"
    assert lines[7] == "turn 1 · weather #3          |  xxxx    | 250 ms – 600 ms"


async def test_parallel_tool_calls_of_a_real_run_overlap() -> None:
    """Drawn from a real agent: the turn's tool calls ran together."""
    agent = make_agent([ToolCall("lookup", {"query": q}) for q in "abc"])
    result = await agent.execute_task("go")
    data = timeline_data(agent)
    assert data.task_id == result["task_id"]
    assert data.peak_parallel == {1: 3}
    assert timeline(agent).axes[0].get_title(loc="left").startswith(result["task_id"])


def test_every_span_is_visible_and_a_cache_hit_has_a_legend_marker() -> None:
    """Each lane's drawing is at least 6 px wide, a 10 ms cache hit included, and the
    legend has an entry for it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = timeline(spans())
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    data = timeline_data(spans())
    to_y = ax.transData.transform
    for y, lane in enumerate(data.lanes):
        centre = to_y((0, y))[1]
        drawn = [a for a in [*ax.patches, *ax.lines] if a.get_zorder() > 0  # not the shading
                 and abs(a.get_window_extent(renderer).y0 + a.get_window_extent(renderer).height
                        / 2 - centre) < 1 and a.get_window_extent(renderer).height < 40]
        assert drawn, f"nothing drawn on lane {lane.label!r}"
        assert max(a.get_window_extent(renderer).width for a in drawn) >= 6, lane.label
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("cache hit" in label for label in labels), labels
    assert "limiter wait" in labels
