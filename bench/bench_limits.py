"""Benchmarks of pitstop's resource limits; every figure is measured in this run.

    .venv/bin/python bench/bench_limits.py [--quick]

1. Accuracy: 300 concurrent requesters share 400 requests (burst + 3 s of rate) against
   100/s with a burst of 100, in real time. Reported: admitted per 1-second window, the
   most admitted in any sliding 1-second window (bound: rate + burst), and when the last
   one got through (ideal: 3.0 s). aiolimiter and langchain_core's InMemoryRateLimiter run
   the same workload when they are importable.
2. Overhead: an acquire that does not wait, against a bare `TokenBucket.try_take` check.
3. Utilisation of a tokens-per-minute limit under excess demand, with reservations
   settled to the real usage; the minute is scaled 60x (a clock that runs 60 times
   faster and a sleep that sleeps 1/60 of the time), so one minute takes one second.
4. Two OS processes sharing one Redis bucket stay within the shared limit (a
   redis-server is started on a free loopback port, or the part is skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from _harness import redis_server

from pitstop import ResourceLimits
from pitstop._limits import Governor, TokenBucket

RATE, BURST, SECONDS, REQUESTERS = 100, 100, 3, 300


# -- 1. accuracy ---------------------------------------------------------------------------


async def run_workload(acquire: Callable[[], Awaitable[object]]) -> list[float]:
    """300 requesters take tickets from a pool of burst + rate * 3 s; admission times."""
    pool = list(range(BURST + RATE * SECONDS))
    times: list[float] = []
    start = time.monotonic()

    async def requester() -> None:
        while pool:
            pool.pop()
            await acquire()
            times.append(time.monotonic() - start)

    await asyncio.gather(*(requester() for _ in range(REQUESTERS)))
    return sorted(times)


def describe(name: str, times: list[float]) -> None:
    windows = [sum(1 for t in times if k <= t < k + 1) for k in range(SECONDS + 1)]
    j = 0
    most = 0
    for i, t in enumerate(times):  # two pointers over the sorted times
        j = max(j, i)
        while j < len(times) and times[j] < t + 1.0:
            j += 1
        most = max(most, j - i)
    after = windows[1:SECONDS]
    ok = (
        all(abs(w - RATE) <= 5 for w in after)
        and most <= RATE + BURST
        and times[-1] <= SECONDS + 0.1
    )
    print(
        f"  {name:<28} per 1 s window {windows} (burst {BURST} + {RATE}/s; target "
        f"{RATE}±5 after the burst); max in any 1 s window {most} (bound "
        f"{RATE + BURST}); last admitted at {times[-1]:.3f} s (bound {SECONDS + 0.1}) "
        f"-> {'OK' if ok else 'MISSED'}"
    )


async def bench_accuracy() -> None:
    print(
        f"1. Accuracy: {REQUESTERS} concurrent requesters, {BURST + RATE * SECONDS} requests, "
        f"{RATE}/s with burst {BURST}, real time"
    )
    gov = Governor(
        ResourceLimits(
            max_concurrent_tasks=None,
            max_tool_calls_per_minute=RATE * 60,
            tool_call_burst_size=BURST,
        )
    )
    describe("pitstop Governor", await run_workload(gov.acquire_tool_call))
    try:
        from aiolimiter import AsyncLimiter
    except ImportError:
        print("  aiolimiter                   not installed in this environment; not compared")
    else:
        limiter = AsyncLimiter(RATE, 1.0)
        describe("aiolimiter.AsyncLimiter", await run_workload(limiter.acquire))
    try:
        from langchain_core.rate_limiters import InMemoryRateLimiter
    except ImportError:
        print("  langchain_core               not installed in this environment; not compared")
    else:
        lc = InMemoryRateLimiter(
            requests_per_second=RATE, check_every_n_seconds=0.005, max_bucket_size=BURST
        )
        describe("langchain InMemoryRateLimiter", await run_workload(lc.aacquire))


# -- 2. overhead ---------------------------------------------------------------------------


def best_of(repeats: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeats))


async def bench_overhead(n: int) -> None:
    print(f"2. Overhead of an acquire that does not wait (best of 5 x {n:,} calls, ns per call)")
    clock = time.monotonic
    bucket = TokenBucket(1e15, 1e15, now=clock())

    def bare() -> float:
        t = time.perf_counter()
        for _ in range(n):
            bucket.try_take(1, clock())
        return (time.perf_counter() - t) / n

    big = 10**12
    gov = Governor(
        ResourceLimits(
            max_concurrent_tasks=10,
            max_tokens_per_minute=big,
            max_tool_calls_per_minute=big,
            max_concurrent_tool_calls=10,
        )
    )
    rate_only = Governor(ResourceLimits(max_concurrent_tasks=None, max_tool_calls_per_minute=big))

    async def timed(body: Callable[[], Awaitable[None]]) -> float:
        t = time.perf_counter()
        for _ in range(n):
            await body()
        return (time.perf_counter() - t) / n

    async def tool_rate() -> None:
        await rate_only.acquire_tool_call()

    async def tool_both() -> None:
        await gov.acquire_tool_call()
        gov.release_tool_call()

    async def task_slot() -> None:
        await gov.acquire_task()
        gov.release_task()

    async def tokens() -> None:
        await gov.reserve_tokens(500)

    async def empty() -> None:
        return None

    r = await gov.reserve_tokens(1)

    def settle() -> float:
        t = time.perf_counter()
        for _ in range(n):
            gov.settle_tokens(r, 2)
            gov.settle_tokens(r, 1)
        return (time.perf_counter() - t) / (2 * n)

    base = best_of(5, bare)
    loop_cost = min([await timed(empty) for _ in range(5)])
    print(f"  bare TokenBucket.try_take + clock()      {base * 1e9:7.0f} ns")
    print(f"  empty coroutine await (loop cost)        {loop_cost * 1e9:7.0f} ns")
    for name, body in [
        ("acquire_tool_call (per-minute bucket)", tool_rate),
        ("acquire_tool_call+release (bucket+slot)", tool_both),
        ("acquire_task + release_task", task_slot),
        ("reserve_tokens", tokens),
    ]:
        per = min([await timed(body) for _ in range(5)])
        verdict = "OK" if per <= 2e-6 else "over 2 us"
        print(
            f"  {name:<40} {per * 1e9:7.0f} ns  ({(per - base) * 1e9:+.0f} ns vs bare; "
            f"target <= 2000 ns: {verdict})"
        )
    print(f"  settle_tokens (sync, after the call)     {best_of(5, settle) * 1e9:7.0f} ns")


# -- 3. utilisation ------------------------------------------------------------------------


async def bench_utilisation(minutes: float, *, settle: bool) -> tuple[float, float]:
    """(tokens the limit admitted, tokens really used), as fractions of its quota."""
    scale = 60.0  # one minute of the limit takes one real second
    t0 = time.monotonic()

    def clock() -> float:
        return (time.monotonic() - t0) * scale

    async def sleep(s: float) -> None:
        await asyncio.sleep(s / scale)

    tpm, burst = 60_000, 6_000
    gov = Governor(
        ResourceLimits(
            max_concurrent_tasks=None,
            max_tokens_per_minute=tpm,
            token_burst_size=burst,
            resource_wait_timeout_seconds=None,
        ),
        clock=clock,
        sleep=sleep,
    )
    rng = random.Random(7)
    admitted = real = 0.0
    held: dict[int, float] = {}

    async def worker(k: int) -> None:
        nonlocal admitted, real
        while True:
            estimate = rng.randint(500, 3000)  # prompt + max output
            r = await gov.reserve_tokens(estimate)
            held[k] = estimate
            await sleep(rng.uniform(0.5, 2.0))  # the model call, in limit seconds
            actual = int(estimate * rng.uniform(0.3, 1.0))
            if settle:
                gov.settle_tokens(r, actual)
            admitted += actual if settle else estimate  # unsettled, the estimate stays taken
            real += actual
            del held[k]

    workers = [asyncio.ensure_future(worker(k)) for k in range(40)]  # far more than fits
    await asyncio.sleep(minutes)  # `minutes` limit-minutes = that many real seconds
    elapsed = clock()
    for w in workers:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    quota = burst + tpm * elapsed / 60.0
    in_flight = sum(held.values())  # calls still running hold their reservation
    return (admitted + in_flight) / quota, (real + in_flight) / quota


# -- 4. two processes, one Redis bucket -----------------------------------------------------

_WORKER = """
import asyncio, json, sys, time
from pitstop import ResourceLimits
from pitstop._limits import Governor
url, rate, burst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
start_at, end_at = map(float, sys.stdin.readline().split())
async def main():
    g = Governor(ResourceLimits(max_concurrent_tasks=None, max_tool_calls_per_minute=rate * 60,
                                tool_call_burst_size=burst, redis_url=url, namespace="bench"))
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
    await asyncio.gather(*(requester() for _ in range(5)))
    await g.aclose()
    print(json.dumps(times))
asyncio.run(main())
"""


def bench_redis(seconds: float) -> None:
    print(f"4. Two processes sharing one Redis bucket ({seconds:g} s, 5 requesters each)")
    with redis_server() as found:
        if found is None:
            print("  skipped: redis-server is not installed or did not start "
                  "(apt-get install redis-server)")
            return
        url = found[0]
        rate, burst = 100, 10
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, url, str(rate), str(burst)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for p in procs:  # both have imported everything: start them together
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        start_at = time.time() + 0.2
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(f"{start_at} {start_at + seconds}\n")
            p.stdin.flush()
        counts, times = [], []
        for p in procs:
            out, err = p.communicate(timeout=60)
            if p.returncode:
                print(f"  worker failed: {err[-500:]}")
                return
            got = json.loads(out)
            counts.append(len(got))
            times.extend(got)
        times.sort()
        bound = burst + rate * seconds
        most = max(sum(1 for u in times[i:] if u < t + 1.0) for i, t in enumerate(times))
        print(
            f"  {rate}/s, burst {burst}: admitted {counts} = {len(times)} in total (bound "
            f"burst + rate x {seconds:g} s = {bound:g}; each process alone would be allowed "
            f"{bound:g}, so unshared limits would admit up to {2 * bound:g})"
        )
        print(
            f"  max in any 1 s window {most} (bound {rate + burst}) -> "
            f"{'OK' if len(times) <= bound + 1 and most <= rate + burst + 1 else 'EXCEEDED'}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (CI smoke)")
    quick = parser.parse_args().quick
    print(
        f"pitstop resource-limit benchmarks (Python {sys.version.split()[0]}"
        f"{', quick' if quick else ''})\n"
    )
    await bench_accuracy()
    print()
    await bench_overhead(50_000 if quick else 200_000)
    print()
    minutes = 2.0 if quick else 5.0
    print(
        f"3. Utilisation of max_tokens_per_minute=60000 (burst 6000) under excess demand: "
        f"40 workers, {minutes:g} limit-minutes on a 60x clock"
    )
    admitted, real = await bench_utilisation(minutes, settle=True)
    print(
        f"  settled to real usage: real tokens used / (burst + limit x minutes) = {real:.1%} "
        f"(target >= 95%: {'OK' if real >= 0.95 else 'MISSED'}); admitted {admitted:.1%}"
    )
    admitted, real = await bench_utilisation(minutes, settle=False)
    print(
        f"  for contrast, never settled: the estimates fill {admitted:.1%} of the quota but "
        f"only {real:.1%} of it is real usage"
    )
    print()
    bench_redis(1.5 if quick else 3.0)


if __name__ == "__main__":
    asyncio.run(main())
