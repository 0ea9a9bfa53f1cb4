"""The summary protocol: what ContextEngine writes is what SimulatedLLM reads back."""

from __future__ import annotations

from pitstop import Message, ToolCall
from pitstop.llm._summary import (
    Line,
    is_summary,
    is_summary_request,
    read_transcript,
    render_transcript,
    summary_message,
    summary_request,
)


def test_a_rendered_transcript_reads_back_line_by_line() -> None:
    """Each message, tool call, tool result and earlier summary comes back as one Line."""
    messages = [
        summary_message("The user asked: tea.", 12),
        Message("user", "What is the weather in Paris?"),
        Message("assistant", "", (ToolCall("weather", {"location": "Paris"}, "c1"),)),
        Message("tool", '{"temp_c": 18}', tool_call_id="c1", name="weather"),
        Message("assistant", "It is 18 °C in Paris."),
    ]
    assert list(read_transcript(render_transcript(messages))) == [
        Line("summary", "summary", "The user asked: tea."),
        Line("said", "user", "What is the weather in Paris?"),
        Line("called", "assistant", '{"location": "Paris"}', "weather"),
        Line("result", "tool", '{"temp_c": 18}', "weather"),
        Line("said", "assistant", "It is 18 °C in Paris."),
    ]


def test_only_the_protocols_request_is_a_summary_request() -> None:
    """summary_request is recognised; a system prompt that mentions summaries, or a
    request offering tools, is not."""
    request = summary_request([Message("user", "hi")], 200)
    assert "at most 200 tokens" in request[0].content
    assert is_summary_request(request)
    assert not is_summary_request(request, [object()])  # type: ignore[list-item]
    assert not is_summary_request([Message("system", "Summarize the results."),
                                   Message("user", "hi")])
    assert not is_summary_request([])


def test_summary_messages_carry_their_count() -> None:
    """A summary message is a system message marked with how many messages it replaces."""
    m = summary_message("  facts  ", 17)
    assert is_summary(m) and m.content.endswith("\nfacts")
    assert not is_summary(Message("system", "You are helpful."))
