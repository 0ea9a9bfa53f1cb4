"""Shared limits in a real redis-server: the Lua bucket, claims, and two OS processes."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pitstop import RateLimitExceeded, ResourceLimits
from pitstop._limits import Governor, TokenBucket
from pitstop._limits.redis_bucket import CLAIM_SLACK_S, RedisBucketGate
from pitstop.llm._base import RateLimitInfo
from pitstop.testing import FakeClock

pytestmark = pytest.mark.redis


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.from_url(redis_url)
    yield c
    await c.aclose()


def gate(
    client: aioredis.Redis,
    clock: FakeClock,
    *,
    per_minute: int = 60,
    capacity: int = 60,
    key: str = "t:limits:x",
) -> RedisBucketGate:
    return RedisBucketGate(
        "max_tokens_per_minute",
        client=client,
        key=key,
        url="redis://test",
        per_minute=per_minute,
        capacity=capacity,
        clock=clock,
        sleep=clock.sleep,
        bucket_clock=clock,
    )


async def test_script_refills_continuously_and_reports_exact_delays(
    client: aioredis.Redis,
) -> None:
    """The Lua bucket starts full, refills at rate/60 per second, and says how long to wait."""
    clock = FakeClock(start=1000.0)
    g = gate(client, clock)
    assert await g.attempt(60) == 0.0
    assert await g.attempt(10) == pytest.approx(10.0)
    clock.now += 10
    assert await g.attempt(10) == 0.0
    assert g.level == pytest.approx(0.0)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.tuples(
            st.floats(0, 5, allow_nan=False),
            st.sampled_from(["take", "take", "adjust", "clamp", "pause"]),
            st.floats(-20, 40, allow_nan=False),
        ),
        min_size=1,
        max_size=25,
    )
)
async def test_redis_bucket_matches_the_local_bucket(
    client: aioredis.Redis, ops: list[tuple[float, str, float]]
) -> None:
    """Any sequence of takes, settlements, clamps and pauses leaves the Redis bucket at the
    same level, with the same answers, as the in-process TokenBucket."""
    await client.flushdb()
    clock = FakeClock(start=500.0)
    g = gate(client, clock, per_minute=120, capacity=50)
    local = TokenBucket(2.0, 50, now=clock.now)
    for gap, op, x in ops:
        clock.now += gap
        if op == "take":
            n = min(abs(x), 50)
            assert await g.attempt(n) == pytest.approx(local.try_take(n, clock.now), abs=1e-6)
        elif op == "adjust":
            await g._call("adjust", x)
            (local.debit(x, clock.now) if x > 0 else local.credit(-x, clock.now))
        elif op == "clamp":
            await g._call("clamp", abs(x))
            local.clamp(abs(x), clock.now)
        else:
            await g._call("pause", abs(x) / 10)
            local.pause(abs(x) / 10, clock.now)
        assert g.level == pytest.approx(local.level, abs=1e-6)


async def test_a_claim_keeps_room_for_a_big_request_of_another_process(
    client: aioredis.Redis,
) -> None:
    """Process A's waiting 50-token request is served before process B's 1-token ones."""
    clock = FakeClock(start=100.0)
    a, b = gate(client, clock), gate(client, clock)
    assert await a.attempt(60) == 0.0
    assert await a.attempt(50) == pytest.approx(50.0)  # A now holds the claim
    clock.now += 10
    assert await b.attempt(1) == pytest.approx(41.0)  # must leave 50 for A
    clock.now += 40
    assert await b.attempt(1) > 0  # 50 tokens are there, but they are A's
    assert await a.attempt(50) == 0.0
    clock.now += 1
    assert await b.attempt(1) == 0.0


async def test_a_claim_lapses_when_its_holder_stops_asking(client: aioredis.Redis) -> None:
    """A dead process's claim does not block the others beyond a short slack."""
    clock = FakeClock(start=100.0)
    a, b = gate(client, clock), gate(client, clock)
    await a.attempt(60)
    assert await a.attempt(50) == pytest.approx(50.0)
    clock.now += 50 + CLAIM_SLACK_S + 0.01
    assert await b.attempt(10) == 0.0


def limits(url: str, **kw: object) -> ResourceLimits:
    return ResourceLimits(redis_url=url, namespace="test", **kw)


async def test_two_governors_share_one_bucket(redis_url: str) -> None:
    """What one agent's Governor took, another's cannot take again."""
    a = Governor(limits(redis_url, max_tokens_per_minute=600, reject_on_limit=True))
    b = Governor(limits(redis_url, max_tokens_per_minute=600, reject_on_limit=True))
    try:
        await a.reserve_tokens(550)
        with pytest.raises(RateLimitExceeded, match="max_tokens_per_minute=600: asked for 100"):
            await b.reserve_tokens(100)
        assert b.usage()["shared"] == {"redis_url": redis_url, "namespace": "test"}
        other = Governor(
            ResourceLimits(
                redis_url=redis_url,
                namespace="other",
                max_tokens_per_minute=600,
                reject_on_limit=True,
            )
        )
        await other.reserve_tokens(600)  # another namespace is another quota
        await other.aclose()
    finally:
        await a.aclose()
        await b.aclose()


async def test_concurrent_requests_with_room_are_neither_refused_nor_reported(
    redis_url: str,
) -> None:
    """Requests queued only behind each other's round trips to Redis are not rejected in
    reject mode and do not count as limit waits."""
    g = Governor(limits(redis_url, max_tool_calls_per_minute=6000, reject_on_limit=True))
    try:
        results = await asyncio.gather(*(g.acquire_tool_call() for _ in range(20)))
        assert results == [()] * 20
        assert g.usage()["total_waits"] == 0
    finally:
        await g.aclose()


async def test_settlement_and_429_pauses_reach_every_process(redis_url: str) -> None:
    """A refund settled by one Governor and a 429 observed by it apply to the others."""
    a = Governor(limits(redis_url, max_tokens_per_minute=6000, reject_on_limit=True))
    b = Governor(limits(redis_url, max_tokens_per_minute=6000, reject_on_limit=True))
    try:
        r = await a.reserve_tokens(6000)
        a.settle_tokens(r, 1000)
        await a.aclose()  # waits for the background update
        await b.reserve_tokens(4000)
        a2 = Governor(limits(redis_url, max_tokens_per_minute=6000))
        a2.observe(RateLimitInfo(retry_after_s=30))
        await a2.aclose()
        with pytest.raises(RateLimitExceeded, match="asked for 1 tokens"):
            await b.reserve_tokens(1)
    finally:
        await b.aclose()


async def test_waiting_for_a_shared_bucket_takes_the_refill_time(redis_url: str) -> None:
    """A Governor waiting on Redis is admitted when the shared bucket has refilled."""
    g = Governor(limits(redis_url, max_tool_calls_per_minute=600, tool_call_burst_size=1))
    try:
        await g.acquire_tool_call()
        t0 = time.monotonic()
        waits = await g.acquire_tool_call()  # 10 a second: about 0.1 s
        assert 0.05 <= time.monotonic() - t0 < 1.0
        assert waits and waits[0].limit == "max_tool_calls_per_minute"
    finally:
        await g.aclose()


async def claim_in_redis(client: aioredis.Redis) -> bool:
    """Whether the shared token bucket holds a waiter's claim."""
    keys = await client.keys("*limits:max_tokens_per_minute")
    return bool(keys) and bool(await client.hget(keys[0], "claim"))


async def test_a_cancelled_shared_waiter_drops_its_claim(
    redis_url: str, client: aioredis.Redis
) -> None:
    """Cancelling a waiting request leaves no claim behind to block other processes."""
    a = Governor(limits(redis_url, max_tokens_per_minute=60))
    b = Governor(limits(redis_url, max_tokens_per_minute=60, reject_on_limit=True))
    try:
        await a.reserve_tokens(55)
        waiter = asyncio.ensure_future(a.reserve_tokens(50))  # claims 50, needs 45 s
        deadline = asyncio.get_running_loop().time() + 5
        while not await claim_in_redis(client):  # each check is a round trip to Redis
            assert asyncio.get_running_loop().time() < deadline, "the waiter never claimed"
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        for _ in range(50):  # the claim is dropped in the background
            await asyncio.sleep(0.01)
            try:
                await b.reserve_tokens(4)
                break
            except RateLimitExceeded:
                continue
        else:
            pytest.fail("the cancelled waiter's claim still blocks other processes")
    finally:
        await a.aclose()
        await b.aclose()


async def test_an_unreachable_redis_is_a_clear_error(redis_url: str) -> None:
    """A Redis that does not answer gives RateLimitExceeded saying where and what to do."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    g = Governor(ResourceLimits(max_tokens_per_minute=60, redis_url=f"redis://127.0.0.1:{port}/0"))
    try:
        with pytest.raises(RateLimitExceeded, match="lives in Redis at redis://127.0.0.1"):
            await g.reserve_tokens(5)
        assert g.usage()["limits"]["max_tokens_per_minute"]["redis_errors"] == 1
    finally:
        await g.aclose()


_WORKER = """
import asyncio, json, sys, time
from pitstop import ResourceLimits
from pitstop._limits import Governor

url = sys.argv[1]
print("ready", flush=True)
start_at, end_at = map(float, sys.stdin.readline().split())

async def main():
    g = Governor(ResourceLimits(max_tool_calls_per_minute=1200, tool_call_burst_size=5,
                                redis_url=url, namespace="procs"))
    times = []
    async def requester():
        while True:
            await g.acquire_tool_call()
            now = time.time()
            if now >= end_at:
                return
            times.append(now)
    while time.time() < start_at:
        await asyncio.sleep(0.005)
    try:
        await asyncio.wait_for(asyncio.gather(*(requester() for _ in range(3))),
                               end_at - time.time() + 5)
    finally:
        await g.aclose()
    print(json.dumps(times))

asyncio.run(main())
"""


def test_two_processes_sharing_a_bucket_stay_within_the_shared_limit(redis_url: str) -> None:
    """Two OS processes, each trying to go as fast as it can against 20 calls/s (burst 5),
    are admitted no more than 20/s + 5 together, and both get a share."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, redis_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:  # both have imported everything and wait for the start signal
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    start_at = time.time() + 0.2
    end_at = start_at + 1.5
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(f"{start_at} {end_at}\n")
        p.stdin.flush()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        outs.append(json.loads(out))
    print("admitted per process:", [len(o) for o in outs])
    assert all(len(o) > 3 for o in outs), [len(o) for o in outs]
    times = sorted(t for o in outs for t in o)
    rate, burst = 20.0, 5
    assert len(times) <= burst + rate * 1.5 + 1  # one process alone could reach 35
    assert len(times) >= 0.8 * (burst + rate * (end_at - times[0]))  # the quota is used
    for i, t in enumerate(times):  # any 1-second window
        in_window = sum(1 for u in times[i:] if u < t + 1.0)
        assert in_window <= rate + burst + 1
