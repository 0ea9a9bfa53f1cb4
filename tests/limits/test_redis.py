"""Shared limits in a real redis-server: the Lua bucket, claims, and two OS processes."""

from __future__ import annotations

import asyncio
import json
import math
import mmap
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

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
        timeout=30,  # real seconds: a slow machine's round trip is no outage
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


async def test_processes_that_keep_asking_take_turns(client: aioredis.Redis) -> None:
    """When the claim holder is served, the claim passes to the process refused behind it,
    so a process whose queue never empties does not starve another one."""
    clock = FakeClock(start=100.0)
    a, b = gate(client, clock, per_minute=60, capacity=1), gate(client, clock, per_minute=60,
                                                                 capacity=1)
    assert await a.attempt(1) == 0.0
    assert await a.attempt(1) == pytest.approx(1.0)  # A claims the next token
    assert await b.attempt(1) == pytest.approx(2.0)  # B is next in line
    for turn in (a, b, a):
        clock.now += 1
        assert await turn.attempt(1) == 0.0  # served: the claim passes to the other
        assert await turn.attempt(1) > 0  # its next request waits for its turn
    clock.now += 1
    assert await a.attempt(1) > 0 and await b.attempt(1) == 0.0


async def test_a_claim_lapses_when_its_holder_stops_asking(client: aioredis.Redis) -> None:
    """A dead process's claim does not block the others beyond a short slack."""
    clock = FakeClock(start=100.0)
    a, b = gate(client, clock), gate(client, clock)
    await a.attempt(60)
    assert await a.attempt(50) == pytest.approx(50.0)
    clock.now += 50 + CLAIM_SLACK_S + 0.01
    assert await b.attempt(10) == 0.0


def limits(url: str, **kw: object) -> ResourceLimits:
    # redis_timeout: a slow machine's round trip must not pass for a Redis outage
    return ResourceLimits(redis_url=url, namespace="test", redis_timeout=30, **kw)


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
                redis_timeout=30,
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
        # Real time (the bucket runs on the Redis server's clock): the upper bound leaves a
        # loaded machine room and stays below the CLAIM_SLACK_S a lapsing claim would take.
        assert 0.05 <= time.monotonic() - t0 < CLAIM_SLACK_S - 0.1
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
        # The claim is dropped in the background; left alone it would lapse only in 47 s.
        deadline = asyncio.get_running_loop().time() + 20
        while await claim_in_redis(client):
            assert asyncio.get_running_loop().time() < deadline, (
                "the cancelled waiter's claim still blocks other processes"
            )
            await asyncio.sleep(0.01)
        await b.reserve_tokens(4)
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
import asyncio, json, math, mmap, struct, sys
from pitstop import ResourceLimits
from pitstop._limits import Governor

url, path, me = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, "r+b") as f:
    shared = mmap.mmap(f.fileno(), 24)  # [fake now, state of worker 0, state of worker 1]
BUSY = -1.0
sleepers = 0

def clock():
    return struct.unpack_from("d", shared, 0)[0]

def state(value):
    struct.pack_into("d", shared, 8 * (1 + me), value)

async def sleep(seconds):
    # Publish the wake-up time: the test moves the clock only while both workers sleep.
    # Only the head of the queue sleeps (no wait timeout: the others wait for their turn).
    global sleepers
    sleepers += 1
    assert sleepers == 1, "one sleeper per worker: its state is the worker's"
    until = clock() + seconds
    state(until)
    try:
        while clock() < until:
            await asyncio.sleep(0.0005)
    finally:
        state(BUSY)
        sleepers -= 1

async def main():
    g = Governor(ResourceLimits(max_tool_calls_per_minute=1200, tool_call_burst_size=5,
                                redis_url=url, namespace="procs", redis_timeout=30,
                                resource_wait_timeout_seconds=None),
                 clock=clock, sleep=sleep)
    await g.acquire_tool_call()  # at fake time 0: imports, connects, loads the script
    print("ready", flush=True)
    start_at, end_at = map(float, sys.stdin.readline().split())
    times = []
    async def requester():
        while True:
            await g.acquire_tool_call()
            now = clock()
            if now >= end_at:
                return
            times.append(now)
    try:
        await asyncio.wait_for(asyncio.gather(*(requester() for _ in range(3))), 60)
    finally:
        state(math.inf)  # done: no longer holds the clock back
        await g.aclose()
    print(json.dumps(times))

asyncio.run(main())
"""


def run_on_shared_fake_clock(
    procs: list[subprocess.Popen[str]], shared: mmap.mmap, *, real_timeout: float
) -> None:
    """Move the workers' fake clock to the earliest wake-up whenever every worker sleeps
    (none is busy, none has a wake-up due), until all are done."""
    deadline = time.monotonic() + real_timeout
    while True:
        now, *states = struct.unpack_from(f"{1 + len(procs)}d", shared, 0)
        if all(s == math.inf for s in states):
            return
        if all(s > now for s in states):  # all asleep (BUSY is -1, a due wake-up <= now)
            struct.pack_into("d", shared, 0, min(states))
        for p, s in zip(procs, states, strict=True):
            if p.poll() is not None and s != math.inf:
                pytest.fail(f"a worker died: {p.communicate()[1]}")
        assert time.monotonic() < deadline, "the workers did not finish"
        time.sleep(0.0002)


def test_two_processes_sharing_a_bucket_stay_within_the_shared_limit(
    redis_url: str, tmp_path: Path
) -> None:
    """Two OS processes, each trying to go as fast as it can against 20 calls/s (burst 5),
    are admitted no more than 20/s + 5 together, and both get a share.

    Both run on one fake clock that moves only while both sleep, so the verdict is about
    the shared bucket, not about how the machine schedules the processes."""
    path = tmp_path / "clock"
    path.write_bytes(struct.pack("3d", 0.0, -1.0, -1.0))  # time 0, both workers busy
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, redis_url, str(path), str(i)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    with path.open("r+b") as f:
        shared = mmap.mmap(f.fileno(), 24)
    try:
        for p in procs:  # both have connected, and wait for the start signal
            assert p.stdout is not None
            ready = p.stdout.readline().strip()
            assert ready == "ready", p.communicate()[1]
        start_at, end_at = 100.0, 101.5
        struct.pack_into("d", shared, 0, start_at)
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(f"{start_at} {end_at}\n")
            p.stdin.flush()
        run_on_shared_fake_clock(procs, shared, real_timeout=90)
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=30)
            assert p.returncode == 0, err
            outs.append(json.loads(out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shared.close()
    print("admitted per process:", [len(o) for o in outs])
    assert all(len(o) > 3 for o in outs), [len(o) for o in outs]
    times = sorted(t for o in outs for t in o)
    rate, burst = 20.0, 5
    assert len(times) <= burst + rate * 1.5 + 1  # one process alone could reach 35
    assert len(times) >= 0.8 * (burst + rate * (end_at - times[0]))  # the quota is used
    for i, t in enumerate(times):  # any 1-second window
        in_window = sum(1 for u in times[i:] if u < t + 1.0)
        assert in_window <= rate + burst + 1
