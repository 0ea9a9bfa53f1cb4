"""Soak: a million tool calls and a hundred thousand tasks, memory flat, every structure bounded.

Not part of ``make test`` or ``make bench`` (it takes minutes): ``make bench-soak``, or

    .venv/bin/python bench/bench_soak.py                # 1,000,000 calls, 100,000 tasks
    .venv/bin/python bench/bench_soak.py --quick        # 100,000 calls, 10,000 tasks

One agent with the tool cache (memory backend, 10,000 entries, a key space of 50,000
so it evicts all the time) and the Monitor on (always on). Phase 1 sends the tool
calls through ``execute_tools_parallel`` in batches of 1,000; phase 2 runs the tasks
through ``execute_batch`` in batches of 1,000 (each task: one model turn calling a
tool, then the answer). RSS is read from /proc after a garbage collection every
``--every`` batches. The first 10% of each phase is the warm-up; after it, the RSS must
stay within 10% of its value at the end of the warm-up (the check prints PASS or FAIL
and sets the exit code). The sizes of the Monitor's, the cache's and the agent's
structures are printed at every sample.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import time
from typing import Any

from pitstop import CacheConfig, HybridAgent, tool
from pitstop.llm import FunctionLLM, LLMResponse, ToolCall

KEYS = 50_000
BATCH = 1_000


def rss_mib() -> float:
    """Resident set size of this process, MiB (Linux /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@tool(register=False, cost=0.001)
async def lookup(key: int) -> dict[str, Any]:
    """A cacheable async tool with a small structured result."""
    return {"key": key, "value": f"v{key}", "tags": ["a", "b"]}


@tool(register=False, inline=True, cacheable=False)
def add(a: int, b: int) -> int:
    """An uncached inline tool."""
    return a + b


def model(messages: Any, tools: Any) -> LLMResponse:
    """One tool call, then the answer."""
    if messages[-1].role == "tool":
        return LLMResponse(text=f"answer: {messages[-1].content[:40]}")
    key = hash(messages[-1].content) % KEYS
    return LLMResponse(tool_calls=[ToolCall("lookup", {"key": key})])


def sizes(agent: HybridAgent) -> dict[str, Any]:
    """Every structure that could grow with the number of calls or tasks."""
    cache = agent.cache
    assert cache is not None
    stats = cache.stats()
    return {
        "monitor": agent.monitor.sizes(),
        "cache_entries": stats["size"],
        "cache_mib": round(stats["memory_mb"], 2),
        "cache_in_flight": stats["in_flight"],
        "cache_trace": len(cache._trace),
        "cache_tool_stats": len(cache._stats),
    }


async def phase(
    name: str, agent: HybridAgent, batches: int, every: int, run_batch: Any
) -> tuple[list[tuple[int, float]], float]:
    """Run `batches` batches; sample RSS every `every`; return the samples and seconds."""
    samples: list[tuple[int, float]] = []
    start = time.perf_counter()
    for b in range(1, batches + 1):
        await run_batch(b)
        if b % every == 0 or b == batches:
            gc.collect()
            samples.append((b * BATCH, rss_mib()))
            print(f"  {name} {b * BATCH:>9,}  RSS {samples[-1][1]:7.1f} MiB  "
                  f"{json.dumps(sizes(agent))}", flush=True)
    return samples, time.perf_counter() - start


def verdict(name: str, samples: list[tuple[int, float]], batches: int) -> bool:
    """RSS after the warm-up (the first 10%) stays within 10% of its value then."""
    warm = max(1, batches // 10) * BATCH
    after = [r for n, r in samples if n >= warm]
    base = after[0]
    worst = max(after)
    growth = (worst - base) / base
    ok = growth <= 0.10
    print(f"{name}: RSS after warm-up {base:.1f} MiB, highest {worst:.1f} MiB, lowest "
          f"{min(after):.1f} MiB: growth {growth * 100:+.1f}% -> {'PASS' if ok else 'FAIL'} "
          "(within 10%)")
    return ok


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 calls, 10,000 tasks")
    parser.add_argument("--calls", type=int, default=None, help="tool calls (default 1e6)")
    parser.add_argument("--tasks", type=int, default=None, help="tasks (default 1e5)")
    parser.add_argument("--every", type=int, default=None, help="batches between samples")
    args = parser.parse_args()
    calls = args.calls or (100_000 if args.quick else 1_000_000)
    tasks = args.tasks or (10_000 if args.quick else 100_000)
    call_batches, task_batches = max(1, calls // BATCH), max(1, tasks // BATCH)
    every = args.every or max(1, call_batches // 20)

    agent = HybridAgent(
        "soak", FunctionLLM(model), tools=[lookup, add],
        cache_config=CacheConfig(max_cache_size=10_000, default_ttl=60),
    )
    rng = random.Random(0)
    print(f"soak: {call_batches * BATCH:,} tool calls via execute_tools_parallel, "
          f"{task_batches * BATCH:,} tasks via execute_batch (Python {sys.version.split()[0]})")
    print(f"start RSS {rss_mib():.1f} MiB")

    async def calls_batch(b: int) -> None:
        batch = [
            {"tool_name": "lookup", "parameters": {"key": rng.randrange(KEYS)}}
            if i % 4 else {"tool_name": "add", "parameters": {"a": i, "b": b}}
            for i in range(BATCH)
        ]
        out = await agent.execute_tools_parallel(batch, max_concurrency=100)
        assert all(r["success"] for r in out)

    async def tasks_batch(b: int) -> None:
        results = await agent.execute_batch(
            [f"task {b}-{i}" for i in range(BATCH)], max_concurrency=50, progress=False
        )
        assert all(r["success"] for r in results)

    call_samples, call_s = await phase("calls", agent, call_batches, every, calls_batch)
    task_every = max(1, task_batches // 20)
    task_samples, task_s = await phase("tasks", agent, task_batches, task_every, tasks_batch)
    stats = agent.get_cache_stats()
    print(f"calls: {call_batches * BATCH:,} in {call_s:.1f} s "
          f"({call_s / (call_batches * BATCH) * 1e6:.1f} µs each); tasks: "
          f"{task_batches * BATCH:,} in {task_s:.1f} s ({task_s / (task_batches * BATCH) * 1e6:.0f}"
          f" µs each)")
    print(f"cache: hits {stats['hits']:,}, misses {stats['misses']:,}, evictions "
          f"{stats['evictions']:,}, hit rate {stats['hit_rate']:.2f}")
    print(f"final sizes: {json.dumps(sizes(agent))}")
    ok = verdict("calls", call_samples, call_batches) & verdict("tasks", task_samples,
                                                                task_batches)
    await agent.aclose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
