"""Batches on a real local Ray with two workers (one Ray per test session)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest
from tests.distributed.helpers import make_agent, runs, script, tasks, wait_until, work

from pitstop import CacheConfig, ConfigError, FunctionLLM, HybridAgent, Tool
from pitstop.distributed import RayEngine, journal
from pitstop.notebook._batch_timeline import batch_timeline_data

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]


def _runs_with_pids(dir: Path) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in
            (line.split() for line in (dir / "runs").read_text().splitlines())]


def _n(result: dict[str, Any]) -> int:
    return int(json.loads(result["output"][len("done "):])["n"])


async def test_a_batch_runs_on_both_workers_in_order_with_merged_spans(
    engine: RayEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Results come back in task order; spans land in the driver's Monitor, a lane per worker."""
    agent = make_agent()
    results = await agent.execute_batch(tasks(40, tmp_path, seconds=0.05), engine=engine)
    assert [_n(r) for r in results] == list(range(40))
    assert all(r["success"] for r in results)
    assert sorted(runs(tmp_path)) == list(range(40))
    task_spans = agent.monitor.spans(kind="task")
    assert len(task_spans) == 40
    assert {s.attrs["worker"] for s in task_spans} == {"w1", "w2"}
    assert {s.task_id for s in task_spans} == {r["task_id"] for r in results}
    tool_spans = agent.monitor.spans(kind="tool")
    assert len(tool_spans) == 40 and all(s.task_id in {r["task_id"] for r in results}
                                         for s in tool_spans)
    # each tool span lies inside its task's span on the driver's clock
    by_id = {s.task_id: s for s in task_spans}
    assert all(by_id[s.task_id].start <= s.start <= s.end <= by_id[s.task_id].end
               for s in tool_spans)
    perf = agent.get_performance_metrics()
    assert perf["total_tasks"] == 40 and perf["total_tool_calls"] == 40
    assert perf["success_rate"] == 1.0 and perf["total_tokens"] > 0
    lanes = batch_timeline_data(agent).lanes
    assert [lane.worker for lane in lanes] == ["w1", "w2"]
    assert sum(lane.tasks for lane in lanes) == 40
    assert min(lane.tasks for lane in lanes) >= 10  # the tasks went round the workers
    err = capsys.readouterr().err
    assert "40/40" in err and "on Ray (2 workers)" in err
    workers = dict(engine._pids)
    await agent.execute_batch(tasks(2, tmp_path), progress=False)  # a local run between
    await agent.execute_batch(tasks(2, tmp_path), engine=engine, progress=False)
    assert engine._pids == workers  # the same workers served the next batch


async def test_a_killed_worker_reruns_only_its_tasks_and_a_poison_task_fails_once(
    engine: RayEngine, tmp_path: Path
) -> None:
    """Tasks on a dead worker re-run elsewhere, each delivered once; a task that kills its
    worker three times becomes one failed result and the rest succeed."""
    agent = make_agent()
    batch = tasks(15, tmp_path, seconds=0.3)
    batch.insert(3, json.dumps({"n": 99, "dir": str(tmp_path), "mode": "poison"}))
    results = await agent.execute_batch(batch, engine=engine, progress=False)
    assert len(results) == 16
    poison = results[3]
    assert not poison["success"] and "died 3 times" in poison["error"]
    others = results[:3] + results[4:]
    assert all(r["success"] for r in others), [r["error"] for r in others if not r["success"]]
    assert [_n(r) for r in others] == list(range(15))
    log = _runs_with_pids(tmp_path)
    dead = {pid for n, pid in log if n == 99}
    assert len([1 for n, _ in log if n == 99]) == 3 and len(dead) == 3
    for n in range(15):  # every run but the last was on a worker that died
        pids = [pid for m, pid in log if m == n]
        assert all(pid in dead for pid in pids[:-1]), (n, pids, dead)
    assert engine.stats.failed_lost == 1
    assert engine.stats.rerun >= len(log) - 16  # every extra run was sent again
    assert max(Counter(n for n, _ in log if n != 99).values()) <= 3


async def test_cancelling_a_ray_batch_cancels_remote_tasks_and_it_resumes(
    engine: RayEngine, tmp_path: Path, journal_file: Path
) -> None:
    """Cancelling the batch stops its remote tasks, whose cache calls still count on the
    driver; run again it runs only the unfinished."""
    agent = make_agent(cache_config=CacheConfig())
    batch = [json.dumps({"n": i, "dir": str(tmp_path), "mode": "ok" if i % 2 else "gate"})
             for i in range(10)]
    run = asyncio.ensure_future(
        agent.execute_batch(batch, engine=engine, progress=False, batch_id="ray-half"))
    await wait_until(lambda: len(runs(tmp_path)) == 10
                     and agent.get_performance_metrics()["total_tasks"] == 5)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert await engine.worker_in_flight() == [0, 0]  # cancelled remotely, not left running
    assert agent.get_cache_stats()["misses"] == 10  # the cancelled calls too, as locally
    assert sorted(e.index for e in journal("ray-half")) == [1, 3, 5, 7, 9]
    (tmp_path / "open").touch()
    results = await agent.execute_batch(batch, engine=engine, progress=False,
                                        batch_id="ray-half")
    assert [_n(r) for r in results] == list(range(10))
    assert sorted(runs(tmp_path)[10:]) == [0, 2, 4, 6, 8]
    assert agent.get_cache_stats()["misses"] == 15


async def test_the_drivers_cache_stats_count_every_tool_call_made_on_the_workers(
    engine: RayEngine, tmp_path: Path
) -> None:
    """After a Ray batch with repeated tool calls, the driver's get_cache_stats() counts each
    cacheable call of the workers once: misses are the tool's runs, hits the rest, with
    errors, time and cost saved, per tool and in total; size stays the driver's backend's."""
    agent = HybridAgent("stats", FunctionLLM(script), tools=[Tool(work, cost=0.5)],
                        cache_config=CacheConfig())
    batch = [json.dumps({"n": i % 4, "dir": str(tmp_path), "seconds": 0.02, "tag": i})
             for i in range(24)]
    batch += [json.dumps({"n": 50 + i, "dir": str(tmp_path), "mode": "raise"}) for i in range(2)]
    results = await agent.execute_batch(batch, engine=engine, progress=False)
    ran = len(runs(tmp_path))
    stats = agent.get_cache_stats()
    assert stats["hits"] + stats["misses"] == 26  # every cacheable call, counted once
    assert stats["misses"] == ran and 4 + 2 <= ran <= 8 + 2  # at most once per worker each
    assert stats["hits"] == sum(r["tool_calls"][0]["cached"] for r in results) == 26 - ran
    assert stats.get("errors") == 2
    work_stats = stats["tool_stats"]["work"]
    assert (work_stats["hits"], work_stats["misses"]) == (stats["hits"], stats["misses"])
    assert work_stats["cost_saved"] == stats["cost_saved"] == pytest.approx(0.5 * stats["hits"])
    assert stats["time_saved_s"] > 0 and work_stats["avg_latency_s"] > 0
    assert stats["size"] == 0  # the entries are in the workers' memory caches
    assert (engine.stats.cache.hits, engine.stats.cache.misses) == (stats["hits"], ran)
    await agent.execute_batch(batch[:4], engine=engine, progress=False)  # all cached now
    again = agent.get_cache_stats()
    assert (again["hits"], again["misses"]) == (stats["hits"] + 4, stats["misses"])


@pytest.mark.redis
async def test_workers_share_a_redis_cache(
    engine: RayEngine, tmp_path: Path, redis_url: str
) -> None:
    """A result cached by one worker is a hit on the other, and on the driver, through Redis;
    the driver's stats count each call once and the entry once."""
    agent = make_agent("shared", cache_config=CacheConfig(backend="redis", redis_url=redis_url))
    await agent.execute_batch(tasks(1, tmp_path, n=5, tag="first"), engine=engine,
                              progress=False)
    batch = [json.dumps({"n": 5, "dir": str(tmp_path), "tag": i}) for i in range(12)]
    results = await agent.execute_batch(batch, engine=engine, progress=False)
    assert runs(tmp_path) == [5]
    assert all(r["tool_calls"][0]["cached"] for r in results)
    lanes = {s.attrs["worker"] for s in agent.monitor.spans(kind="task")}
    assert lanes == {"w1", "w2"}
    await agent.execute_batch(batch[:1], progress=False)  # on the driver: a hit too
    stats = agent.get_cache_stats()  # each call counted once, by the process that made it
    assert (stats["hits"], stats["misses"], stats["size"]) == (13, 1, 1)


def test_every_ray_process_listens_on_loopback_only(ray_cluster: Any) -> None:
    """Ray's servers (GCS, raylet, workers, agents) bind 127.0.0.1, never the host address."""
    me = psutil.Process()
    procs = {p.pid: p for p in [me, *me.children(recursive=True)]}
    listening = [(procs[c.pid].name(), c.laddr.ip) for c in psutil.net_connections("inet")
                 if c.status == psutil.CONN_LISTEN and c.pid in procs]
    names = {name for name, _ in listening}
    assert {"gcs_server", "raylet"} <= names, listening
    assert all(ip in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for _, ip in listening), listening


async def test_an_error_raised_on_a_worker_is_raised_as_itself(engine: RayEngine) -> None:
    """An exception that escapes a task on a worker reaches the caller with its own type and
    message (not wrapped in Ray's), and a note naming the worker."""
    agent = make_agent()
    with pytest.raises(ConfigError, match="no context_engine") as caught:
        await agent.execute_batch(["x", "y"], {"session_id": "s"}, engine=engine,
                                  progress=False)
    assert type(caught.value) is ConfigError
    assert any("Ray worker w" in note for note in caught.value.__notes__)


async def test_a_tool_module_the_workers_cannot_import_is_named_with_the_fix(
    engine: RayEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tool from a module only the driver can import is a ConfigError naming the module
    and how to make it importable, in one line rather than Ray's traceback."""
    (tmp_path / "driver_only_tools.py").write_text(
        "def lookup(q: str) -> str:\n    '''Look q up.'''\n    return q\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from driver_only_tools import lookup  # type: ignore[import-not-found]

    agent = HybridAgent("lost", FunctionLLM(script), tools=[lookup])
    with pytest.raises(ConfigError, match="No module named 'driver_only_tools'.*run from the "
                                          "directory") as caught:
        await agent.execute_batch(["x"], engine=engine, progress=False)
    assert "\n" not in str(caught.value)


async def test_more_workers_than_the_connected_ray_has_cpus_is_a_config_error_at_once(
    ray_cluster: Any,
) -> None:
    """More workers than the CPUs of the Ray this process is connected to is a ConfigError
    at once, rather than a wait for workers that cannot start."""
    with pytest.raises(ConfigError, match=r"workers=3\) needs one CPU per worker.* has 2"):
        await make_agent().execute_batch(["x"], engine=RayEngine(workers=3), progress=False)
