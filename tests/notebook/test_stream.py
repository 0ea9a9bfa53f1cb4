"""StreamView headless (a recording comm, a fake clock) and TextStreamView."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from traitlets import TraitError

from pitstop.notebook._markdown import TAIL_CHARS
from pitstop.notebook._stream import StreamView, TextStreamView, make_view
from pitstop.testing import FakeClock, StreamRecorder, record_comms


def ev(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "timestamp": 0.0, "task_id": "t-1", **fields}


def run_events() -> list[dict[str, Any]]:
    """A two-turn run: three tool calls (one cached, one failed), a wait, a compression."""
    return [
        ev("started", task="q"),
        ev("compression", strategy="truncate", before=40, after=10),
        ev("rate_limit_wait", limit="max_tokens_per_minute", phase="start", expected=0.3),
        ev("rate_limit_wait", limit="max_tokens_per_minute", phase="end", waited=0.25),
        ev("usage", input_tokens=10, output_tokens=5),
        ev("tool_call", call_id="c1", tool_name="search", parameters={"query": "x"}),
        ev("tool_call", call_id="c2", tool_name="weather", parameters={"location": "Paris"}),
        ev("tool_call", call_id="c3", tool_name="search", parameters={"query": "y"}),
        ev("tool_result", call_id="c2", tool_name="weather", success=True, result={},
           cached=True, duration=0.0001),
        ev("tool_result", call_id="c3", tool_name="search", success=False,
           error="Tool 'search' raised ValueError: boom", cached=False, duration=0.2),
        ev("tool_result", call_id="c1", tool_name="search", success=True, result=[],
           cached=False, duration=0.31),
        ev("token", content="Hello"),
        ev("token", content=" world"),
        ev("usage", input_tokens=20, output_tokens=2),
        ev("result", output="Hello world", success=True, tool_calls=[], iterations=2,
           execution_time=0.5, usage={"total_tokens": 37}, error=None),
    ]


def make_view_under_test(rate: float = 30.0) -> tuple[StreamView, FakeClock, StreamRecorder]:
    fake = FakeClock()
    sink = StreamRecorder()
    view = StreamView(rate=rate, clock=fake, call_later=fake.call_later, sink=sink)
    return view, fake, sink


def test_chips_turn_from_running_to_done_cached_and_failed() -> None:
    """Each tool call is a chip whose state follows its result."""
    with record_comms():
        view, fake, sink = make_view_under_test()
        events = run_events()
        for e in events[:8]:
            view.handle(e)
        view._coalescer.close()
        assert view._status.value.count("pitstop-chip-running") == 3
        assert "● running · model turn 1, tools running · 3 tool calls" in view._status.value
        for e in events[8:]:
            fake.advance(1)
            view.handle(e)
        view.finish()
    html = view._status.value
    assert html.count("pitstop-chip-done") == 1
    assert html.count("pitstop-chip-cached") == 1
    assert html.count("pitstop-chip-failed") == 1 and "boom" in html
    assert "pitstop-chip-running" not in html
    header = view._status.value
    assert "waited 250 ms for tokens/minute" in header
    assert "compressed the conversation 40 → 10 messages (truncate)" in header
    assert "⚠ done with 1 failed tool call in 500 ms · 2 model turns · 3 tool calls " \
           "(1 cached, 1 failed) · 37 tokens" in header
    assert view.status == "done"
    assert view.text == "Hello world"  # no text before the tools: no break
    assert sink.text == "<p>Hello world</p>\n"


def test_finished_blocks_go_out_once_and_only_the_tail_through_a_trait() -> None:
    """Each finished Markdown block reaches the browser once; a trait carries only the
    still-growing last block, never more than TAIL_CHARS of text."""
    with record_comms() as comms:
        view, fake, sink = make_view_under_test()
        opened = len(comms.messages)
        words = [f" word{i}" + ("\n\n" if i % 20 == 19 else "") for i in range(300)]
        for i, w in enumerate(words):
            fake.advance_to(i * 0.01)
            view.handle(ev("token", content=w))
        view.finish()
    sent = re.findall(r"word\d+", sink.text)
    assert sent == [f"word{i}" for i in range(300)]  # every word once, in order
    assert sink.text.count("<p>") == 15  # fifteen paragraphs, each rendered once
    updates = comms.messages[opened:]
    assert all(m.kind == "update" for m in updates)
    tails = [m.data["state"]["value"] for m in updates if "value" in m.data.get("state", {})
             and "pitstop-status" not in m.data["state"]["value"]]
    assert tails and max(len(re.sub(r"<[^>]+>", "", t)) for t in tails) <= TAIL_CHARS


def test_updates_are_coalesced_to_the_rate() -> None:
    """2,000 tokens in one second at 2,000 tokens/s give about 30 updates, not 2,000."""
    with record_comms():
        view, fake, sink = make_view_under_test(rate=30)
        for i in range(2000):
            fake.advance_to(i / 2000)
            view.handle(ev("token", content=f" t{i}"))
        fake.advance_to(1.0)
        view.finish()
    assert 28 <= view.updates <= 32
    assert view.text == "".join(f" t{i}" for i in range(2000))
    assert re.findall(r"t\d+", sink.text) == [f"t{i}" for i in range(2000)]


def test_bytes_stay_proportional_to_the_text() -> None:
    """Comm plus stream bytes stay within 3x the text bytes (the rest is JSON framing)."""
    with record_comms() as comms:
        view, fake, sink = make_view_under_test()
        text = []
        for i in range(4000):
            fake.advance_to(i / 2000)
            token = " naïve\n" if i % 50 == 0 else f" tok{i % 97}"
            text.append(token)
            view.handle(ev("token", content=token))
        view.finish()
    text_bytes = len("".join(text).encode())
    assert (comms.nbytes + sink.nbytes) / text_bytes <= 3.0
    assert sink.nbytes / text_bytes < 1.3  # the text itself: once, plus a little JSON


def test_no_message_is_sent_when_nothing_changed() -> None:
    """A flush with no new text and the same chips sends no comm message."""
    with record_comms() as comms:
        view, fake, _ = make_view_under_test()
        view.handle(ev("tool_call", call_id="a", tool_name="lookup", parameters={"q": 1}))
        sent = len(comms.messages)
        fake.advance_to(1.0)
        view.handle(ev("token", content=""))  # changes nothing shown
        assert len(comms.messages) == sent


def test_interrupted_view_marks_running_calls_cancelled() -> None:
    """finish(cancelled=True) shows the run as interrupted and its calls as cancelled."""
    with record_comms():
        view, _, _ = make_view_under_test()
        view.handle(ev("tool_call", call_id="a", tool_name="lookup", parameters={}))
        view.finish(cancelled=True)
    assert view.status == "interrupted"
    assert "pitstop-chip-cancelled" in view._status.value
    assert "interrupted" in view._status.value


def test_plain_text_fallback_in_the_mimebundle() -> None:
    """Where no widget renders, the display bundle's text/plain holds the answer."""
    with record_comms():
        view, _, _ = make_view_under_test()
        for e in run_events():
            view.handle(e)
        view.finish()
        bundle = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("⚠ done with 1 failed tool call in 500 ms")
    assert bundle["text/plain"].endswith("Hello world")


def test_rate_is_validated_and_live() -> None:
    """rate outside 1..120 is refused; a new rate changes the coalescing interval."""
    with record_comms():
        view, _, _ = make_view_under_test()
        with pytest.raises(TraitError, match="between 1 and 120"):
            view.rate = 0
        view.rate = 10
        assert view._coalescer.interval == pytest.approx(0.1)


def test_text_view_prints_tokens_and_tool_lines() -> None:
    """The plain view prints tokens inline and one line per tool event."""
    out = io.StringIO()
    view = TextStreamView(out=out)
    for e in run_events():
        view.handle(e)
    view.finish()
    lines = out.getvalue().splitlines()
    assert "  ⇊ compressed the conversation 40 → 10 messages (truncate)" in lines
    assert "  ◷ waiting for tokens/minute, about 300 ms" in lines
    assert "  ◔ waited 250 ms for tokens/minute" in lines
    assert "  → search(query='x')" in lines
    assert "  ⚡ weather cached (0.1 ms)" in lines
    assert "  ✗ search failed: Tool 'search' raised ValueError: boom" in lines
    assert "  ✓ search 310 ms" in lines
    assert "Hello world" in lines
    assert lines[-1] == "⚠ done with 1 failed tool call in 500 ms · 2 model turns · " \
                        "3 tool calls (1 cached, 1 failed) · 37 tokens"


def test_make_view_picks_text_without_a_kernel() -> None:
    """auto mode gives the text view outside a kernel; widget mode can be forced."""
    assert isinstance(make_view("auto"), TextStreamView)
    assert isinstance(make_view("text"), TextStreamView)
    with record_comms():
        assert isinstance(make_view("widget", rate=5), StreamView)


def test_text_after_tool_calls_starts_a_new_paragraph() -> None:
    """A turn's text that follows earlier text and tool calls is set apart by a blank line."""
    out = io.StringIO()
    view = TextStreamView(out=out)
    for e in [ev("token", content="Let me look."), ev("usage", input_tokens=1, output_tokens=1),
              ev("tool_call", call_id="a", tool_name="lookup", parameters={"q": 1}),
              ev("tool_result", call_id="a", tool_name="lookup", success=True, result=1,
                 cached=False, duration=0.1),
              ev("token", content="Found it.")]:
        view.handle(e)
    assert view.state.streamed == "Let me look.\n\nFound it."


def test_a_wait_is_shown_with_a_countdown_while_it_lasts() -> None:
    """From its start event to its end, the header says what the run waits for and
    counts the expected time down, re-drawn by a timer with no new event."""
    with record_comms():
        view, fake, _ = make_view_under_test()
        view.handle(ev("started", task="q"))
        view.handle(ev("rate_limit_wait", limit="max_tokens_per_minute", phase="start",
                       expected=1.2))
        fake.advance_to(0.1)  # the coalescer sends it within 1/30 s
        assert "◷ waiting for tokens/minute, about 1.2 s" in view._status.value
        fake.advance_to(0.75)  # no event: the countdown timer re-draws it
        # re-drawn every 0.2 s after the first update at 1/30 s: last at 0.633 s
        assert "◷ waiting for tokens/minute, about 567 ms" in view._status.value
        fake.advance_to(1.0)
        view.handle(ev("rate_limit_wait", limit="max_tokens_per_minute", phase="end",
                       waited=1.1))
        fake.advance_to(2.0)
        header = view._status.value
        assert "waiting for" not in header and "◔ waited 1.1 s for tokens/minute (1×)" in header
        assert fake.pending == 0  # the countdown stopped with the wait
        view.finish()
