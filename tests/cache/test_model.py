"""The memory cache against a plain-dict model, under a fake clock (Hypothesis)."""

from __future__ import annotations

import asyncio
import fnmatch
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pitstop._cache import CacheConfig, ToolCache
from pitstop._cache.config import BYTES_PER_MB
from pitstop.testing import FakeClock

from .conftest import make_tool

# Small domains on purpose: few keys, and times that land exactly on expiry boundaries.
MAX_ENTRIES = 3
MAX_BYTES = 600
TOOLS = {name: make_tool(name, cost=1.0) for name in ("t1", "t2")}


class _ModelEntry:
    def __init__(self, value: str, stored_at: float, size: int, labels: tuple[str, ...]):
        self.value = value
        self.stored_at = stored_at
        self.size = size
        self.labels = labels


class CacheModel(RuleBasedStateMachine):
    """Every operation is applied to the cache and to a dict in LRU order; they agree."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock(start=1_000.0)
        self.config = CacheConfig(
            default_ttl=10, max_cache_size=MAX_ENTRIES, max_memory_mb=MAX_BYTES / BYTES_PER_MB
        )
        self.cache = ToolCache(self.config, tools=TOOLS, clock=self.clock)
        self.model: dict[str, _ModelEntry] = {}  # insertion order = LRU order
        self.hits = self.misses = self.evictions = self.expirations = 0
        self.counter = 0
        self.last = ("t1", "a")

    def teardown(self) -> None:
        self.loop.run_until_complete(self.cache.aclose())
        self.loop.close()

    def _stale(self, entry: _ModelEntry) -> bool:
        """Judged with the TTL of the entry's tool in force now, not when it was written."""
        return entry.stored_at + self.config.ttl_for(entry.labels[0]) <= self.clock.now

    def _sweep(self) -> None:
        for key in [k for k, e in self.model.items() if self._stale(e)]:
            del self.model[key]
            self.expirations += 1

    @rule(tool=st.sampled_from(sorted(TOOLS)), query=st.sampled_from("abc"),
          length=st.sampled_from([0, 10, 150, 300, 500]))
    def call(self, tool: str, query: str, length: int) -> None:
        self.counter += 1
        self.last = (tool, query)
        produced = f"{self.counter}:" + "x" * length
        key = f"{tool}(query={query!r})"
        labels = (tool, f"query:{query}")

        async def run() -> Any:
            return produced

        value, cached = self.loop.run_until_complete(
            self.cache.call(TOOLS[tool], {"query": query}, run)
        )
        ttl = self.config.ttl_for(tool)
        if ttl <= 0:
            assert (value, cached) == (produced, False)
            return
        entry = self.model.get(key)
        if entry is not None and self._stale(entry):
            del self.model[key]
            self.expirations += 1
            entry = None
        if entry is not None:
            self.hits += 1
            self.model[key] = self.model.pop(key)  # most recently used
            assert (value, cached) == (entry.value, True)
            return
        self.misses += 1
        assert (value, cached) == (produced, False)
        self._sweep()
        size = len(produced) + len(key) + sum(len(label) for label in labels)
        if size > MAX_BYTES:
            return
        while self.model and (
            len(self.model) >= MAX_ENTRIES
            or sum(e.size for e in self.model.values()) + size > MAX_BYTES
        ):
            del self.model[next(iter(self.model))]
            self.evictions += 1
        self.model[key] = _ModelEntry(produced, self.clock.now, size, labels)

    @rule(seconds=st.sampled_from([2.5, 5.0, 10.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(seconds=st.sampled_from([0.0, 5.0, 10.0]), length=st.sampled_from([0, 300]))
    def repeat_later(self, seconds: float, length: int) -> None:
        """The same call again, after a while (hits and expiry boundaries are likely)."""
        self.clock.advance(seconds)
        self.call(*self.last, length)

    @rule(tool=st.sampled_from(["t1", "t2"]), ttl=st.sampled_from([0, 5, 10, 30]))
    def set_ttl(self, tool: str, ttl: float) -> None:
        self.config.tool_specific_ttl = {**self.config.tool_specific_ttl, tool: ttl}

    @rule(tool=st.sampled_from([None, "t1", "t2"]),
          pattern=st.sampled_from([None, "query:a", "query:[ab]", "t*", "*:c", "nothing"]))
    def invalidate(self, tool: str | None, pattern: str | None) -> None:
        removed = self.cache.invalidate(tool_name=tool, pattern=pattern)
        doomed = [
            k for k, e in self.model.items()
            if (tool is None or e.labels[0] == tool)
            and (pattern is None or any(fnmatch.fnmatchcase(lab, pattern) for lab in e.labels))
        ]
        for k in doomed:
            del self.model[k]
        assert removed == len(doomed)

    @rule()
    def clear(self) -> None:
        self.cache.clear()
        self.model.clear()

    @invariant()
    def bounds_hold(self) -> None:
        backend = self.cache.backend  # without stats(), whose sweep would hide lazy expiry
        assert len(backend._data) <= MAX_ENTRIES and backend._bytes <= MAX_BYTES

    @rule()
    def agrees_with_the_model(self) -> None:
        s = self.cache.stats()
        self._sweep()
        assert s["size"] == len(self.model)
        assert round(s["memory_mb"] * BYTES_PER_MB) == sum(e.size for e in self.model.values())
        assert (s["hits"], s["misses"]) == (self.hits, self.misses)
        assert (s["evictions"], s["expirations"]) == (self.evictions, self.expirations)
        assert s["size"] <= MAX_ENTRIES and s["memory_mb"] * BYTES_PER_MB <= MAX_BYTES
        assert s["cost_saved"] == self.hits * 1.0


TestCacheModel = CacheModel.TestCase
TestCacheModel.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
