"""Sessions in a SQLite file: JSON rows, every change mirrored, reloaded by a new engine."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pitstop import CompressionConfig, ConfigError, ContextEngine, Message
from pitstop._context.store import message_from_json, message_to_json
from pitstop.llm._base import ToolCall

from .helpers import FakeLLM, chat, tool_turn


def test_message_json_round_trip() -> None:
    """Every field of a message survives JSON, tool calls included."""
    messages = [
        Message("system", "sys"),
        *tool_turn(1, 2),
        Message("assistant", "both", (ToolCall("calc", {"x": [1, 2], "y": None}, "c9"),)),
    ]
    for m in messages:
        assert message_from_json(message_to_json(m)) == m


def test_sessions_survive_a_new_engine_on_the_same_file(tmp_path: Path) -> None:
    """A kernel restart loses nothing: a new engine on the path sees every append."""
    path = tmp_path / "sessions.sqlite"
    first = ContextEngine(path=path)
    first.append("s1", *chat(3))
    first.append("s2", *tool_turn(1, 2))
    first.append("s1", Message("user", "later"))
    second = ContextEngine(path=str(path))
    assert second.sessions() == ["s1", "s2"]
    assert second.messages("s1") == [*chat(3), Message("user", "later")]
    assert second.messages("s2") == tool_turn(1, 2)
    second.append("s1", Message("assistant", "after restart"))
    assert ContextEngine(path=path).messages("s1")[-1] == Message("assistant", "after restart")


def test_rows_are_plain_json(tmp_path: Path) -> None:
    """The file holds JSON text a person (or another program) can read, never pickle."""
    path = tmp_path / "s.sqlite"
    ContextEngine(path=path).append("s", Message("user", "héllo"))
    with sqlite3.connect(path) as conn:
        [(text,)] = conn.execute("SELECT message FROM messages").fetchall()
    assert json.loads(text) == {"role": "user", "content": "héllo"}


async def test_compression_and_clear_are_persisted(tmp_path: Path) -> None:
    """A compressed or cleared session reads back compressed or cleared."""
    path = tmp_path / "s.sqlite"
    engine = ContextEngine(
        CompressionConfig(strategy="summarize", keep_recent=4), FakeLLM("sum"), path=path
    )
    engine.append("a", *chat(20))
    engine.append("b", *chat(2))
    await engine.compress_conversation("a")
    engine.append("a", Message("user", "next"))
    reloaded = ContextEngine(path=path)
    assert reloaded.messages("a") == engine.messages("a")
    assert len(reloaded.messages("a")) == 6
    engine.clear("a")
    assert ContextEngine(path=path).sessions() == ["b"]
    engine.clear()
    assert ContextEngine(path=path).sessions() == []


def test_save_writes_a_memory_engine_to_a_file(tmp_path: Path) -> None:
    """save() snapshots in-memory sessions into a file a new engine loads."""
    engine = ContextEngine()
    engine.append("s", *chat(4))
    engine.save(tmp_path / "snap.sqlite")
    assert ContextEngine(path=tmp_path / "snap.sqlite").messages("s") == chat(4)


def test_a_file_that_is_not_sqlite_is_a_config_error(tmp_path: Path) -> None:
    """A wrong path says it cannot be used and what to pass instead."""
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just some text " * 100)
    with pytest.raises(ConfigError, match=r"cannot use .*notes.txt.*as a session file"):
        ContextEngine(path=path)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A file written by a newer pitstop is not misread."""
    path = tmp_path / "new.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(ConfigError, match=r"schema version 99.*upgrade pitstop"):
        ContextEngine(path=path)


def test_an_unreadable_row_names_the_session(tmp_path: Path) -> None:
    """A damaged row is reported with its session and position, not as a bare JSON error."""
    path = tmp_path / "s.sqlite"
    ContextEngine(path=path).append("s", Message("user", "ok"))
    with sqlite3.connect(path) as conn:
        conn.execute('UPDATE messages SET message = \'{"role": "robot"}\'')
    with pytest.raises(ConfigError, match="message 0 of session 's'"):
        ContextEngine(path=path)


def test_a_directory_is_a_config_error(tmp_path: Path) -> None:
    """A path SQLite cannot open is reported as a bad setting, not a bare sqlite3 error."""
    with pytest.raises(ConfigError, match="cannot use"):
        ContextEngine(path=tmp_path)
