"""The pure rules of compression: cut points, plans, transcripts and clipping."""

from __future__ import annotations

from pitstop._context import strategies
from pitstop.llm import _summary
from pitstop.llm._base import Message, ToolCall
from pitstop.llm._tokens import count_tokens

from .helpers import chat, tool_turn


def test_cut_points_never_fall_inside_a_tool_group() -> None:
    """An assistant call and its results form one unit: no cut between them."""
    msgs = [*chat(2), *tool_turn(1, 3), *chat(1, start=2)]  # 0 1 | 2 3 4 5 | 6
    assert strategies.cut_points(msgs) == [0, 1, 2, 6, 7]


def test_interleaved_results_are_matched_by_id() -> None:
    """A result that arrives after an unrelated message still belongs to its call."""
    call = Message("assistant", "", (ToolCall("search", {"q": "x"}, "c1"),))
    msgs = [
        Message("user", "a"),
        call,
        Message("user", "another task"),
        Message("tool", "r", tool_call_id="c1", name="search"),
        Message("user", "b"),
    ]
    assert strategies.cut_points(msgs) == [0, 1, 4, 5]


def test_results_without_ids_stay_with_the_call_before_them() -> None:
    """Tool messages with no matching id attach to the directly preceding call."""
    msgs = [
        Message("assistant", "", (ToolCall("t", {}),)),
        Message("tool", "r1"),
        Message("tool", "r2"),
        Message("user", "next"),
    ]
    assert strategies.cut_points(msgs) == [0, 3, 4]


def test_manual_plan_keeps_keep_recent_rounded_to_a_group() -> None:
    """The floor of the tail grows to the start of a group it would cut."""
    msgs = [Message("system", "sys"), *chat(6), *tool_turn(1, 3)]  # tool group is 7..10
    p = strategies.plan(msgs, summarizing=True, keep_recent=2)
    assert p.cut == 7
    assert p.keep_head == (0,)
    assert p.fold == (1, 2, 3, 4, 5, 6)


def test_auto_plan_fills_the_target() -> None:
    """With a message budget the tail grows while system, summary and tail fit in it."""
    msgs = [Message("system", "sys"), *chat(60)]
    p = strategies.plan(msgs, summarizing=True, keep_recent=5, max_messages=30)
    result = strategies.apply(msgs, p, _summary.summary_message("s", len(p.fold)))
    assert len(result) == 30
    assert result[2:] == msgs[-28:]


def test_truncate_keeps_an_earlier_summary_and_summarize_folds_it() -> None:
    """A summary is kept like a system message by truncate, and re-summarised by summarize."""
    summary = _summary.summary_message("old facts", 20)
    msgs = [summary, *chat(12)]
    truncating = strategies.plan(msgs, summarizing=False, keep_recent=4)
    assert truncating.keep_head == (0,)
    summarizing = strategies.plan(msgs, summarizing=True, keep_recent=4)
    assert summarizing.fold[0] == 0
    assert sum(_summary.summary_count(msgs[i]) for i in summarizing.fold) == 20 + 8


def test_a_lone_summary_is_not_summarised_again() -> None:
    """Compressing [summary, recent...] again has nothing worth folding."""
    msgs = [_summary.summary_message("facts", 30), *chat(4)]
    assert strategies.plan(msgs, summarizing=True, keep_recent=4).noop


def test_token_budget_stops_the_tail_growing() -> None:
    """With a token budget the tail stops at the first group that would pass it."""
    msgs = chat(40)
    p = strategies.plan(
        msgs,
        summarizing=False,
        keep_recent=2,
        max_messages=35,
        max_tail_tokens=60,
        count=lambda m: 10,
    )
    assert len(msgs) - p.cut == 6


def test_summary_header_says_how_many_messages_it_replaces() -> None:
    """The summary's first line states its count, and is read back."""
    m = _summary.summary_message("  facts  ", 17)
    assert m.role == "system"
    assert m.content.startswith("[Summary of the 17 earlier messages of this conversation]\n")
    assert m.content.endswith("facts")
    assert _summary.is_summary(m)
    assert _summary.summary_count(m) == 17
    assert not _summary.is_summary(Message("user", m.content))
    assert _summary.summary_count(Message("user", "x")) == 1


def test_transcript_shows_roles_tool_calls_and_results() -> None:
    """The summariser sees who said what, which tools ran with which arguments, and results."""
    text = _summary.render_transcript([*chat(1), *tool_turn(3, 1)])
    assert "user: message 0" in text
    assert 'assistant called search({"q": "t3k0"})' in text
    assert "tool search result: result 3-0" in text


def test_clip_to_tokens_bounds_the_text() -> None:
    """A text over the budget is cut to fit it; a text within it is unchanged."""
    text = "alpha beta gamma delta " * 100
    clipped = strategies.clip_to_tokens(text, 50)
    assert count_tokens(clipped) <= 50
    assert count_tokens(clipped) >= 45
    assert text.startswith(clipped)
    assert strategies.clip_to_tokens("short", 50) == "short"
