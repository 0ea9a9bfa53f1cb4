"""Single-flight: identical calls in flight run the tool once, on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from pitstop._cache import ToolCache

from .conftest import make_tool

MakeCache = Callable[..., ToolCache]


class Gate:
    """A tool body that blocks until released, counting starts and finishes."""

    def __init__(self, result: Any = None, error: Exception | None = None) -> None:
        self.release = asyncio.Event()
        self.started = 0
        self.finished = 0
        self.result = {"items": [1, 2]} if result is None else result
        self.error = error

    async def run(self) -> Any:
        self.started += 1
        await self.release.wait()
        self.finished += 1
        if self.error is not None:
            raise self.error
        return self.result


async def until(condition: Callable[[], bool], what: str) -> None:
    """Let the loop run until `condition` holds (Redis answers over loopback)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not condition():
        assert loop.time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.001)


def waiting(cache: ToolCache) -> int:
    """Callers waiting for a call in flight."""
    return sum(len(f.waiters) for f in cache._inflight.values())


async def test_identical_calls_in_flight_run_once(make_cache: MakeCache) -> None:
    """Five identical concurrent calls run the tool once; each gets its own copy."""
    cache = make_cache()
    tool, gate = make_tool(), Gate()
    calls = [asyncio.create_task(cache.call(tool, {"query": "q"}, gate.run)) for _ in range(5)]
    await until(lambda: waiting(cache) == 4, "four callers wait")
    assert cache.stats()["in_flight"] == 1
    gate.release.set()
    results = await asyncio.gather(*calls)
    assert gate.started == 1
    assert sorted(cached for _, cached in results) == [False, True, True, True, True]
    values = [value for value, _ in results]
    assert all(v == {"items": [1, 2]} for v in values)
    values[1]["items"].append(3)
    assert values[2] == {"items": [1, 2]}, "waiters must not share one mutable object"
    s = cache.stats()
    assert (s["hits"], s["shared_hits"], s["misses"], s["in_flight"]) == (4, 4, 1, 0)
    assert [r.outcome for r in cache.trace()] == ["miss"] + ["shared"] * 4


async def test_an_error_reaches_every_waiter_and_is_not_cached(make_cache: MakeCache) -> None:
    """A failing shared run raises in every caller and leaves nothing behind."""
    cache = make_cache()
    tool, gate = make_tool(), Gate(error=RuntimeError("down"))
    calls = [asyncio.create_task(cache.call(tool, {"query": "q"}, gate.run)) for _ in range(3)]
    await until(lambda: waiting(cache) == 2, "two callers wait")
    gate.release.set()
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert gate.started == 1
    s = cache.stats()
    assert (s["size"], s["errors"], s["hits"], s["in_flight"]) == (0, 3, 0, 0)


async def test_cancelling_a_waiter_leaves_the_run_alone(make_cache: MakeCache) -> None:
    """A cancelled waiter neither cancels the shared run nor the other waiters."""
    cache = make_cache()
    tool, gate = make_tool(), Gate()
    leader = asyncio.create_task(cache.call(tool, {"query": "q"}, gate.run))
    await until(lambda: gate.started == 1, "the tool runs")
    waiters = [asyncio.create_task(cache.call(tool, {"query": "q"}, gate.run)) for _ in range(2)]
    await until(lambda: waiting(cache) == 2, "two callers wait")
    waiters[0].cancel()
    await asyncio.gather(waiters[0], return_exceptions=True)
    gate.release.set()
    assert (await leader)[1] is False
    assert (await waiters[1])[1] is True
    assert waiters[0].cancelled()
    assert gate.started == gate.finished == 1


async def test_cancelling_the_running_caller_hands_the_call_to_a_waiter(
    make_cache: MakeCache,
) -> None:
    """When the caller that runs a shared call is cancelled, the waiters still get a result."""
    cache = make_cache()
    tool, gate = make_tool(), Gate()
    leader = asyncio.create_task(cache.call(tool, {"query": "q"}, gate.run))
    await until(lambda: gate.started == 1, "the tool runs")
    waiters = [asyncio.create_task(cache.call(tool, {"query": "q"}, gate.run)) for _ in range(3)]
    await until(lambda: waiting(cache) == 3, "three callers wait")
    leader.cancel()
    await asyncio.gather(leader, return_exceptions=True)
    assert leader.cancelled()
    await until(lambda: waiting(cache) == 2, "two callers wait for the new run")
    assert gate.started == 2, "one waiter runs the tool again, the others join it"
    gate.release.set()
    results = await asyncio.gather(*waiters)
    assert sorted(cached for _, cached in results) == [False, True, True]
    assert gate.finished == 1
    assert cache.stats()["in_flight"] == 0
    assert asyncio.all_tasks() == {asyncio.current_task()}, "no task left behind"


async def test_cancelling_every_caller_leaves_no_task(make_cache: MakeCache) -> None:
    """When every caller is cancelled, nothing keeps running and nothing is stored."""
    cache = make_cache()
    tool, gate = make_tool(), Gate()
    calls = [asyncio.create_task(cache.call(tool, {"query": "q"}, gate.run)) for _ in range(3)]
    await until(lambda: waiting(cache) == 2, "two callers wait")
    for c in calls:
        c.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    s = cache.stats()
    assert (s["in_flight"], s["size"]) == (0, 0)
    assert gate.finished == 0


async def test_invalidation_during_a_call_keeps_its_stale_result_out(
    make_cache: MakeCache,
) -> None:
    """A result computed before an invalidation reaches its caller but is not stored."""
    cache = make_cache()
    tool, old, new = make_tool(), Gate(result="old"), Gate(result="new")
    before = asyncio.create_task(cache.call(tool, {"query": "q"}, old.run))
    await until(lambda: old.started == 1, "the first call runs")
    assert cache.invalidate(pattern="query:q") == 0  # nothing stored yet, one call in flight
    after = asyncio.create_task(cache.call(tool, {"query": "q"}, new.run))
    await until(lambda: new.started == 1 or waiting(cache) > 0, "the second call starts")
    assert new.started == 1, "a call after the invalidation must not join the stale run"
    old.release.set()
    assert await before == ("old", False)
    new.release.set()
    assert await after == ("new", False)
    again = await cache.call(tool, {"query": "q"}, old.run)
    assert again == ("new", True)
    assert cache.stats()["uncacheable"] == {"invalidated_in_flight": 1}


async def test_clear_during_a_call_keeps_its_result_out(make_cache: MakeCache) -> None:
    """clear() also marks the calls in flight stale."""
    cache = make_cache()
    tool, gate = make_tool(), Gate(result="v")
    call = asyncio.create_task(cache.call(tool, {"query": "q"}, gate.run))
    await until(lambda: gate.started == 1, "the tool runs")
    cache.clear()
    gate.release.set()
    assert await call == ("v", False)
    assert cache.stats()["size"] == 0


@pytest.mark.parametrize("n", [2, 20])
async def test_different_keys_run_concurrently(make_cache: MakeCache, n: int) -> None:
    """Calls with different keys never wait for each other."""
    cache = make_cache()
    tool, gate = make_tool(), Gate(result="r")
    calls = [asyncio.create_task(cache.call(tool, {"query": str(i)}, gate.run))
             for i in range(n)]
    await until(lambda: gate.started == n, "every call runs")
    assert waiting(cache) == 0
    gate.release.set()
    assert all(not cached for _, cached in await asyncio.gather(*calls))
