"""Fixtures of the cache tests: a fake clock, tools, and one cache per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from pitstop._cache import CacheConfig, ToolCache
from pitstop._tools.base import Tool
from pitstop.testing import FakeClock


class Counted:
    """A tool body that counts its runs and returns a fresh result each time."""

    def __init__(self, result: Callable[..., Any] | None = None) -> None:
        self.runs = 0
        self.result = result or (lambda **kw: {"args": dict(kw), "items": [1, 2, 3]})

    def runner(self, arguments: dict[str, Any]) -> Callable[[], Any]:
        async def run() -> Any:
            self.runs += 1
            return self.result(**arguments)

        return run


def make_tool(name: str = "search", *, cost: float | None = 0.5, cacheable: bool = True) -> Tool:
    def fn(query: str = "", limit: int = 3) -> dict[str, Any]:
        return {}

    return Tool(fn, name=name, cost=cost, cacheable=cacheable)


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at t = 1000 s, moved by hand."""
    return FakeClock(start=1_000.0)


BACKENDS = [
    "memory",
    "disk",
    pytest.param("redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=BACKENDS)
def backend_config(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., CacheConfig]:
    """Builds a CacheConfig for the parametrised backend (memory, disk, redis)."""
    backend = request.param
    extra: dict[str, Any] = {}
    if backend == "disk":
        extra = {"backend": "disk", "path": tmp_path / "cache.sqlite3"}
    elif backend == "redis":
        extra = {"backend": "redis", "redis_url": request.getfixturevalue("redis_url")}

    def build(**fields: Any) -> CacheConfig:
        return CacheConfig(**{**extra, **fields})

    return build


@pytest.fixture
async def make_cache(
    backend_config: Callable[..., CacheConfig], clock: FakeClock
) -> AsyncIterator[Callable[..., ToolCache]]:
    """Builds ToolCaches on the parametrised backend with the fake clock; closes them."""
    made: list[ToolCache] = []

    def build(config: CacheConfig | None = None, **fields: Any) -> ToolCache:
        cache = ToolCache(config or backend_config(**fields), clock=clock, namespace="test")
        made.append(cache)
        return cache

    yield build
    for cache in made:
        await cache.aclose()
