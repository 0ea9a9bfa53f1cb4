"""FakeClock: timers, sleeps and whole runs on time that moves only when told."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pitstop.testing import FakeClock


def test_advance_fires_due_timers_in_order_each_at_its_own_time() -> None:
    """Timers fire in the order they fall due, each seeing the clock at its own moment."""
    clock = FakeClock(start=10.0)
    seen: list[tuple[str, float]] = []
    clock.call_later(0.3, lambda: seen.append(("c", clock())))
    clock.call_later(0.1, lambda: seen.append(("a", clock())))
    late = clock.call_later(0.2, lambda: seen.append(("b", clock())))
    late.cancel()
    clock.call_later(5.0, lambda: seen.append(("later", clock())))
    clock.advance(1.0)
    assert seen == [("a", 10.1), ("c", 10.3)]
    assert clock.now == 11.0 and clock.pending == 1
    clock.advance_to(20.0)
    assert seen[-1] == ("later", 15.0) and clock.pending == 0


def test_time_never_goes_back() -> None:
    """A negative step is refused; advance_to an earlier time leaves the clock as it is."""
    clock = FakeClock(start=5.0)
    with pytest.raises(ValueError, match="cannot go back in time"):
        clock.advance(-1)
    clock.advance_to(1.0)
    assert clock() == 5.0


async def test_run_for_lets_each_sleeper_run_at_its_own_moment() -> None:
    """Sleepers wake in order and see the time they asked for, not the end of the step."""
    clock = FakeClock()
    woke: list[tuple[int, float]] = []

    async def sleeper(n: int, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((n, clock.now))

    tasks = [asyncio.ensure_future(sleeper(n, s)) for n, s in [(1, 0.5), (2, 0.2), (3, 2.0)]]
    await clock.run_for(1.0)
    assert woke == [(2, 0.2), (1, 0.5)] and clock.now == 1.0
    await clock.run_for(1.0)
    assert woke[-1] == (3, 2.0)
    await asyncio.gather(*tasks)


async def test_a_cancelled_sleep_leaves_nothing_armed() -> None:
    """Cancelling a sleeper disarms its wake-up at once."""
    clock = FakeClock()
    task = asyncio.ensure_future(clock.sleep(10))
    await clock.settle()
    assert clock.pending == 1
    task.cancel()
    assert clock.pending == 0 and clock.next_wake() is None
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_run_jumps_from_wake_up_to_wake_up() -> None:
    """run() finishes hour-long sleeps at once and returns the results in order."""
    clock = FakeClock()

    async def nap(seconds: float, value: str) -> str:
        await clock.sleep(seconds)
        return value

    assert await clock.run(nap(3600, "long"), nap(1, "short")) == ["long", "short"]
    assert clock.now == 3600


async def test_run_waits_for_work_outside_fake_time() -> None:
    """A task waiting on a thread is not a deadlock: run() gives it real time to finish."""
    clock = FakeClock()
    done = threading.Event()

    async def in_thread() -> str:
        await asyncio.to_thread(done.wait, 5)
        await clock.sleep(2)
        return "ok"

    threading.Timer(0.01, done.set).start()
    assert await clock.run(in_thread()) == ["ok"]
    assert clock.now == 2


async def test_run_names_a_deadlock() -> None:
    """Tasks that wait for an event nobody sets fail clearly instead of hanging."""
    clock = FakeClock()
    never = asyncio.Event()
    with pytest.raises(RuntimeError, match="deadlock"):
        await clock.run(never.wait(), real_timeout=0.05)


async def test_run_stops_at_its_limit() -> None:
    """A run still sleeping after `limit` fake seconds is stopped with a clear error."""
    clock = FakeClock()
    with pytest.raises(RuntimeError, match="still running after 10 fake seconds"):
        await clock.run(clock.sleep(60), limit=10)
