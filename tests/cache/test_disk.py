"""The disk backend: a SQLite file of JSON that outlives the process."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pitstop._cache import CacheConfig, ToolCache
from pitstop.testing import FakeClock

from .conftest import Counted, make_tool


async def test_entries_survive_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    """A new cache on the same file (a restarted kernel) serves the old entries."""
    path = tmp_path / "c.sqlite3"
    tool, body = make_tool(), Counted()
    first = ToolCache(CacheConfig(backend="disk", path=path), clock=clock,
                      timer=iter([1.0, 1.5]).__next__)
    await first.call(tool, {"query": "q"}, body.runner({"query": "q"}))
    await first.aclose()

    second = ToolCache(CacheConfig(backend="disk", path=path), clock=clock)
    try:
        value, cached = await second.call(tool, {"query": "q"}, body.runner({"query": "q"}))
        assert cached and value == {"args": {"query": "q"}, "items": [1, 2, 3]}
        assert body.runs == 1
        assert second.stats()["time_saved_s"] == 0.5  # the latency measured before the restart
        assert second.trace()[0].labels == ("search", "query:q")
    finally:
        await second.aclose()


async def test_the_file_holds_json_not_pickle(tmp_path: Path, clock: FakeClock) -> None:
    """Stored values are JSON text that any program can read."""
    path = tmp_path / "c.sqlite3"
    cache = ToolCache(CacheConfig(backend="disk", path=path), clock=clock)
    await cache.call(make_tool(), {"query": "q"}, Counted().runner({"query": "q"}))
    await cache.aclose()
    with sqlite3.connect(path) as db:
        (value,) = db.execute("SELECT value FROM entries").fetchone()
    assert isinstance(value, str)
    assert json.loads(value) == {"args": {"query": "q"}, "items": [1, 2, 3]}


async def test_two_caches_on_one_file_share_entries_and_bounds(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Two caches (as two processes would) share entries and one entry bound."""
    config = CacheConfig(backend="disk", path=tmp_path / "c.sqlite3", max_cache_size=2)
    one, two = ToolCache(config, clock=clock), ToolCache(config, clock=clock)
    try:
        tool, body = make_tool(), Counted()
        await one.call(tool, {"query": "a"}, body.runner({"query": "a"}))
        assert (await two.call(tool, {"query": "a"}, body.runner({"query": "a"})))[1] is True
        await two.call(tool, {"query": "b"}, body.runner({"query": "b"}))
        assert (await one.call(tool, {"query": "a"}, body.runner({"query": "a"})))[1] is True
        await one.call(tool, {"query": "c"}, body.runner({"query": "c"}))  # evicts b (LRU)
        assert one.stats()["size"] == two.stats()["size"] == 2
        assert (await one.call(tool, {"query": "a"}, body.runner({"query": "a"})))[1] is True
        assert (await two.call(tool, {"query": "b"}, body.runner({"query": "b"})))[1] is False
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_broken_database_degrades_to_uncached_calls(
    tmp_path: Path, clock: FakeClock
) -> None:
    """If the file cannot be used, tools still run; the failure is warned once and counted."""
    cache = ToolCache(CacheConfig(backend="disk", path=tmp_path / "c.sqlite3"), clock=clock)
    tool, body = make_tool(), Counted()
    cache.backend._db.close()  # type: ignore[attr-defined]
    with pytest.warns(RuntimeWarning, match="disk tool cache .* is unreachable") as warned:
        for _ in range(3):
            assert (await cache.call(tool, {"query": "q"}, body.runner({"query": "q"})))[1] is False
            clock.advance(2)
    assert len([w for w in warned if "unreachable" in str(w.message)]) == 1
    s = cache.stats()
    assert body.runs == 3
    assert s["degraded"] is True and s["backend_errors"] >= 3
