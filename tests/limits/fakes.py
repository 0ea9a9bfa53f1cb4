"""A fake clock with a matching sleep, advanced by hand or run to completion."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import Any


class FakeClock:
    """Time that moves only when a test says so.

    ``clock()`` reads it; ``await clock.sleep(s)`` parks the caller until the clock has
    been advanced past ``now + s``. `advance` moves time step by step, waking each
    sleeper at its own moment; `run` advances from wake-up to wake-up until the given
    awaitables finish (an "autojump" clock).
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._seq), fut))
        await fut

    def _next_wake(self) -> float | None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)  # cancelled sleeps
        return self._sleepers[0][0] if self._sleepers else None

    @staticmethod
    async def settle(rounds: int = 30) -> None:
        """Let every runnable task run until it blocks again."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking sleepers in order as it passes them."""
        target = self.now + seconds
        await self.settle()
        while (wake := self._next_wake()) is not None and wake <= target:
            self.now = max(self.now, wake)
            while self._sleepers and self._sleepers[0][0] <= self.now:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
            await self.settle()
        self.now = target
        await self.settle()

    async def run(
        self, *aws: Awaitable[Any], limit: float = 3600.0, return_exceptions: bool = False
    ) -> list[Any]:
        """Run `aws` concurrently, jumping time to each next wake-up, and return results."""
        tasks = [asyncio.ensure_future(a) for a in aws]
        deadline = self.now + limit
        try:
            while True:
                await self.settle()
                if all(t.done() for t in tasks):
                    break
                wake = self._next_wake()
                if wake is None:
                    raise RuntimeError("deadlock: tasks are blocked and nobody sleeps")
                if wake > deadline:
                    raise RuntimeError(f"still running after {limit} fake seconds")
                await self.advance(max(0.0, wake - self.now))
        finally:
            for t in tasks:
                if not t.done():
                    t.cancel()
        if return_exceptions:
            return [t.exception() or t.result() for t in tasks]
        return [t.result() for t in tasks]
