"""The floor: the least code that does each workload with plain asyncio.

No library, no validation, no events, no monitoring: a model function, a dict of tool
coroutines, ``asyncio.gather`` (behind a semaphore when bounded). What it costs is what
Python's asyncio itself costs; nothing built on asyncio can be cheaper by more than noise.
The cache floor is cachetools' ``TTLCache`` in front of the tool; the rate-limit floor a
ten-line token bucket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ._base import DONE, AsyncFn, CachedCall, Limiter, Side, bounded, sleeper

__all__ = ["RawAsyncio", "TokenBucket"]

Call = tuple[str, dict[str, Any]]


async def _loop(model: Callable[[list[dict[str, Any]]], tuple[str, list[Call]]],
                tools: dict[str, Callable[..., Awaitable[Any]]], task: str) -> str:
    """A minimal agent loop: ask the model; run its tool calls concurrently; repeat."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
    while True:
        text, calls = model(messages)
        messages.append({"role": "assistant", "content": text, "calls": calls})
        if not calls:
            return text
        results = await asyncio.gather(*(tools[name](**args) for name, args in calls))
        for (name, _), result in zip(calls, results, strict=True):
            messages.append({"role": "tool", "name": name, "content": result})


def _scripted(calls: list[Call]) -> Callable[[list[dict[str, Any]]], tuple[str, list[Call]]]:
    def model(messages: list[dict[str, Any]]) -> tuple[str, list[Call]]:
        if messages[-1]["role"] == "tool" or not calls:
            return DONE, []
        return "", list(calls)

    return model


class TokenBucket:
    """A continuously refilled bucket; waiters sleep exactly as long as they must."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.rate = per_second
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.last = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        now = time.monotonic()
        tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if tokens >= 1 and not self.lock.locked():
            self.tokens = tokens - 1
            return
        self.tokens = tokens
        async with self.lock:  # first come, first served
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
                self.last = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


class RawAsyncio(Side):
    def __init__(self) -> None:
        super().__init__(
            key="floor", label="raw asyncio (floor)", distributions=("cachetools",),
            notes={
                "model": "a plain function returning (text, calls)",
                "bound": "asyncio.Semaphore around each tool coroutine",
                "cache": "cachetools.TTLCache(maxsize=1e6, ttl=300) in front of the tool",
                "limiter": "a 20-line token bucket (monotonic clock, FIFO lock, exact sleep)",
            },
        )

    def _noop(self, x: int) -> Awaitable[int]:
        async def noop() -> int:
            self.tool_runs += 1
            return x

        return noop()

    def agent_run(self, k: int) -> AsyncFn:
        model = _scripted([("noop", {"x": i}) for i in range(k)])
        tools = {"noop": self._noop}
        return lambda: _loop(model, tools, "go")

    def fan_out(self, n: int, bound: int, delay: float) -> AsyncFn:
        body = bounded(sleeper(delay, self), bound if bound < n else None)
        model = _scripted([("sleepy", {"x": i}) for i in range(n)])
        return lambda: _loop(model, {"sleepy": body}, "go")

    def four_tools(self, *, parallel: bool) -> AsyncFn:
        body = bounded(sleeper(0.1, self), None if parallel else 1)
        names = ["search", "weather", "calculator", "translator"]
        model = _scripted([(n, {"x": i}) for i, n in enumerate(names)])
        return lambda: _loop(model, dict.fromkeys(names, body), "go")

    def stream(self, pieces: list[str]) -> AsyncFn:
        async def gen() -> AsyncIterator[str]:
            for p in pieces:
                yield p

        async def run() -> int:
            count = 0
            async for _ in gen():
                count += 1
            return count

        return run

    def batch(self, n: int, bound: int) -> AsyncFn:
        model = _scripted([])
        sem = asyncio.Semaphore(bound)

        async def one() -> str:
            async with sem:
                return await _loop(model, {}, "go")

        async def run() -> list[str]:
            return await asyncio.gather(*(one() for _ in range(n)))

        return run

    def cached_tool(self, latency: float) -> CachedCall:
        from cachetools import TTLCache

        cache: TTLCache[tuple[str, int], object] = TTLCache(maxsize=1_000_000, ttl=300)
        runs = [0]

        async def lookup(x: int) -> int:
            runs[0] += 1
            if latency:
                await asyncio.sleep(latency)
            return x * 2

        missing = object()

        async def call(x: int) -> object:
            key = ("lookup", x)
            value = cache.get(key, missing)
            if value is missing:
                value = cache[key] = await lookup(x)
            return value

        return CachedCall(call, lambda: runs[0], "cachetools.TTLCache get/set around the tool")

    def limiter(self, per_second: float, burst: int) -> Limiter:
        bucket = TokenBucket(per_second, burst)
        return Limiter(bucket.acquire, "a minimal token bucket")
