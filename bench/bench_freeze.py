"""A frozen Redis under the tool cache: how long the event loop is held, as a share of the timeout.

    .venv/bin/python bench/bench_freeze.py [--quick] [--timeout 1.0]

A throwaway redis-server on loopback backs an agent's tool cache (``redis_timeout``
seconds per command). For each operation below, Redis is frozen with SIGSTOP just
before it, so the operation is the first to meet the freeze; a heartbeat task on the
same loop (waking every millisecond) measures the longest time the loop could not run
it: *loop held*. *Wall* is how long the operation took to give its answer. Both are
divided by ``redis_timeout``: 1.0 means the loop waited one whole timeout. Between
cases Redis is resumed and the cache recovers.

The cases: ``get_cache_stats()`` and ``invalidate_cache()`` called on the loop's thread
(a notebook cell or async code), their async forms, and 20 concurrent cached tool calls.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from _harness import redis_server

from pitstop import CacheConfig, HybridAgent, tool
from pitstop.llm import FunctionLLM

warnings.simplefilter("ignore", RuntimeWarning)  # the outage warnings are expected here
logging.getLogger("pitstop").setLevel(logging.ERROR)


@tool(register=False)
async def lookup(key: int) -> str:
    """A cacheable tool."""
    return f"value {key}"


async def held_while(op: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(longest loop stall, wall) while `op` runs, in seconds."""
    longest = 0.0
    stop = False

    async def heartbeat() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.01)  # the heartbeat is running
    longest = 0.0
    start = time.perf_counter()
    await op()
    wall = time.perf_counter() - start
    await asyncio.sleep(0.005)  # the heartbeat sees the end of a stall
    stop = True
    await beat
    return longest, wall


async def run_case(name: str, url: str, server: subprocess.Popen[bytes], redis_timeout: float,
                   op: Callable[[HybridAgent], Awaitable[Any]]) -> tuple[float, float]:
    agent = HybridAgent("freeze", FunctionLLM(lambda m, t: "ok"), tools=[lookup],
                        cache_config=CacheConfig(backend="redis", redis_url=url,
                                                 redis_timeout=redis_timeout, namespace=name))
    try:
        await agent.execute_tools_parallel(
            [{"tool_name": "lookup", "parameters": {"key": i}} for i in range(20)])
        agent.get_cache_stats()
        server.send_signal(signal.SIGSTOP)
        try:
            return await held_while(lambda: op(agent))
        finally:
            server.send_signal(signal.SIGCONT)
            await asyncio.sleep(redis_timeout)  # let the worker's question finish
    finally:
        await agent.aclose()


async def sync_stats(agent: HybridAgent) -> None:
    agent.get_cache_stats()


async def sync_invalidate(agent: HybridAgent) -> None:
    agent.invalidate_cache(tool_name="lookup")


async def async_stats(agent: HybridAgent) -> None:
    await agent.aget_cache_stats()


async def async_invalidate(agent: HybridAgent) -> None:
    await agent.ainvalidate_cache(tool_name="lookup")


async def cached_calls(agent: HybridAgent) -> None:
    await agent.execute_tools_parallel(
        [{"tool_name": "lookup", "parameters": {"key": i}} for i in range(20)])


CASES: list[tuple[str, Callable[[HybridAgent], Awaitable[Any]]]] = [
    ("get_cache_stats() on the loop's thread", sync_stats),
    ("invalidate_cache() on the loop's thread", sync_invalidate),
    ("await aget_cache_stats()", async_stats),
    ("await ainvalidate_cache()", async_invalidate),
    ("20 concurrent cached tool calls", cached_calls),
]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition instead of 3")
    parser.add_argument("--timeout", type=float, default=1.0, help="redis_timeout, seconds")
    args = parser.parse_args()
    repeat = 1 if args.quick else 3
    print(f"pitstop: a frozen Redis under the tool cache (redis_timeout={args.timeout:g} s, "
          f"median of {repeat}; Python {sys.version.split()[0]})\n")
    with redis_server() as found:
        if found is None:
            print("skipped: redis-server is not installed or did not start "
                  "(apt-get install redis-server)")
            return 0
        url, server = found
        print("| operation, first to meet the freeze | loop held ÷ timeout | wall ÷ timeout |")
        print("|---|---|---|")
        for i, (name, op) in enumerate(CASES):
            held, wall = [], []
            for r in range(repeat):
                h, w = await run_case(f"c{i}r{r}", url, server, args.timeout, op)
                held.append(h / args.timeout)
                wall.append(w / args.timeout)
            print(f"| {name} | {statistics.median(held):.2f} | {statistics.median(wall):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
