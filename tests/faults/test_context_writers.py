"""Defect 14: two ContextEngines on one session file never collide or lose a message."""

from __future__ import annotations

from pathlib import Path

from tests.context.helpers import FakeLLM, chat

from pitstop import CompressionConfig, ContextEngine, Message


def test_two_writers_append_to_one_session_without_a_collision(tmp_path: Path) -> None:
    """Both engines append at the same row number: both messages are kept, in order."""
    path = tmp_path / "s.sqlite"
    a = ContextEngine(path=path)
    a.append("s", *chat(2))
    b = ContextEngine(path=path)  # loads the two messages
    a.append("s", Message("user", "from a"))
    b.append("s", Message("user", "from b"))  # the row a just took
    expected = [*chat(2), Message("user", "from a"), Message("user", "from b")]
    assert ContextEngine(path=path).messages("s") == expected
    assert b.messages("s") == expected
    a.append("s", Message("assistant", "a again"))
    assert ContextEngine(path=path).messages("s") == [*expected, Message("assistant", "a again")]


async def test_compressing_never_deletes_another_engines_message(tmp_path: Path) -> None:
    """A compresses after B appended: B's accepted message is still in the file, and
    A's compression applies to the session as the file has it."""
    path = tmp_path / "s.sqlite"
    a = ContextEngine(CompressionConfig(strategy="truncate", keep_recent=4), path=path)
    a.append("s", *chat(12))
    b = ContextEngine(path=path)
    b.append("s", Message("user", "accepted by b"))
    result = await a.compress_conversation("s")
    stored = ContextEngine(path=path).messages("s")
    assert Message("user", "accepted by b") in stored
    assert stored == a.messages("s")
    assert result.before == 13 and result.changed


async def test_a_message_written_by_another_engine_during_a_summary_is_kept(
    tmp_path: Path,
) -> None:
    """B appends while A's model writes the summary: A's compression starts again on the
    file's version, and B's message survives it."""
    path = tmp_path / "s.sqlite"
    b_engine: list[ContextEngine] = []

    def summary(messages: object) -> str:
        if not b_engine:  # only during the first summary
            b_engine.append(ContextEngine(path=path))
            b_engine[0].append("s", Message("user", "written during the summary"))
        return "the summary"

    a = ContextEngine(CompressionConfig(strategy="summarize", keep_recent=4), FakeLLM(summary),
                      path=path)
    a.append("s", *chat(12))
    result = await a.compress_conversation("s")
    stored = ContextEngine(path=path).messages("s")
    assert Message("user", "written during the summary") in stored
    assert stored == a.messages("s") and result.changed
