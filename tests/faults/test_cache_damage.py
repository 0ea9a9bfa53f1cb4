"""Defect 5: a damaged cache entry is a miss (dropped, counted, warned once), never a failure."""

from __future__ import annotations

import pickle
import sqlite3
import warnings
from pathlib import Path

import pytest
from tests.cache.conftest import Counted, make_tool

from pitstop._cache import CacheConfig, ToolCache
from pitstop._cache.keys import make_key
from pitstop.testing import FakeClock


class _Planted:
    """Pickle bytes that would create a file if anything ever unpickled them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        return (open, (str(self.path), "w"))


async def test_damaged_disk_rows_are_misses_and_invalidation_skips_them(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Garbage in a disk row's value, latency or labels: a counted miss, then cached again."""
    path = tmp_path / "c.sqlite3"
    cache = ToolCache(CacheConfig(backend="disk", path=path), clock=clock)
    tool, body = make_tool(), Counted()
    damages = [("value", "{garbage"), ("value", "[1, 2"), ("latency", "slow"),
               ("labels", "not json"), ("labels", '{"a": 1}')]
    db = sqlite3.connect(path, isolation_level=None)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i, (column, bad) in enumerate(damages):
                args = {"query": f"q{i}"}
                await cache.call(tool, args, body.runner(args))
                db.execute(f"UPDATE entries SET {column} = ? WHERE key = ?",
                           (bad, make_key("search", args)))
                value, cached = await cache.call(tool, args, body.runner(args))
                assert cached is False and value["args"] == args
                assert (await cache.call(tool, args, body.runner(args)))[1] is True
            stats = cache.stats()
            assert stats["corrupt"] == len(damages)
            assert stats["degraded"] is False and stats["backend_errors"] == 0
            damage_warnings = [w for w in caught if "damaged" in str(w.message)]
            assert len(damage_warnings) == 1 and str(path) in str(damage_warnings[0].message)
            assert not [w for w in caught if "unreachable" in str(w.message)]
            # invalidation removes what it cannot read instead of crashing on it
            db.execute("UPDATE entries SET labels = 'garbage' WHERE key = ?",
                       (make_key("search", {"query": "q0"}),))
            assert cache.invalidate(pattern="query:q1") == 2
            assert cache.stats()["size"] == len(damages) - 2
    finally:
        db.close()
        await cache.aclose()


@pytest.mark.redis
async def test_values_planted_in_redis_are_misses_and_never_unpickled(
    redis_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Pickle bytes, garbage, a JSON list, a partial object, a wrong type: counted misses."""
    import redis

    cache = ToolCache(CacheConfig(backend="redis", redis_url=redis_url, namespace="n"),
                      clock=clock)
    tool, body = make_tool(), Counted()
    admin = redis.Redis.from_url(redis_url)
    marker = tmp_path / "unpickled"
    plants: list[tuple[str, object]] = [
        ("set", pickle.dumps(_Planted(marker))),
        ("set", b"\x00\xffgarbage"),
        ("set", b"[1, 2, 3]"),
        ("set", b'{"v": {"x": 1}}'),
        ("set", b'{"l": "slow", "b": ["search"], "v": 1}'),
        ("hash", {"a": "b"}),
    ]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i, (how, planted) in enumerate(plants):
                args = {"query": f"q{i}"}
                await cache.call(tool, args, body.runner(args))
                key = f"pitstop:n:v:{make_key('search', args)}"
                if how == "set":
                    admin.set(key, planted, keepttl=True)  # type: ignore[arg-type]
                else:
                    admin.delete(key)
                    admin.hset(key, mapping=planted)  # type: ignore[arg-type]
                value, cached = await cache.call(tool, args, body.runner(args))
                assert cached is False and value["args"] == args
                assert (await cache.call(tool, args, body.runner(args)))[1] is True
            admin.hset("pitstop:n:meta", make_key("search", {"query": "q0"}), b"\x80garbage")
            assert cache.invalidate(pattern="query:q1") == 2
            stats = cache.stats()
        assert stats["corrupt"] == len(plants) + 1
        assert stats["degraded"] is False and stats["backend_errors"] == 0
        assert len([w for w in caught if "damaged" in str(w.message)]) == 1
        assert not [w for w in caught if "unreachable" in str(w.message)]
        assert not marker.exists()
    finally:
        admin.close()
        await cache.aclose()
