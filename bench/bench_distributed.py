"""Figures of pitstop.distributed: RayEngine against the local engine, faults, resume.

    .venv/bin/python bench/bench_distributed.py [--quick]

Not part of `make test` (nor of `bench/run.py` unless ``--distributed``): it starts a
local Ray (every process on 127.0.0.1) with 2 workers. Every figure is measured in
this run; the local engine (one asyncio loop in this process) is the baseline.

1. Added cost per task: tasks whose model and tool take no time, local against Ray
   with 2 workers (wall time per task, and the driver's CPU per task).
2. Throughput with 1 and 2 workers: a CPU-heavy tool (about 20 ms of CPU per call,
   a sync tool, so in a thread) and I/O-bound tasks (a 50 ms sleep); the same total
   concurrency everywhere.
3. A worker SIGKILLed mid-batch: results delivered, tasks re-run (counted by the tool
   itself, in a file every process appends to), time against an undisturbed run.
4. A batch interrupted at 50%, run again with the same batch_id: tasks that ran
   again, and the resumed run's time against the full run's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _harness import Row, machine, ms, print_table, us

from pitstop import FunctionLLM, HybridAgent, LLMResponse, ToolCall
from pitstop.distributed import RayEngine, journal
from pitstop.llm import Message

RUNS = Path(tempfile.mkdtemp(prefix="pitstop-bench-dist-")) / "runs"


def cpu_work(n: int, seconds: float = 0.0, log: str = "") -> int:
    """Burn `seconds` of CPU (a sync tool: it runs in a thread)."""
    end = time.thread_time() + seconds  # this thread's CPU: others run beside it
    while time.thread_time() < end:
        pass
    return n


async def io_work(n: int, seconds: float = 0.0, log: str = "") -> int:
    """Wait `seconds` (I/O), and append n to the run log when `log` is set."""
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, f"{n}\n".encode())
        finally:
            os.close(fd)
    if seconds:
        await asyncio.sleep(seconds)
    return n


def script(messages: list[Message], tools: Any) -> LLMResponse | str:
    last = messages[-1]
    if last.role == "tool":
        return "ok"
    spec = json.loads(last.content)
    spec.pop("tag")  # tells batches apart in the journal, not a tool argument
    return LLMResponse(tool_calls=[ToolCall(spec.pop("tool"), spec)])


def make_agent() -> HybridAgent:
    return HybridAgent("bench", FunctionLLM(script), tools=[cpu_work, io_work])


def batch(count: int, tool: str, seconds: float, log: str = "", tag: str = "") -> list[str]:
    return [json.dumps({"tool": tool, "n": i, "seconds": seconds, "log": log, "tag": tag})
            for i in range(count)]




async def timed(agent: HybridAgent, tasks: list[str], **kw: Any) -> tuple[float, float]:
    """(wall seconds, driver CPU seconds) of one batch."""
    wall, cpu = time.perf_counter(), time.process_time()
    results = await agent.execute_batch(tasks, progress=False, **kw)
    bad = [r["error"] or r["tool_calls"] for r in results
           if not (r["success"] and r["tool_calls"][0]["success"])]
    assert not bad, bad[:3]
    return time.perf_counter() - wall, time.process_time() - cpu


def read_runs() -> list[int]:
    return [int(x) for x in RUNS.read_text().split()] if RUNS.exists() else []


async def overhead(quick: bool, one: RayEngine, two: RayEngine) -> list[Row]:
    n = 500 if quick else 2000
    agent = make_agent()
    tasks = batch(n, "io_work", 0.0)
    await timed(agent, tasks[:100], engine=two)  # warm: workers up, code loaded
    local = [await timed(agent, tasks, max_concurrency=128) for _ in range(3)]
    ray = [await timed(agent, tasks, engine=two) for _ in range(3)]
    lw = sorted(w for w, _ in local)[1] / n
    rw = sorted(w for w, _ in ray)[1] / n
    lc = sorted(c for _, c in local)[1] / n
    rc = sorted(c for _, c in ray)[1] / n
    return [
        Row(f"{n} no-op tasks: wall per task, Ray 2 workers", us(rw), "", f"local {us(lw)}",
            f"{rw / lw:.1f}x", f"+{us(rw - lw)} per task"),
        Row("  throughput", f"{1 / rw:,.0f} tasks/s", "", f"local {1 / lw:,.0f} tasks/s"),
        Row("  driver CPU per task", us(rc), "", f"local {us(lc)}", f"{rc / lc:.2f}x"),
    ]


async def throughput(quick: bool, one: RayEngine, two: RayEngine) -> list[Row]:
    rows = []
    agent = make_agent()
    for label, tool, seconds, n in (("CPU-heavy tool, 20 ms CPU", "cpu_work", 0.02,
                                     60 if quick else 200),
                                    ("I/O-bound, 50 ms wait", "io_work", 0.05,
                                     1000 if quick else 4000)):
        tasks = batch(n, tool, seconds)
        await timed(agent, tasks[:10], engine=one)
        await timed(agent, tasks[:10], engine=two)
        samples: dict[str, list[float]] = {"local": [], "one": [], "two": []}
        for _ in range(3):  # interleaved: a busy moment of the machine hits all three
            samples["local"].append((await timed(agent, tasks, max_concurrency=128))[0])
            samples["one"].append((await timed(agent, tasks, engine=one))[0])
            samples["two"].append((await timed(agent, tasks, engine=two))[0])
        local, r1, r2 = (sorted(samples[k])[1] for k in ("local", "one", "two"))
        rows += [
            Row(f"{label}, {n} tasks: local", f"{n / local:,.1f} tasks/s"),
            Row("  Ray, 1 worker", f"{n / r1:,.1f} tasks/s", "", "local", f"{local / r1:.2f}x"),
            Row("  Ray, 2 workers", f"{n / r2:,.1f} tasks/s", "", "Ray, 1 worker",
                f"{r1 / r2:.2f}x"),
        ]
    return rows


async def killed_worker(quick: bool, two: RayEngine) -> list[Row]:
    n = 400 if quick else 2000
    agent = make_agent()
    RUNS.unlink(missing_ok=True)
    tasks = batch(n, "io_work", 0.05, log=str(RUNS))
    await timed(agent, tasks[:4], engine=two)  # a new agent: its workers start here
    calm, _ = await timed(agent, tasks, engine=two)
    RUNS.unlink(missing_ok=True)
    job = asyncio.ensure_future(agent.execute_batch(tasks, engine=two, progress=False))
    while len(read_runs()) < n // 3:  # noqa: ASYNC110 (the runs are in a file)
        await asyncio.sleep(0.005)
    victim = two._pids["w1"]
    os.kill(victim, signal.SIGKILL)
    t = time.perf_counter()
    results = await job
    after = time.perf_counter() - t
    runs = read_runs()
    ok = sum(r["success"] for r in results)
    twice = len(runs) - len(set(runs))
    return [
        Row(f"{n} tasks × 50 ms, 2 workers, w1 SIGKILLed at 1/3", f"{ok}/{n} delivered ok",
            "every result once", f"{len(results)} results"),
        Row("  tasks sent again (they were on w1 when it died)", f"{two.stats.rerun}",
            f"at most {two.concurrency_per_worker} (w1's capacity)"),
        Row("  tool runs repeated (counted by the tool)", f"{twice}",
            "only tasks that were on w1"),
        Row("  time after the kill", ms(after), "", f"undisturbed whole batch {ms(calm)}"),
    ]


async def resumed(quick: bool, two: RayEngine) -> list[Row]:
    n = 400 if quick else 2000
    rows = []
    for label, engine in (("local", None), ("Ray 2 workers", two)):
        agent = make_agent()
        RUNS.unlink(missing_ok=True)
        batch_id = f"bench-resume-{label}"
        journal(batch_id).clear()
        tasks = batch(n, "io_work", 0.05, log=str(RUNS), tag=label)
        kw: dict[str, Any] = {"engine": engine} if engine else {"max_concurrency": 64}
        await timed(agent, tasks[:4], **kw)  # a new agent: its workers start here
        full, _ = await timed(agent, tasks, **kw)
        RUNS.unlink(missing_ok=True)
        journal(batch_id).clear()
        job = asyncio.ensure_future(agent.execute_batch(tasks, progress=False,
                                                        batch_id=batch_id, **kw))
        start = agent.get_performance_metrics()["total_tasks"]
        while agent.get_performance_metrics()["total_tasks"] - start < n // 2:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        job.cancel()
        try:
            await job
        except asyncio.CancelledError:
            pass
        first = len(read_runs())  # the cancel returns once the remote tasks have stopped
        kept = len(journal(batch_id))
        again, _ = await timed(agent, tasks, batch_id=batch_id, **kw)
        rerun = len(read_runs()) - first
        journal(batch_id).clear()
        rows += [
            Row(f"{n} tasks × 50 ms, {label}, cancelled at 50%", f"{kept} journalled",
                "", f"{first} started before the cancel"),
            Row("  run again with the same batch_id", f"{rerun} tasks ran", "the unfinished",
                f"{n - kept} unfinished"),
            Row("  time of the resumed run", ms(again), "", f"full run {ms(full)}",
                f"{again / full:.2f}x"),
        ]
    return rows


async def main_async(quick: bool) -> list[Row]:
    from pitstop._batch.ray_runtime import start_local

    t = time.perf_counter()
    start_local(num_cpus=3)  # logical CPUs: one per worker of the two engines below
    started = time.perf_counter() - t
    one = RayEngine(workers=1, concurrency_per_worker=128)
    two = RayEngine(workers=2, concurrency_per_worker=64)
    t = time.perf_counter()
    await make_agent().execute_batch(batch(2, "io_work", 0), engine=two, progress=False)
    workers = time.perf_counter() - t
    rows = [Row("local Ray start (127.0.0.1)", ms(started)),
            Row("first batch: 2 workers start and build the agent", ms(workers))]
    for part in (overhead(quick, one, two), throughput(quick, one, two),
                 killed_worker(quick, two), resumed(quick, two)):
        got = await part
        for r in got:
            print(f"  {r.workload}: {r.measured} | {r.baseline} | {r.ratio}", flush=True)
        rows += got
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(machine())
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores shared: ratios, not absolutes)")
    os.environ.setdefault("PITSTOP_JOURNAL", str(RUNS.parent / "journal.sqlite3"))
    import ray

    try:
        rows = asyncio.run(main_async(args.quick))
    finally:
        ray.shutdown()
    print_table("Batches beyond one process (pitstop.distributed)", rows)


if __name__ == "__main__":
    main()
