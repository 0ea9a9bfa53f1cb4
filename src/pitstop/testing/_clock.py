"""`FakeClock`: time that moves only when a test says so."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pitstop.errors import ConfigError

__all__ = ["FakeClock", "FakeTimer"]


class FakeTimer:
    """A callback armed by `FakeClock.call_later`; `cancel` disarms it."""

    __slots__ = ("_callback", "_done", "_future", "when")

    def __init__(
        self,
        when: float,
        callback: Callable[[], object],
        future: asyncio.Future[None] | None = None,
    ) -> None:
        self.when = when
        """The fake time it fires at."""
        self._callback = callback
        self._future = future  # a sleeper's: once it is done (cancelled), so is the timer
        self._done = False

    @property
    def cancelled(self) -> bool:
        """True once cancelled or fired (it will not fire again)."""
        return self._done or (self._future is not None and self._future.done())

    def cancel(self) -> None:
        self._done = True

    def _fire(self) -> None:
        if not self.cancelled:
            self._done = True
            self._callback()


class FakeClock:
    """Time that moves only when a test says so, for every place pitstop takes a clock.

    Pass the clock itself where pitstop asks for ``clock=`` (it is a function returning
    seconds), ``clock.sleep`` where it asks for ``sleep=`` (`FunctionLLM`,
    `SimulatedLLM`, `OpenAIClient`, the Governor's buckets) and ``clock.call_later``
    where it arms timers (`pitstop.notebook.StreamView`). Nothing waits for real time:

    * `advance` moves time at once, firing due timers in order, each at its own moment,
      and waking due sleepers (they run when the test next yields to the loop);
    * ``await`` `run_for` moves time step by step, letting each woken sleeper run at its
      own moment before the clock moves on;
    * ``await`` `run` runs awaitables to the end, jumping from one wake-up to the next
      (an "autojump" clock), and fails clearly on a deadlock.

    ::

        clock = FakeClock()
        agent = HybridAgent("a", SimulatedLLM(sleep=clock.sleep), tools=["search"])
        [result] = await clock.run(agent.execute_task("Search for Python news"))

    Args:
        start: the time it reads at first, in seconds.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        """The current fake time in seconds; a test may also set it directly."""
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now!r}, pending={self.pending})"

    # -- what pitstop calls ---------------------------------------------------------

    def call_later(self, delay: float, callback: Callable[[], object]) -> FakeTimer:
        """Arm `callback` to run once the clock has moved `delay` seconds on."""
        timer = FakeTimer(self.now + max(0.0, delay), callback)
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has moved `seconds` on (a zero sleep yields once)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = FakeTimer(self.now + seconds, lambda: future.set_result(None), future)
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        await future

    # -- what tests call ------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Timers and sleepers armed and not yet fired or cancelled."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)

    def next_wake(self) -> float | None:
        """When the next armed timer or sleeper is due, or None when none is."""
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def _fire_due(self) -> None:
        while self._timers and self._timers[0][0] <= self.now:
            _, _, timer = heapq.heappop(self._timers)
            timer._fire()

    def advance(self, seconds: float) -> None:
        """Move time on by `seconds` at once, firing what falls due at its own moment."""
        if seconds < 0:
            raise ConfigError(
                f"FakeClock cannot go back in time: advance({seconds!r}); use a step >= 0."
            )
        self.advance_to(self.now + seconds)

    def advance_to(self, when: float) -> None:
        """Move time on to `when` (never back), firing what falls due at its own moment."""
        while (wake := self.next_wake()) is not None and wake <= when:
            self.now = max(self.now, wake)
            self._fire_due()
        self.now = max(self.now, when)

    @staticmethod
    async def settle(rounds: int = 30) -> None:
        """Let every runnable task run until it blocks again (yields `rounds` times)."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def run_for(self, seconds: float) -> None:
        """Move time on by `seconds`, letting each woken task run before time moves on."""
        if seconds < 0:
            raise ConfigError(
                f"FakeClock cannot go back in time: run_for({seconds!r}); use a step >= 0."
            )
        target = self.now + seconds
        await self.settle()
        while (wake := self.next_wake()) is not None and wake <= target:
            self.now = max(self.now, wake)
            self._fire_due()
            await self.settle()
        self.now = max(self.now, target)
        await self.settle()

    async def run(
        self,
        *aws: Awaitable[Any],
        limit: float = 3600.0,
        real_timeout: float = 5.0,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Run `aws` concurrently on fake time, jumping to each next wake-up; their results.

        When every task waits and nothing is armed on the clock, they wait for something
        outside fake time (a thread, a socket): `run` gives that up to `real_timeout`
        real seconds to wake a task or arm the clock before calling it a deadlock.

        Raises:
            RuntimeError: a deadlock (see above), or the tasks are still running after
                `limit` fake seconds.
        """
        tasks = [asyncio.ensure_future(a) for a in aws]
        deadline = self.now + limit
        try:
            while True:
                await self.settle()
                if all(t.done() for t in tasks):
                    break
                wake = self.next_wake()
                if wake is None:
                    await self._wait_outside(tasks, real_timeout)
                    continue
                if wake > deadline:
                    raise RuntimeError(f"FakeClock.run: still running after {limit} fake seconds")
                await self.run_for(max(0.0, wake - self.now))
        finally:
            for t in tasks:
                if not t.done():
                    t.cancel()
            if any(not t.done() for t in tasks):
                await asyncio.wait(tasks)
        if return_exceptions:
            return [t.exception() or t.result() for t in tasks]
        return [t.result() for t in tasks]

    async def _wait_outside(
        self, tasks: Sequence[asyncio.Future[Any]], real_timeout: float
    ) -> None:
        """Wait (in real time) until a task is done or the clock has something armed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + real_timeout
        while self.next_wake() is None and not any(t.done() for t in tasks):
            if loop.time() > deadline:
                raise RuntimeError(
                    f"FakeClock.run: deadlock, every task waits, nothing is armed on the "
                    f"clock and nothing else woke a task in {real_timeout} real seconds "
                    "(is something sleeping on real time, or waiting for an event never set?)"
                )
            await asyncio.sleep(0.001)  # let a thread or a socket finish
