"""Benchmarks of the tool cache: hit cost, miss overhead, the memory bound, a Zipf workload.

Run ``.venv/bin/python bench/bench_cache.py [--quick]``. Every figure is measured in
this run; ratios compare figures measured in the same process. Per-call timings are
the median of several repeats (the machine may be shared).

1. The cost of a hit: `ToolCache.call` against cachetools' ``TTLCache.get`` and against
   building a ``json.dumps(sort_keys=True)`` key; and per tool call inside the agent.
2. The overhead of a miss over calling ``run()`` directly; and inside the agent.
3. The memory bound: a cache for 50 MB filled with 200 MB of results; the stored size
   as the cache counts it, as recomputed from the entries, and as tracemalloc sees it.
4. A Zipf workload of 2,000 tool calls through the agent (FunctionLLM plans the calls;
   simulated tools sleep their declared latency times a scale), with and without the
   cache: calls avoided, time saved, cost saved.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from cachetools import TTLCache

from pitstop._cache import CacheConfig, ToolCache
from pitstop._cache.config import BYTES_PER_MB
from pitstop._cache.keys import make_key, utf8_size
from pitstop._tools.base import Tool

try:  # the agent and its test model, when they exist
    from pitstop._agent import HybridAgent
    from pitstop.llm._base import LLMResponse, ToolCall
    from pitstop.llm._function import FunctionLLM
except ImportError:  # pragma: no cover - only before the agent lands
    HybridAgent = None  # type: ignore[assignment,misc]

ARGS = {"query": "python asyncio tutorial", "max_results": 5, "lang": "en"}
RESULT = {"query": ARGS["query"], "results": [{"title": f"t{i}", "url": f"u{i}"} for i in range(3)]}


def lookup(query: str, max_results: int = 3, lang: str = "en") -> dict[str, Any]:
    """A search-like tool that returns at once."""
    return {"query": query, "results": RESULT["results"]}


TOOL = Tool(lookup, inline=True, cost=0.005)


async def run() -> dict[str, Any]:
    return {"query": ARGS["query"], "results": RESULT["results"]}


def median_per_op(fn: Callable[[], float], repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


async def amedian_per_op(fn: Callable[[], Awaitable[float]], repeats: int) -> float:
    return statistics.median([await fn() for _ in range(repeats)])


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<52} {value:>14}  {note}")


# -- 1 and 2: the hot path --------------------------------------------------------------


async def bench_hot_path(n: int, repeats: int) -> None:
    print("\n1-2. Hit cost and miss overhead, memory backend (median of "
          f"{repeats} x {n:,} calls)")
    cache = ToolCache(CacheConfig(max_cache_size=1000))
    await cache.call(TOOL, ARGS, run)

    async def hits() -> float:
        t = time.perf_counter()
        for _ in range(n):
            await cache.call(TOOL, ARGS, run)
        return (time.perf_counter() - t) / n

    async def direct() -> float:
        t = time.perf_counter()
        for _ in range(n):
            await run()
        return (time.perf_counter() - t) / n

    miss_args = [dict(ARGS, query=f"q{i}") for i in range(n * repeats)]
    it = iter(miss_args)

    async def misses() -> float:
        batch = [next(it) for _ in range(n)]
        t = time.perf_counter()
        for a in batch:
            await cache.call(TOOL, a, run)
        return (time.perf_counter() - t) / n

    ttl_cache: TTLCache[str, Any] = TTLCache(maxsize=1000, ttl=300)
    key = json.dumps({"tool": "lookup", **ARGS}, sort_keys=True)
    ttl_cache[key] = RESULT

    def ttl_get() -> float:
        get = ttl_cache.get
        t = time.perf_counter()
        for _ in range(n):
            get(key)
        return (time.perf_counter() - t) / n

    def json_key() -> float:
        dumps = json.dumps
        t = time.perf_counter()
        for _ in range(n):
            dumps(ARGS, sort_keys=True)
        return (time.perf_counter() - t) / n

    def our_key() -> float:
        t = time.perf_counter()
        for _ in range(n):
            make_key("lookup", ARGS)
        return (time.perf_counter() - t) / n

    hit = await amedian_per_op(hits, repeats)
    base = await amedian_per_op(direct, repeats)
    miss = await amedian_per_op(misses, repeats)
    tg = median_per_op(ttl_get, repeats)
    jk = median_per_op(json_key, repeats)
    ok = median_per_op(our_key, repeats)
    us = 1e6
    row("ToolCache.call, hit (key + lookup + copy + stats)", f"{hit * us:.2f} us")
    row("cachetools TTLCache.get, key already built", f"{tg * us:.2f} us",
        f"hit / TTLCache.get = {hit / tg:.1f}x")
    row("json.dumps(sort_keys=True) key alone", f"{jk * us:.2f} us",
        f"hit / json key = {hit / jk:.2f}x")
    row("pitstop key (make_key) alone", f"{ok * us:.2f} us",
        f"json key / make_key = {jk / ok:.2f}x")
    row("await run() directly (no cache)", f"{base * us:.2f} us")
    row("ToolCache.call, miss (distinct keys, bound 1000)", f"{miss * us:.2f} us",
        f"overhead over run() = {(miss - base) * us:.2f} us")
    s = cache.stats()
    row("entries after the misses (max_cache_size=1000)", f"{s['size']:,}",
        f"evictions = {s['evictions']:,}")


async def bench_agent_path(n: int, repeats: int) -> None:
    if HybridAgent is None:
        print("\n1-2 (agent). pitstop._agent.HybridAgent not found: skipped; the figures "
              "above are through ToolCache.call.")
        return
    print(f"\n1-2 (agent). Per tool call inside HybridAgent.execute_tools_parallel "
          f"(batches of {n:,}, median of {repeats})")
    llm = FunctionLLM(lambda messages, tools: "unused")
    plain = HybridAgent("plain", llm, tools=[TOOL])
    cached = HybridAgent("cached", llm, tools=[TOOL],
                         cache_config=CacheConfig(max_cache_size=n * (repeats + 2)))
    same = [{"tool_name": "lookup", "parameters": ARGS}] * n
    counter = iter(range(10**9))

    def fresh() -> list[dict[str, Any]]:
        return [{"tool_name": "lookup", "parameters": dict(ARGS, query=f"q{next(counter)}")}
                for _ in range(n)]

    async def timed(agent: Any, calls: list[dict[str, Any]]) -> float:
        t = time.perf_counter()
        out = await agent.execute_tools_parallel(calls, max_concurrency=n)
        elapsed = (time.perf_counter() - t) / n
        assert all(r["success"] for r in out)
        return elapsed

    await cached.execute_tools_parallel(same[:1])
    no_cache = statistics.median([await timed(plain, fresh()) for _ in range(repeats)])
    hit = statistics.median([await timed(cached, same) for _ in range(repeats)])
    miss = statistics.median([await timed(cached, fresh()) for _ in range(repeats)])
    s = cached.get_cache_stats()
    us = 1e6
    row("agent without cache (inline tool)", f"{no_cache * us:.1f} us/call")
    row("agent with cache, all hits", f"{hit * us:.1f} us/call",
        f"{(hit - no_cache) * us:+.1f} us vs no cache")
    row("agent with cache, all misses", f"{miss * us:.1f} us/call",
        f"{(miss - no_cache) * us:+.1f} us vs no cache")
    row("cache stats: hits / misses", f"{s['hits']:,} / {s['misses']:,}")
    await plain.aclose()
    await cached.aclose()


# -- 3: the memory bound ----------------------------------------------------------------


async def bench_memory(fill_mb: int, bound_mb: int) -> None:
    print(f"\n3. Memory bound: max_memory_mb={bound_mb}, filled with {fill_mb} MB of results")
    row_text = "x" * 1000
    per_result = len(json.dumps({"id": 0, "rows": [row_text] * 1000}))
    count = fill_mb * BYTES_PER_MB // per_result
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cache = ToolCache(CacheConfig(max_memory_mb=bound_mb, max_cache_size=100_000))
    produced = 0
    for i in range(count):
        async def big(i: int = i) -> dict[str, Any]:
            return {"id": i, "rows": [row_text] * 1000}  # ~1 MB once serialised

        produced += per_result
        await cache.call(TOOL, {"query": f"doc{i}"}, big)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    s = cache.stats()
    backend = cache.backend
    recomputed = 0
    for key, e in backend._data.items():  # type: ignore[attr-defined]
        recomputed += utf8_size(key) + len(e.payload) + sum(map(utf8_size, e.labels))
    bound = bound_mb * BYTES_PER_MB
    row("results produced (serialised)", f"{produced / BYTES_PER_MB:.1f} MB", f"{count} results")
    row("stored, as the cache counts it (memory_mb)", f"{s['memory_mb']:.2f} MB",
        f"{s['memory_mb'] * BYTES_PER_MB / bound:.1%} of the bound")
    row("stored, recomputed from the entries", f"{recomputed / BYTES_PER_MB:.2f} MB",
        f"{recomputed / bound:.1%} of the bound")
    row("held in Python memory (tracemalloc)", f"{held / BYTES_PER_MB:.2f} MB",
        f"{held / bound:.1%} of the bound")
    row("entries kept / evicted", f"{s['size']} / {s['evictions']}")
    within = abs(held - bound) / bound <= 0.10 and s["memory_mb"] * BYTES_PER_MB <= bound
    row("within 10% of the bound, never above it", "yes" if within else "NO")
    # what sys.getsizeof would have counted for one result: the outer dict only
    row("sys.getsizeof of one result (what a naive bound counts)",
        f"{sys.getsizeof({'id': 0, 'rows': [row_text] * 1000})} B",
        f"vs {per_result:,} B serialised")
    await cache.aclose()


# -- 4: a Zipf workload through the agent ----------------------------------------------

SIM_TOOLS = {  # name: (declared latency s, declared cost $)
    "search": (0.8, 0.005),
    "weather": (0.3, 0.001),
    "translate": (0.5, 0.002),
    "database": (1.2, 0.010),
}


def zipf_workload(calls: int, per_task: int, keys: int, seed: int) -> list[list[tuple[str, str]]]:
    rnd = random.Random(seed)
    weights = [1 / (k ** 1.1) for k in range(1, keys + 1)]
    names = sorted(SIM_TOOLS)
    flat = [(rnd.choice(names), f"k{rnd.choices(range(keys), weights)[0]}") for _ in range(calls)]
    return [flat[i:i + per_task] for i in range(0, calls, per_task)]


async def bench_zipf(calls: int, scale: float, ttl: float) -> None:
    per_task, keys = 10, 200
    tasks = zipf_workload(calls, per_task, keys, seed=7)
    through = "HybridAgent.execute_task + FunctionLLM" if HybridAgent else "ToolCache.call"
    print(f"\n4. Zipf workload (s=1.1, {keys} keys per tool, 4 tools): {calls:,} tool calls "
          f"in {len(tasks)} tasks through {through}; latencies x {scale}, TTL {ttl:g} s "
          f"(x {scale} = {ttl * scale:g} s real)")
    runs: dict[str, int] = {}

    def make(name: str) -> Tool:
        latency, cost = SIM_TOOLS[name]

        async def body(query: str) -> dict[str, str]:
            runs[name] = runs.get(name, 0) + 1
            await asyncio.sleep(latency * scale)
            return {"tool": name, "query": query}

        return Tool(body, name=name, cost=cost)

    tools = [make(n) for n in SIM_TOOLS]

    def plan(messages: list[Any], specs: list[Any]) -> Any:
        if messages[-1].role == "tool":
            return LLMResponse(text="done")
        index = int(messages[-1].content.split()[-1])
        return LLMResponse(tool_calls=[ToolCall(n, {"query": q}) for n, q in tasks[index]])

    async def one_run(cache_config: CacheConfig | None) -> tuple[float, dict[str, int], Any]:
        runs.clear()
        agent = HybridAgent("zipf", FunctionLLM(plan), tools=tools, cache_config=cache_config)
        t = time.perf_counter()
        for i in range(len(tasks)):
            result = await agent.execute_task(f"task {i}")
            assert result["success"], result
        wall = time.perf_counter() - t
        stats = agent.get_cache_stats()
        await agent.aclose()
        return wall, dict(runs), stats

    wall_off, runs_off, _ = await one_run(None)
    wall_on, runs_on, s = await one_run(CacheConfig(default_ttl=ttl * scale))
    total_runs_off, total_runs_on = sum(runs_off.values()), sum(runs_on.values())
    cost_off = sum(runs_off[n] * SIM_TOOLS[n][1] for n in runs_off)
    cost_on = sum(runs_on[n] * SIM_TOOLS[n][1] for n in runs_on)
    row("tool runs without / with the cache", f"{total_runs_off:,} / {total_runs_on:,}",
        f"calls avoided = {total_runs_off - total_runs_on:,} "
        f"({(total_runs_off - total_runs_on) / total_runs_off:.1%})")
    row("cache hits (shared in flight) / misses", f"{s['hits']:,} ({s['shared_hits']}) / "
        f"{s['misses']:,}", f"hit rate {s['hit_rate']:.1%}, expirations {s['expirations']}")
    row("wall time without / with the cache (real)", f"{wall_off:.2f} / {wall_on:.2f} s",
        f"{wall_off / wall_on:.2f}x faster")
    row("tool time saved (measured, in declared seconds)",
        f"{s['time_saved_s'] / scale:,.0f} s", f"= {s['time_saved_s']:.2f} s real")
    row("tool cost without / with the cache", f"${cost_off:.3f} / ${cost_on:.3f}",
        f"saved ${cost_off - cost_on:.3f} ({(cost_off - cost_on) / cost_off:.1%})")
    row("cost_saved reported by the cache", f"${s['cost_saved']:.3f}",
        "matches" if abs(s["cost_saved"] - (cost_off - cost_on)) < 1e-9 else "DIFFERS")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller fills")
    opts = parser.parse_args()
    quick = opts.quick
    print(f"pitstop tool cache benchmarks (python {sys.version.split()[0]}"
          f"{', --quick' if quick else ''})")
    await bench_hot_path(n=5_000 if quick else 20_000, repeats=3 if quick else 7)
    await bench_agent_path(n=500, repeats=3 if quick else 7)
    await bench_memory(fill_mb=200, bound_mb=50)
    if HybridAgent is None:
        print("\n4. skipped: pitstop._agent.HybridAgent not found")
    else:
        await bench_zipf(calls=2_000, scale=0.002 if quick else 0.005, ttl=120)


if __name__ == "__main__":
    asyncio.run(main())
