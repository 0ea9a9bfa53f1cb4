"""The live timeline: bars appear and grow while a run goes, then the static chart."""

from __future__ import annotations

import asyncio
from typing import Any

from pitstop import ToolCall
from pitstop.notebook import timeline
from pitstop.notebook._live import LiveTimeline
from pitstop.testing import FakeClock, record_comms

from .conftest import make_agent


def ev(kind: str, t: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "timestamp": t, "task_id": "t-1", **fields}


def test_bars_appear_when_calls_start_and_stop_growing_when_they_end() -> None:
    """A tool bar appears at its tool_call, runs until its result; a hit is a marker."""
    fake = FakeClock()
    shown: list[dict[str, Any]] = []
    live = LiveTimeline(clock=fake, call_later=fake.call_later, publish=shown.append)
    live.handle(ev("started", 0.0, task="q"))
    fake.advance_to(0.2)
    live.handle(ev("usage", 0.2, input_tokens=1, output_tokens=1))
    live.handle(ev("tool_call", 0.2, call_id="a", tool_name="search", parameters={}))
    live.handle(ev("tool_call", 0.2, call_id="b", tool_name="search", parameters={}))
    live.handle(ev("tool_result", 0.2001, call_id="b", tool_name="search", success=True,
                   result=1, cached=True, duration=0.0001))
    fake.advance_to(0.4)
    page = shown[-1]["text/html"]
    assert [b.label for b in live.bars] == ["turn 1 · model", "turn 1 · search #1",
                                            "turn 1 · search #2"]
    assert page.count("pitstop-live-running") == 1  # search #1 still runs
    assert "rotate(45deg)" in page  # the cache hit, as a marker
    before = live.bars[1]
    assert before.end is None
    live.handle(ev("tool_result", 0.5, call_id="a", tool_name="search", success=True,
                   result=1, cached=False, duration=0.3))
    assert live.bars[1].end == 0.5 and live.bars[-1].label == "turn 2 · model"


def test_at_most_ten_redraws_a_second_and_running_bars_grow_between_events() -> None:
    """A burst of 1,000 events in one second redraws about 10 times; with no event, a
    running bar is still redrawn as it grows; it stops when the run ends."""
    fake = FakeClock()
    shown: list[dict[str, Any]] = []
    live = LiveTimeline(clock=fake, call_later=fake.call_later, publish=shown.append)
    live.handle(ev("started", 0.0, task="q"))
    for i in range(1000):
        fake.advance_to(i / 1000)
        live.handle(ev("token", i / 1000, content="x"))
    assert live.redraws <= 11
    before = live.redraws
    fake.advance_to(2.0)  # no event for a second: the model bar keeps growing
    assert live.redraws - before >= 9
    live.handle(ev("usage", 2.0, input_tokens=1, output_tokens=1))
    live.handle(ev("result", 2.0, output="x", success=True, tool_calls=[], iterations=1,
                   execution_time=2.0, usage={}, error=None))
    done = live.redraws
    fake.advance_to(5.0)
    assert live.finished and live.redraws == done and fake.pending == 0


async def test_following_an_agent_grows_then_leaves_the_static_chart() -> None:
    """timeline(agent, live=True) follows the next run, then shows the same PNG chart."""
    from pitstop.notebook._gantt import timeline_bundle

    agent = make_agent([ToolCall("lookup", {"query": q}) for q in "ab"])
    live = timeline(agent, live=True)
    assert isinstance(live, LiveTimeline) and agent._taps == [live._tap]
    shown: list[dict[str, Any]] = []
    live._publish = shown.append
    result = await agent.execute_task("find a and b")
    await asyncio.sleep(0)  # the static chart goes out on the loop's next turn
    assert live.task_id == result["task_id"] and live.finished
    assert agent._taps == []  # it followed one run only
    assert any("pitstop-live-timeline" in b.get("text/html", "") for b in shown[:-1])
    final = shown[-1]
    assert set(final) == {"image/png", "text/plain"}
    assert final["text/plain"] == timeline_bundle(agent, result["task_id"])["text/plain"]
    await agent.execute_task("again")  # no longer followed
    assert shown[-1] is final


def test_agent_timeline_option_shows_a_live_chart_then_the_static_one(ip: Any) -> None:
    """%%agent --timeline in a kernel: a live chart widget whose bars are redrawn over
    its comm (never lost to the answer area's capture), and at the end the PNG chart
    in its place."""
    from IPython.utils.capture import capture_output

    ip.user_ns["bot"] = make_agent([ToolCall("lookup", {"query": "a"})])
    ip.run_line_magic("config", 'AgentMagics.display_mode = "widget"')
    try:
        with record_comms() as comms, capture_output() as shown:
            ip.run_cell_magic("agent", "bot --timeline", "find a")
    finally:
        ip.run_line_magic("config", 'AgentMagics.display_mode = "auto"')
    redraws = [str(m.data) for m in comms.messages if "pitstop-live-bar" in str(m.data)]
    assert any("turn 1 · lookup #1" in r for r in redraws), "no live bar was drawn"
    bundles = [o.data for o in shown.outputs]
    live = [i for i, b in enumerate(bundles) if "application/vnd.jupyter.widget-view+json" in b
            and "HTML(" in b.get("text/plain", "")]
    charts = [i for i, b in enumerate(bundles) if "image/png" in b]
    assert live and len(charts) == 1 and charts[0] > live[0]  # the PNG took its place
    assert "turn 1 · lookup #1" in bundles[charts[0]]["text/plain"]
    assert not ip.user_ns["bot"]._taps


def test_a_timeline_finished_before_any_run_leaves_static_output(ip: Any) -> None:
    """Finished with no run recorded (the run failed to start, or was interrupted at once),
    the live chart is still replaced by static output and its widget closed, so a saved
    notebook holds no widget that would show "model not found" when reopened."""
    from IPython.utils.capture import capture_output

    with record_comms(), capture_output() as shown:
        live = LiveTimeline()
        live.show()
        live.finish()
    last = shown.outputs[-1]
    assert last.update and "application/vnd.jupyter.widget-view+json" not in last.data
    assert "no run was recorded" in last.data["text/plain"]
    assert live._widget is None
