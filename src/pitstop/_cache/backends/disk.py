"""The disk backend: one SQLite file that survives a kernel restart.

Values are JSON text (never pickle). Several processes may share the file (WAL mode,
a busy timeout); each namespace has its own bounds. Triggers keep the entry count and
byte total of each namespace, so bounds cost O(1) to check at every insert; LRU order
is a per-namespace counter bumped on every hit, with an index for eviction. Each entry
keeps the time it was written; freshness is judged with the tool's TTL in force at
lookup (see `Freshness`), and sweeps delete, tool by tool, what that TTL makes stale.

A file that is not a database or is damaged is moved aside (``<name>.damaged-<time>``)
and a fresh cache starts in its place, with a warning.

Operations run on the event loop: with WAL and ``synchronous=NORMAL`` a read or write
takes tens of microseconds, less than handing it to a thread would cost.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from pitstop._cache.backends.base import (
    BackendGuard,
    Entry,
    Freshness,
    Hit,
    LocalAsyncForms,
    Matcher,
    _DamagedEntry,
    logger,
    read_hit,
)
from pitstop.errors import ConfigError

__all__ = ["DiskBackend"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    tool TEXT NOT NULL,
    value TEXT NOT NULL,
    labels TEXT NOT NULL,
    size INTEGER NOT NULL,
    latency REAL NOT NULL,
    stored_at REAL NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (ns, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_used ON entries (ns, used);
CREATE INDEX IF NOT EXISTS entries_written ON entries (ns, tool, stored_at);
CREATE TABLE IF NOT EXISTS totals (
    ns TEXT PRIMARY KEY,
    n INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    tick INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS entries_added AFTER INSERT ON entries BEGIN
    INSERT INTO totals (ns, n, bytes, tick) VALUES (new.ns, 1, new.size, new.used)
    ON CONFLICT (ns) DO UPDATE SET n = n + 1, bytes = bytes + new.size, tick = new.used;
END;
CREATE TRIGGER IF NOT EXISTS entries_touched AFTER UPDATE OF used ON entries BEGIN
    UPDATE totals SET tick = new.used WHERE ns = new.ns;
END;
CREATE TRIGGER IF NOT EXISTS entries_removed AFTER DELETE ON entries BEGIN
    UPDATE totals SET n = n - 1, bytes = bytes - old.size WHERE ns = old.ns;
END;
"""


class DiskBackend(LocalAsyncForms):
    """Entries in a SQLite file, shared by every process that opens it.

    Args:
        path: the database file (its directory is created).
        namespace: keeps these entries apart from other namespaces in the same file.
        freshness: the TTLs in force (None: entries never go stale).
    """

    name = "disk"
    stores_text = True

    def __init__(
        self, path: str | Path, namespace: str, freshness: Freshness | None = None, *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self.ns = namespace
        self._lock = threading.Lock()  # invalidate() may come from another thread
        self._db = self._open()
        self._fresh = freshness
        self._guard = BackendGuard("disk", str(self.path), clock)
        self.evictions = 0
        self.expirations = 0

    def _open(self) -> sqlite3.Connection:
        """Connect and create the schema; a damaged file is moved aside and replaced.

        Raises:
            ConfigError: the path is a directory or cannot be opened (naming it).
        """
        path = self.path
        if path.is_dir():
            raise ConfigError(
                f"CacheConfig.path {str(path)!r} is a directory; give the path of a file "
                f"in it, e.g. {str(path / 'tool-cache.sqlite3')!r}."
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return self._connect()
        except sqlite3.OperationalError as exc:  # permissions, a locked or missing place
            raise ConfigError(
                f"The disk tool cache cannot open {str(path)!r} ({exc}); check that the "
                "directory exists and is writable, or give another CacheConfig.path."
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"The disk tool cache cannot create {str(path.parent)!r} ({exc}); give "
                "another CacheConfig.path."
            ) from None
        except sqlite3.DatabaseError as exc:  # not a database, or a damaged one
            aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            for suffix in ("", "-wal", "-shm"):
                part = Path(f"{path}{suffix}")
                if part.exists():
                    part.replace(f"{aside}{suffix}")
            message = (
                f"The disk tool cache file {str(path)!r} is damaged ({exc}); it was moved to "
                f"{str(aside)!r} and a new, empty cache started in its place."
            )
            logger.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=5)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                             timeout=5.0)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            _migrate(db)
            db.executescript(_SCHEMA)
            db.execute("SELECT n, bytes, tick FROM totals LIMIT 1").fetchall()
            db.execute("SELECT key FROM entries ORDER BY used LIMIT 1").fetchall()
        except BaseException:
            db.close()
            raise
        return db

    @property
    def errors(self) -> int:
        return self._guard.errors

    @property
    def degraded(self) -> bool:
        return self._guard.degraded

    @property
    def corrupt(self) -> int:
        return self._guard.corrupt

    async def get(self, key: str, now: float) -> Hit | None:
        if not self._guard.available(now):
            return None
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT value, latency, labels, stored_at, tool FROM entries "
                    "WHERE ns = ? AND key = ?",
                    (self.ns, key),
                ).fetchone()
                if row is None:
                    self._guard.succeeded()
                    return None
                if self._fresh is not None and not self._fresh.fresh(row[4], row[3], now):
                    self._db.execute("DELETE FROM entries WHERE ns = ? AND key = ?", (self.ns, key))
                    self.expirations += 1
                    self._guard.succeeded()
                    return None
                self._db.execute(  # one statement: the trigger moves the namespace's tick
                    "UPDATE entries SET used = (SELECT tick + 1 FROM totals WHERE ns = ?1) "
                    "WHERE ns = ?1 AND key = ?2",
                    (self.ns, key),
                )
        except sqlite3.Error as exc:
            self._guard.failed(exc, now)
            return None
        self._guard.succeeded()
        try:
            return read_hit(row[0], row[1], row[2])
        except _DamagedEntry as exc:
            self._guard.damaged(key, str(exc))
            await self.delete(key, now)
            return None

    async def set(self, entry: Entry, now: float, max_entries: int, max_bytes: int) -> bool:
        if not self._guard.available(now) or entry.size > max_bytes:
            return False
        db = self._db
        ns = self.ns
        try:
            with self._lock:
                db.execute("BEGIN IMMEDIATE")
                try:
                    self.expirations += self._sweep(now)
                    db.execute("DELETE FROM entries WHERE ns = ? AND key = ?", (ns, entry.key))
                    n, total = db.execute(
                        "SELECT n, bytes FROM totals WHERE ns = ?", (ns,)
                    ).fetchone() or (0, 0)
                    while n > 0 and (n >= max_entries or total + entry.size > max_bytes):
                        # evict in batches: at least what the entry count needs
                        batch = max(1, n - max_entries + 1)
                        victims = db.execute(
                            "SELECT key, size FROM entries WHERE ns = ? ORDER BY used LIMIT ?",
                            (ns, batch),
                        ).fetchall()
                        for vkey, vsize in victims:
                            if n < max_entries and total + entry.size <= max_bytes:
                                break
                            db.execute(
                                "DELETE FROM entries WHERE ns = ? AND key = ?", (ns, vkey)
                            )
                            n -= 1
                            total -= vsize
                            self.evictions += 1
                    db.execute(
                        "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                        "(SELECT COALESCE(MAX(tick), 0) + 1 FROM totals WHERE ns = ?))",
                        (ns, entry.key, entry.tool, entry.payload, json.dumps(entry.labels),
                         entry.size, entry.latency, entry.stored_at, ns),
                    )
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            self._guard.failed(exc, now)
            return False
        self._guard.succeeded()
        return True

    async def delete(self, key: str, now: float) -> None:
        try:
            with self._lock:
                self._db.execute("DELETE FROM entries WHERE ns = ? AND key = ?", (self.ns, key))
        except sqlite3.Error as exc:
            self._guard.failed(exc, now)

    def invalidate(self, matcher: Matcher, now: float) -> int:
        try:
            with self._lock:
                rows = self._db.execute(
                    "SELECT key, tool, labels FROM entries WHERE ns = ?", (self.ns,)
                ).fetchall()
                doomed = [(self.ns, k) for k, t, lab in rows if self._matches(matcher, k, t, lab)]
                self._db.execute("BEGIN IMMEDIATE")
                cur = self._db.executemany(
                    "DELETE FROM entries WHERE ns = ? AND key = ?", doomed
                )
                self._db.execute("COMMIT")
                return max(cur.rowcount, 0)
        except sqlite3.Error as exc:
            self._guard.failed(exc, now)
            return 0

    def _matches(self, matcher: Matcher, key: str, tool: str, labels: str) -> bool:
        """True when `matcher` picks the row, or its labels cannot be read (it goes too)."""
        try:
            return matcher(tool, read_hit(None, 0.0, labels).labels)
        except _DamagedEntry as exc:
            self._guard.damaged(key, str(exc))
            return True

    def clear(self, now: float) -> int:
        try:
            with self._lock:
                return self._db.execute("DELETE FROM entries WHERE ns = ?", (self.ns,)).rowcount
        except sqlite3.Error as exc:
            self._guard.failed(exc, now)
            return 0

    def usage(self, now: float) -> tuple[int, int]:
        try:
            with self._lock:
                self.expirations += self._sweep(now)
                row = self._db.execute(
                    "SELECT n, bytes FROM totals WHERE ns = ?", (self.ns,)
                ).fetchone()
        except sqlite3.Error as exc:
            self._guard.failed(exc, now)
            return 0, 0
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()

    def _sweep(self, now: float) -> int:
        """Delete the entries stale under their tool's TTL in force; return how many."""
        fresh = self._fresh
        if fresh is None:
            return 0
        db, ns = self._db, self.ns
        removed = 0
        tools = [t for (t,) in db.execute("SELECT DISTINCT tool FROM entries WHERE ns = ?", (ns,))]
        for tool in tools:
            cutoff = fresh.cutoff(tool, now)
            if cutoff != float("-inf"):
                removed += db.execute(
                    "DELETE FROM entries WHERE ns = ? AND tool = ? AND stored_at <= ?",
                    (ns, tool, cutoff),
                ).rowcount
        return removed


def _migrate(db: sqlite3.Connection) -> None:
    """Drop a table written by an older pitstop (expiry fixed at write): it is a cache."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
    if columns and "stored_at" not in columns:
        db.executescript("DROP TABLE IF EXISTS entries; DROP TABLE IF EXISTS totals;")
