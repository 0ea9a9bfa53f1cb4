"""The batch journal: finished results by batch id and task content, so a re-run resumes.

A batch run with a ``batch_id`` records each successful result, as JSON, under the
batch id and a hash of the task's content (its text or dict, and the batch's
context). Running the same batch again loads those results and runs only the rest;
a task whose content changed hashes differently, so it runs again. Identical tasks in
one batch are told apart by their occurrence (the second ``"2+2"`` is its own entry).

Where it lives, first match wins:

1. the ``PITSTOP_JOURNAL`` environment variable: a file path, or a ``redis://`` URL;
2. the agent's Redis, when it has one (``ResourceLimits(redis_url=...)`` or
   ``CacheConfig(backend="redis")``);
3. a SQLite file, ``$XDG_CACHE_HOME/pitstop/journal.sqlite3``
   (``~/.cache/pitstop/journal.sqlite3`` by default).

A batch's entries expire `ttl` seconds after its last write (``PITSTOP_JOURNAL_TTL``,
default 7 days). Failed results are not journalled: a re-run tries them again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from pitstop.errors import ConfigError

__all__ = [
    "DEFAULT_TTL",
    "Journal",
    "JournalEntry",
    "default_journal_path",
    "task_keys",
]

DEFAULT_TTL = 7 * 24 * 3600.0
"""Seconds a batch's entries are kept after its last write, unless told otherwise."""

_REDIS_SCHEMES = ("redis", "rediss", "unix")


def default_journal_path() -> Path:
    """``$XDG_CACHE_HOME/pitstop/journal.sqlite3`` (``~/.cache/pitstop/...`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pitstop" / "journal.sqlite3"


def _default_ttl() -> float:
    raw = os.environ.get("PITSTOP_JOURNAL_TTL")
    if raw is None:
        return DEFAULT_TTL
    try:
        ttl = float(raw)
    except ValueError:
        ttl = -1.0
    if not ttl > 0:
        raise ConfigError(
            f"PITSTOP_JOURNAL_TTL must be a number of seconds > 0, got {raw!r}."
        )
    return ttl


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=repr)


def task_keys(tasks: Sequence[Any], context: Mapping[str, Any] | None) -> list[str]:
    """One journal key per task: a hash of the task and the context, plus its occurrence.

    The first ``"2+2"`` of a batch is ``<hash>``, the second ``<hash>#2``, so repeated
    tasks (sampling the same prompt several times) are separate entries.
    """
    ctx = _canonical(dict(context)) if context else ""
    seen: dict[str, int] = {}
    keys = []
    for task in tasks:
        body = _canonical(task if isinstance(task, str) else dict(task))
        digest = hashlib.sha256(f"{body}\x00{ctx}".encode()).hexdigest()[:32]
        n = seen[digest] = seen.get(digest, 0) + 1
        keys.append(digest if n == 1 else f"{digest}#{n}")
    return keys


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One finished task of a batch, as the journal holds it."""

    key: str
    """The task's content hash (with ``#n`` for the n-th identical task)."""
    index: int
    """The task's position in the batch when it ran."""
    task: str
    """The task's text."""
    result: dict[str, Any]
    """The result, as `execute_task` returned it (decoded from JSON)."""
    finished_at: float
    """When it was journalled (seconds since the epoch)."""


Row = tuple[str, int, str, str, float]
"""(key, index, task text, result JSON, finished_at) as the stores keep it."""


class _Store(Protocol):
    location: str

    def load(self, batch_id: str, now: float) -> list[Row]: ...
    def write(self, batch_id: str, rows: Sequence[Row], expires_at: float, now: float) -> None: ...
    def clear(self, batch_id: str) -> int: ...
    def batches(self, now: float) -> list[str]: ...
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    batch_id TEXT NOT NULL,
    key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    task TEXT NOT NULL,
    result TEXT NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (batch_id, key)
) WITHOUT ROWID;
"""


class _SQLiteStore:
    """Entries in a SQLite file (WAL, so a notebook and a script may share it)."""

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser()
        self.location = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"The batch journal cannot use {self.location!r} ({exc}); set "
                "PITSTOP_JOURNAL to a writable file path or a redis:// URL."
            ) from None
        self._lock = threading.Lock()  # writes come from a worker thread

    def _sweep(self, now: float) -> None:
        gone = [r[0] for r in self._db.execute(
            "SELECT batch_id FROM batches WHERE expires_at <= ?", (now,))]
        for batch_id in gone:
            self._db.execute("DELETE FROM entries WHERE batch_id = ?", (batch_id,))
            self._db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))

    def load(self, batch_id: str, now: float) -> list[Row]:
        with self._lock:
            row = self._db.execute("SELECT expires_at FROM batches WHERE batch_id = ?",
                                   (batch_id,)).fetchone()
            if row is None or row[0] <= now:
                return []
            return list(self._db.execute(
                "SELECT key, idx, task, result, finished_at FROM entries WHERE batch_id = ? "
                "ORDER BY idx", (batch_id,)))

    def write(self, batch_id: str, rows: Sequence[Row], expires_at: float, now: float) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._sweep(now)
                self._db.execute(
                    "INSERT INTO batches (batch_id, expires_at) VALUES (?, ?) "
                    "ON CONFLICT (batch_id) DO UPDATE SET expires_at = excluded.expires_at",
                    (batch_id, expires_at))
                self._db.executemany(
                    "INSERT OR REPLACE INTO entries (batch_id, key, idx, task, result, "
                    "finished_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [(batch_id, *r) for r in rows])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def clear(self, batch_id: str) -> int:
        with self._lock:
            n = self._db.execute("DELETE FROM entries WHERE batch_id = ?", (batch_id,)).rowcount
            self._db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
            return int(n)

    def batches(self, now: float) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT batch_id FROM batches WHERE expires_at > ? ORDER BY batch_id", (now,))]

    def close(self) -> None:
        self._db.close()


class _RedisStore:
    """Entries in one Redis hash per batch, with a real Redis TTL on the hash."""

    def __init__(self, url: str, *, prefix: str = "pitstop:journal:") -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - depends on the environment
            from pitstop.errors import MissingExtraError

            raise MissingExtraError(
                f"A Redis batch journal ({url!r}) needs the redis package; install it with "
                "`pip install pitstop[redis]`."
            ) from None
        self.location = url
        self._prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._r = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)

    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except self._errors as exc:
            raise ConfigError(
                f"The batch journal cannot reach Redis at {self.location!r} ({exc}); start "
                "Redis there, or set PITSTOP_JOURNAL to a file path."
            ) from None

    def load(self, batch_id: str, now: float) -> list[Row]:
        raw = self._call(lambda: self._r.hgetall(self._prefix + batch_id))
        rows: list[Row] = []
        for key, value in raw.items():
            idx, task, result, finished_at = json.loads(value)
            rows.append((key.decode(), int(idx), task, result, float(finished_at)))
        rows.sort(key=lambda r: r[1])
        return rows

    def write(self, batch_id: str, rows: Sequence[Row], expires_at: float, now: float) -> None:
        name = self._prefix + batch_id
        mapping = {key: json.dumps([idx, task, result, at]) for key, idx, task, result, at in rows}
        ttl_ms = max(1, int((expires_at - now) * 1000))

        def run() -> None:
            pipe = self._r.pipeline(transaction=True)
            pipe.hset(name, mapping=mapping)  # type: ignore[arg-type]
            pipe.pexpire(name, ttl_ms)
            pipe.sadd(self._prefix[:-1] + "s", batch_id)
            pipe.execute()

        self._call(run)

    def clear(self, batch_id: str) -> int:
        name = self._prefix + batch_id

        def run() -> int:
            pipe = self._r.pipeline(transaction=True)
            pipe.hlen(name)
            pipe.delete(name)
            pipe.srem(self._prefix[:-1] + "s", batch_id)
            return int(pipe.execute()[0])

        return int(self._call(run))

    def batches(self, now: float) -> list[str]:
        index = self._prefix[:-1] + "s"

        def run() -> list[str]:
            alive = []
            members = self._r.smembers(index)
            for member in sorted(m.decode() if isinstance(m, bytes) else m for m in members):
                if self._r.exists(self._prefix + member):
                    alive.append(member)
                else:
                    self._r.srem(index, member)
            return alive

        return list(self._call(run))

    def close(self) -> None:
        self._r.close()


def _is_redis_url(text: str) -> bool:
    return urlsplit(text).scheme in _REDIS_SCHEMES


def resolve_location(store: Any = None) -> str | Path:
    """Where a journal lives: `store` if given (a path, a Redis URL or an agent), else
    ``PITSTOP_JOURNAL``, else the default SQLite file. See the module docstring."""
    if isinstance(store, (str, Path)):
        if isinstance(store, str) and not store.strip():
            raise ConfigError("The journal store is an empty string; pass a path or a URL.")
        return store
    if store is not None and not hasattr(store, "resource_limits"):
        raise ConfigError(
            f"store must be a file path, a redis:// URL or a HybridAgent, got {store!r}."
        )
    env = os.environ.get("PITSTOP_JOURNAL")
    if env:
        return env
    if store is not None:
        limits = getattr(store, "resource_limits", None)
        if limits is not None and limits.redis_url:
            return str(limits.redis_url)
        cache = getattr(store, "cache_config", None)
        if cache is not None and cache.backend == "redis":
            return str(cache.redis_url or "redis://localhost:6379/0")
    return default_journal_path()


def _open(location: str | Path) -> _Store:
    if isinstance(location, str) and _is_redis_url(location):
        return _RedisStore(location)
    return _SQLiteStore(Path(location))


class Journal:
    """The finished results of one batch id: list them, count them, clear them.

    Get one with `pitstop.distributed.journal`; `execute_batch(..., batch_id=...)` uses
    the same class to resume.

    Args:
        batch_id: the batch's name.
        store: a SQLite file path, a ``redis://`` URL, or a `HybridAgent` (its Redis if it
            has one); None: ``PITSTOP_JOURNAL`` or the default file.
        ttl: seconds the batch's entries are kept after its last write (None:
            ``PITSTOP_JOURNAL_TTL`` or 7 days).
        clock: wall-clock time in seconds (injected in tests).
    """

    def __init__(
        self,
        batch_id: str,
        *,
        store: Any = None,
        ttl: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(batch_id, str) or not batch_id.strip():
            raise ConfigError(
                f"batch_id must be a non-empty string such as 'eval-1', got {batch_id!r}."
            )
        if ttl is None:
            ttl = _default_ttl()
        elif isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
            raise ConfigError(f"The journal's ttl must be seconds > 0, got {ttl!r}.")
        self.batch_id = batch_id
        self.ttl = float(ttl)
        self._clock = clock
        self._store = _open(resolve_location(store))

    @property
    def location(self) -> str:
        """The SQLite file or Redis URL holding the journal."""
        return self._store.location

    def entries(self) -> list[JournalEntry]:
        """The journalled results of this batch, in task order."""
        return [JournalEntry(key, idx, task, json.loads(result), at)
                for key, idx, task, result, at in self._store.load(self.batch_id, self._clock())]

    def load(self) -> dict[str, dict[str, Any]]:
        """The journalled results by key (what a resumed batch serves)."""
        return {key: json.loads(result)
                for key, _, _, result, _ in self._store.load(self.batch_id, self._clock())}

    def record(self, rows: Sequence[tuple[str, int, str, Mapping[str, Any]]]) -> None:
        """Journal finished results: ``(key, index, task text, result)`` each."""
        if not rows:
            return
        now = self._clock()
        self._store.write(
            self.batch_id,
            [(key, idx, text, json.dumps(result, default=str, ensure_ascii=False), now)
             for key, idx, text, result in rows],
            now + self.ttl, now,
        )

    def clear(self) -> int:
        """Forget this batch's results; return how many there were."""
        return self._store.clear(self.batch_id)

    def batches(self) -> list[str]:
        """Every batch id with unexpired entries in this store."""
        return self._store.batches(self._clock())

    def close(self) -> None:
        self._store.close()

    def __len__(self) -> int:
        return len(self._store.load(self.batch_id, self._clock()))

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self.entries())

    def __repr__(self) -> str:
        return f"Journal({self.batch_id!r}, {len(self)} finished, at {self.location!r})"
