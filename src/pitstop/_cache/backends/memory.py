"""The memory backend: an LRU dict bounded by entries and by bytes, swept per tool.

Why not cachetools: its caches enforce one bound (``maxsize`` with ``getsizeof``),
and the tool cache needs two at once (entries and bytes) plus a TTL per tool that is
read at lookup time, not fixed at write time. An `OrderedDict` (C-implemented
``move_to_end`` and ``popitem``) gives LRU in O(1). Entries of one tool share one TTL,
so in the order they were written they also go stale: a per-tool dict in write order
lets every insert sweep the stale entries of each tool in O(1) each, with the TTLs in
force at that moment, so they are removed, not only skipped.
"""

from __future__ import annotations

from collections import OrderedDict

from pitstop._cache.backends.base import Entry, Freshness, Hit, LocalAsyncForms, Matcher
from pitstop._cache.keys import decode

__all__ = ["MemoryBackend"]


class MemoryBackend(LocalAsyncForms):
    """Entries in this process; never fails.

    Args:
        freshness: the TTLs in force (None: entries never go stale).
    """

    name = "memory"
    stores_text = False

    def __init__(self, freshness: Freshness | None = None) -> None:
        self._fresh = freshness
        self._data: OrderedDict[str, Entry] = OrderedDict()
        # tool -> its keys in the order they were written (dicts keep insertion order)
        self._written: dict[str, dict[str, None]] = {}
        self._bytes = 0
        self.evictions = 0
        self.expirations = 0
        self.errors = 0
        self.degraded = False
        self.corrupt = 0  # entries live in this process: nothing can damage them

    async def get(self, key: str, now: float) -> Hit | None:
        e = self._data.get(key)
        if e is None:
            return None
        if self._fresh is not None and not self._fresh.fresh(e.tool, e.stored_at, now):
            self._remove(key)
            self.expirations += 1
            return None
        self._data.move_to_end(key)
        return Hit(decode(e.payload) if e.is_text else e.payload, e.latency, e.labels)

    async def set(self, entry: Entry, now: float, max_entries: int, max_bytes: int) -> bool:
        self._sweep(now)
        key = entry.key
        if key in self._data:
            self._remove(key)
        if entry.size > max_bytes:
            return False
        data = self._data
        while data and (len(data) >= max_entries or self._bytes + entry.size > max_bytes):
            self._remove(next(iter(data)))
            self.evictions += 1
        data[key] = entry
        self._bytes += entry.size
        self._written.setdefault(entry.tool, {})[key] = None
        return True

    async def delete(self, key: str, now: float) -> None:
        if key in self._data:
            self._remove(key)

    def invalidate(self, matcher: Matcher, now: float) -> int:
        doomed = [k for k, e in self._data.items() if matcher(e.tool, e.labels)]
        for k in doomed:
            self._remove(k)
        return len(doomed)

    def clear(self, now: float) -> int:
        n = len(self._data)
        self._data.clear()
        self._written.clear()
        self._bytes = 0
        return n

    def usage(self, now: float) -> tuple[int, int]:
        self._sweep(now)
        return len(self._data), self._bytes

    async def aclose(self) -> None:
        """Nothing to release: the entries stay usable until the cache is dropped."""

    def _remove(self, key: str) -> None:
        e = self._data.pop(key)
        self._bytes -= e.size
        written = self._written[e.tool]
        del written[key]
        if not written:
            del self._written[e.tool]

    def _sweep(self, now: float) -> None:
        fresh = self._fresh
        if fresh is None:
            return
        data = self._data
        for tool, written in list(self._written.items()):
            cutoff = fresh.cutoff(tool, now)
            while written:
                key = next(iter(written))
                if data[key].stored_at > cutoff:
                    break
                self._remove(key)
                self.expirations += 1
