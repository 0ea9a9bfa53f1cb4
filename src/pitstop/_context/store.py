"""Conversation sessions in a SQLite file, messages stored as JSON (never pickle).

One row per message, and one per session (to list sessions in creation order)::

    sessions(id INTEGER PRIMARY KEY, session_id TEXT UNIQUE)
    messages(session_id TEXT, seq INTEGER, message TEXT)   -- PRIMARY KEY (session_id, seq)

The file is in WAL mode with ``synchronous=NORMAL``: an append costs a small write
and no fsync, and a crash loses at most the last few appends, never the file.

Several engines (in one process or many) may write the same file, even the same
session: each append is one transaction that checks the file still holds what the
engine knows, and when another engine wrote meanwhile, the engine takes the file's
version and appends after it. A compression replaces a session only if the file still
holds the messages it was computed from. No accepted message is ever lost.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pitstop.errors import ConfigError
from pitstop.llm._base import Message, ToolCall

__all__ = ["SessionStore", "message_from_json", "message_to_json"]

SCHEMA_VERSION = 1
_ROLES = ("system", "user", "assistant", "tool")


def message_to_json(message: Message) -> str:
    """`message` as a JSON object; values JSON cannot hold are stored as their ``str``."""
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        data["tool_calls"] = [
            {"name": c.name, "arguments": dict(c.arguments), "id": c.id} for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        data["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        data["name"] = message.name
    return json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))


def message_from_json(text: str) -> Message:
    """The `Message` that `message_to_json` wrote."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("role") not in _ROLES:
        raise ValueError(f"not a pitstop message: {text[:80]!r}")
    calls = tuple(
        ToolCall(c["name"], c.get("arguments") or {}, c.get("id"))
        for c in data.get("tool_calls", ())
    )
    return Message(
        data["role"],
        data.get("content", ""),
        calls,
        data.get("tool_call_id"),
        data.get("name"),
    )


class SessionStore:
    """The SQLite side of `ContextEngine`: load everything, then mirror each change.

    Args:
        path: the SQLite file; created when missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as err:
            raise self._unusable(err) from err
        try:
            self._open()
        except sqlite3.Error as err:
            self._conn.close()
            raise self._unusable(err) from err
        except ConfigError:
            self._conn.close()
            raise

    def _open(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"ContextEngine: {self.path!r} holds sessions of schema version {version}, "
                f"newer than this pitstop reads ({SCHEMA_VERSION}); upgrade pitstop."
            )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS messages (session_id TEXT NOT NULL, "
            "seq INTEGER NOT NULL, message TEXT NOT NULL, PRIMARY KEY (session_id, seq)) "
            "WITHOUT ROWID"
        )
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY, "
            "session_id TEXT UNIQUE NOT NULL)"
        )
        self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _unusable(self, err: sqlite3.Error) -> ConfigError:
        return ConfigError(
            f"ContextEngine: cannot use {self.path!r} as a session file ({err}); "
            "pass the path of a new file or of one pitstop wrote."
        )

    def load(self) -> dict[str, list[Message]]:
        """Every stored session, its messages oldest first, sessions in creation order."""
        sessions: dict[str, list[Message]] = {}
        with self._lock:
            rows = self._conn.execute(
                "SELECT m.session_id, m.seq, m.message FROM messages AS m "
                "JOIN sessions AS s ON s.session_id = m.session_id ORDER BY s.id, m.seq"
            ).fetchall()
        for session_id, seq, text in rows:
            try:
                message = message_from_json(text)
            except (ValueError, KeyError, TypeError) as err:
                raise ConfigError(
                    f"ContextEngine: message {seq} of session {session_id!r} in {self.path!r} "
                    f"cannot be read ({err}); clear that session or use another file."
                ) from err
            sessions.setdefault(session_id, []).append(message)
        return sessions

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def append(
        self, session_id: str, known: Sequence[Message], messages: Sequence[Message]
    ) -> list[Message] | None:
        """Store `messages` after the session's last row, in one transaction.

        Args:
            known: the session as this engine holds it (the file's rows 0, 1, ... as it
                last wrote or read them).

        Returns:
            None when the file held exactly `known`; otherwise another engine wrote to
            the session meanwhile, and this is the session as the file has it now, with
            `messages` after it (nothing of either writer is lost).
        """
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO sessions (session_id) VALUES (?)", (session_id,))
            # rows are numbered 0, 1, ... without gaps (a replace renumbers them), so the
            # last row's number and text tell whether the file holds what we know: O(log n)
            row = db.execute(
                "SELECT seq, message FROM messages WHERE session_id = ? "
                "ORDER BY seq DESC LIMIT 1",
                (session_id,),
            ).fetchone()
            top = None if row is None else row[0]
            if row is None:
                in_step = not known
            else:
                in_step = row[0] == len(known) - 1 and row[1] == message_to_json(known[-1])
            current = None if in_step else self._rows(db, session_id)
            base = 0 if top is None else top + 1
            db.executemany(
                "INSERT INTO messages VALUES (?, ?, ?)",
                [(session_id, base + i, message_to_json(m)) for i, m in enumerate(messages)],
            )
        return None if current is None else [*current, *messages]

    def replace(
        self,
        session_id: str,
        messages: Iterable[Message],
        *,
        expected: Sequence[Message] | None = None,
    ) -> list[Message] | None:
        """Make `messages` the whole session, in one transaction.

        Args:
            expected: the session this replacement was computed from; when the file
                holds something else (another engine wrote meanwhile), nothing changes.

        Returns:
            None when replaced; otherwise the session as the file has it.
        """
        rows = [(session_id, i, message_to_json(m)) for i, m in enumerate(messages)]
        with self._transaction() as db:
            if expected is not None:
                texts = [t for (t,) in db.execute(
                    "SELECT message FROM messages WHERE session_id = ? ORDER BY seq",
                    (session_id,),
                )]
                if texts != [message_to_json(m) for m in expected]:
                    return [message_from_json(t) for t in texts]
            db.execute("INSERT OR IGNORE INTO sessions (session_id) VALUES (?)", (session_id,))
            db.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
            db.executemany("INSERT INTO messages VALUES (?, ?, ?)", rows)
        return None

    def load_session(self, session_id: str, known: Sequence[Message]) -> list[Message] | None:
        """None when the file holds exactly `known` for the session, else what it holds."""
        with self._lock:
            current = self._rows(self._conn, session_id)
        return None if current == list(known) else current

    def _rows(self, db: sqlite3.Connection, session_id: str) -> list[Message]:
        return [
            message_from_json(t)
            for (t,) in db.execute(
                "SELECT message FROM messages WHERE session_id = ? ORDER BY seq", (session_id,)
            )
        ]

    def clear(self, session_id: str | None = None) -> None:
        """Delete one session, or every session when `session_id` is None."""
        with self._transaction() as db:
            if session_id is None:
                db.execute("DELETE FROM messages")
                db.execute("DELETE FROM sessions")
            else:
                db.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
                db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
