"""A worker's cache counters, taken as gains and added to the driver's cache (no Ray)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
from tests.distributed.helpers import script, work

from pitstop import CacheConfig, FunctionLLM, HybridAgent, Tool
from pitstop._batch.cache_counts import CounterCursor
from pitstop._cache.counts import CacheCounts, ToolCounts


def _agent(agent_id: str) -> HybridAgent:
    tools = [Tool(work, cost=0.25), Tool(work, name="fresh", cacheable=False)]
    return HybridAgent(agent_id, FunctionLLM(script), tools=tools, cache_config=CacheConfig())


async def _calls(agent: HybridAgent, dir: Path, *calls: dict[str, object]) -> None:
    await agent.execute_tools_parallel(
        [{"tool_name": c.pop("tool", "work"), "parameters": {"dir": str(dir), **c}}
         for c in calls])


async def test_a_cursor_hands_out_each_gain_once(tmp_path: Path) -> None:
    """Each take is what the counters gained since the previous one; nothing gained is None;
    the takes add up to the counters."""
    worker = _agent("w")
    assert worker.cache is not None
    cursor = CounterCursor(worker.cache)
    assert cursor.take() is None
    await _calls(worker, tmp_path, {"n": 1}, {"n": 1}, {"n": 2})
    first = cursor.take()
    assert first is not None and first.tools["work"].misses == 2
    assert first.tools["work"].hits + first.tools["work"].misses == 3
    assert cursor.take() is None
    await _calls(worker, tmp_path, {"n": 1}, {"n": 3, "mode": "raise"}, {"n": 4, "tool": "fresh"})
    second = cursor.take()
    assert second is not None
    assert second.tools["work"] == ToolCounts(
        hits=1, misses=1, errors=1, time_saved_s=second.tools["work"].time_saved_s,
        cost_saved=0.25, run_time_s=second.tools["work"].run_time_s)
    assert second.tools["fresh"].bypassed == 1 and second.uncacheable == {"not_cacheable_tool": 1}
    total = first + second
    assert total.hits == worker.get_cache_stats()["hits"] == 2
    assert total.misses == worker.get_cache_stats()["misses"] == 3
    assert CounterCursor(None).take() is None  # an agent without a cache sends nothing


async def test_gains_sent_to_a_driver_give_the_workers_figures(tmp_path: Path) -> None:
    """Gains of two workers, pickled and added to a driver's cache, make the driver's stats
    the sum of the workers' (per tool and in total), its size staying its own."""
    driver, workers = _agent("d"), [_agent("w1"), _agent("w2")]
    cursors = [CounterCursor(w.cache) for w in workers]
    await _calls(workers[0], tmp_path, {"n": 1}, {"n": 1}, {"n": 2, "seconds": 0.01})
    await _calls(workers[1], tmp_path, {"n": 1}, {"n": 2, "mode": "raise"},
                 {"n": 5, "tool": "fresh"})
    await _calls(workers[0], tmp_path, {"n": 2}, {"n": 1})
    await _calls(driver, tmp_path, {"n": 9})  # a local call counts as before
    local = driver.get_cache_stats()
    for cursor in cursors:
        gained = cursor.take()
        assert gained is not None
        assert driver.cache is not None
        driver.cache.absorb(pickle.loads(pickle.dumps(gained)))
    stats: dict[str, Any] = dict(driver.get_cache_stats())
    seen: list[dict[str, Any]] = [dict(w.get_cache_stats()) for w in workers]
    for key in ("hits", "misses", "shared_hits", "bypassed", "errors"):
        assert stats[key] == local[key] + sum(s[key] for s in seen), key
    assert stats["hits"] + stats["misses"] == 1 + 7  # every cacheable call, counted once
    assert stats["cost_saved"] == pytest.approx(0.25 * stats["hits"])
    assert stats["time_saved_s"] == pytest.approx(sum(s["time_saved_s"] for s in seen))
    assert stats["uncacheable"] == {"not_cacheable_tool": 1}
    assert stats["size"] == local["size"] == 1  # the driver's backend, not the workers'
    for name in ("work", "fresh"):
        per_tool = [s["tool_stats"][name] for s in [local, *seen] if name in s["tool_stats"]]
        mine = stats["tool_stats"][name]
        for key in ("hits", "misses", "shared_hits", "bypassed", "errors", "time_saved_s",
                    "cost_saved"):
            assert mine[key] == pytest.approx(sum(t[key] for t in per_tool)), (name, key)
        runs = [t["misses"] + t["bypassed"] for t in per_tool]  # the average weighs every run
        run_time = sum(t["avg_latency_s"] * n for t, n in zip(per_tool, runs, strict=True))
        assert mine["avg_latency_s"] == pytest.approx(run_time / sum(runs))


def test_counts_add_and_subtract_per_tool_and_reason() -> None:
    """Counts add per tool and per reason; a difference leaves out what did not change."""
    a = CacheCounts({"s": ToolCounts(hits=2, misses=1)}, {"ttl_zero": 1})
    b = CacheCounts({"s": ToolCounts(hits=1), "t": ToolCounts(bypassed=1)}, {"ttl_zero": 2})
    assert (a + b).tools == {"s": ToolCounts(hits=3, misses=1), "t": ToolCounts(bypassed=1)}
    assert (a + b).uncacheable == {"ttl_zero": 3}
    assert (a + b) - a == b
    assert not (a - a) and not CacheCounts() and (a + b).hits == 3 and a.misses == 1
