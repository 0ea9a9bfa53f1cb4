"""The memory backend: an LRU dict bounded by entries and by bytes, with a TTL heap.

Why not cachetools: its caches enforce one bound (``maxsize`` with ``getsizeof``),
and the tool cache needs two at once (entries and bytes) plus a TTL per entry that
depends on the tool. An `OrderedDict` (C-implemented ``move_to_end`` and ``popitem``)
gives LRU in O(1); a heap of expiry times lets every insert sweep the expired entries
in O(log n) each, so they are removed, not only skipped.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict

from pitstop._cache.backends.base import Entry, Hit, Matcher
from pitstop._cache.keys import decode

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Entries in this process; never fails."""

    name = "memory"
    stores_text = False

    def __init__(self) -> None:
        self._data: OrderedDict[str, Entry] = OrderedDict()
        # (expires_at, key); an item whose entry was replaced or evicted is skipped
        # when its expiry no longer matches the entry's
        self._heap: list[tuple[float, str]] = []
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
        if e.expires_at <= now:
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
            self._bytes -= data.popitem(last=False)[1].size
            self.evictions += 1
        data[key] = entry
        self._bytes += entry.size
        heapq.heappush(self._heap, (entry.expires_at, key))
        if len(self._heap) > 2 * len(data) + 64:  # drop heap items of replaced/evicted entries
            self._heap = [(e.expires_at, k) for k, e in data.items()]
            heapq.heapify(self._heap)
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
        self._heap.clear()
        self._bytes = 0
        return n

    def usage(self, now: float) -> tuple[int, int]:
        self._sweep(now)
        return len(self._data), self._bytes

    async def aclose(self) -> None:
        """Nothing to release: the entries stay usable until the cache is dropped."""

    def _remove(self, key: str) -> None:
        self._bytes -= self._data.pop(key).size

    def _sweep(self, now: float) -> None:
        heap = self._heap
        data = self._data
        while heap and heap[0][0] <= now:
            expires_at, key = heapq.heappop(heap)
            e = data.get(key)
            if e is not None and e.expires_at == expires_at:
                self._remove(key)
                self.expirations += 1
