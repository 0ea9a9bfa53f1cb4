"""pitstop against its peers, side by side, in one run (issue 8).

Run inside the benchmark environment, which has the peers installed::

    .bench-venv/bin/python bench/bench_peers.py [--quick] [--only fanout,stream] [--json PATH]

(``bench/run.py`` creates ``.bench-venv`` and runs this for you.) The same workloads go
through raw asyncio (the floor), pitstop, LangGraph, pydantic-ai, openai-agents and, for
rate limits, aiolimiter; each library's adapter lives in ``bench/peers/``. Every model is
an offline scripted fake; nothing touches the network.

Method: within each repetition every contender runs once, in an order rotated from one
repetition to the next, so drift and a noisy neighbour hit all of them alike; each cell is
the median over repetitions. CPU-bound figures use ``time.process_time`` (this process's
CPU, immune to other processes stealing the cores); anything that waits uses wall time.
Before a contender is timed, its run is checked: the scripted tool calls really ran and
the answer came back. A library that is missing, lacks the feature, or fails says so in
its cell; nothing is estimated.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import math
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from peers import SIDES, Missing, Side, Unsupported, load_sides, zipf_arguments

AGENTS = ("langgraph", "pydantic_ai", "openai_agents")
"""The agent frameworks: pitstop's rivals on every row but the rate-limiter ones."""
LIMITERS = ("langgraph", "aiolimiter")
"""langchain-core's InMemoryRateLimiter (in the LangGraph column) and aiolimiter."""

Sampler = Callable[[], Awaitable[float]]
"""Takes one sample (seconds, or whatever the row measures) of one contender."""


# -- the report's data ------------------------------------------------------------------


@dataclass
class Cell:
    value: float | None
    """The number that ratios are computed from (None: no number)."""
    text: str


@dataclass
class Line:
    """One row of the table."""

    workload: str
    metric: str
    better: str | None  # "lower", "higher" or None (no ranking)
    cells: dict[str, Cell] = field(default_factory=dict)
    rivals: tuple[str, ...] = AGENTS
    """The peers pitstop is ranked against on this row (those that do the same job)."""


@dataclass
class Config:
    quick: bool
    reps: int
    cpu_target: float
    """Seconds of CPU one CPU sample aims for (the loop count is calibrated to it)."""
    stream_tokens: int
    batch_tasks: int
    requesters: int
    import_reps: int
    replay_calls: int = 2000


def config(quick: bool) -> Config:
    if quick:
        return Config(quick=True, reps=3, cpu_target=0.03, stream_tokens=5000,
                      batch_tasks=200, requesters=150, import_reps=2)
    return Config(quick=False, reps=7, cpu_target=0.12, stream_tokens=20000,
                  batch_tasks=1000, requesters=300, import_reps=7)


def us(s: float) -> str:
    return f"{s * 1e6:,.1f} µs" if s < 1e-3 else f"{s * 1e3:,.2f} ms"


def ms(s: float) -> str:
    return f"{s * 1e3:,.1f} ms" if s < 10 else f"{s:,.2f} s"


# -- timing -----------------------------------------------------------------------------


async def cpu_per_op(fn: Callable[[], Awaitable[object]], n: int) -> float:
    t = time.process_time()
    for _ in range(n):
        await fn()
    return (time.process_time() - t) / n


async def calibrate(fn: Callable[[], Awaitable[object]], target: float, cap: int = 100_000
                    ) -> int:
    """How many calls of `fn` make one sample of about `target` CPU seconds."""
    t = time.process_time()
    await fn()
    one = max(time.process_time() - t, 1e-6)
    return max(1, min(cap, math.ceil(target / one)))


def settle() -> None:
    """Collect, then freeze what survives: the peers' imports leave a heap whose full
    collection takes a third of a second, and a collection landing inside one contender's
    sample would charge that contender for everyone's heap."""
    gc.collect()
    gc.freeze()


async def interleave(samplers: dict[str, Sampler], reps: int
                     ) -> dict[str, float | BaseException]:
    """The median sample of each contender, interleaved within every repetition."""
    samples: dict[str, list[float]] = {k: [] for k in samplers}
    errors: dict[str, BaseException] = {}
    keys = list(samplers)
    for r in range(reps):
        shift = r % max(1, len(keys))
        for key in keys[shift:] + keys[:shift]:
            if key in errors:
                continue
            gc.collect()
            try:
                samples[key].append(await samplers[key]())
            except Exception as exc:  # reported in its cell, never hidden
                errors[key] = exc
    return {k: errors[k] if k in errors else statistics.median(samples[k]) for k in keys}


def checked(side: Side, fn: Callable[[], Awaitable[object]], runs: int,
            expect: object = "done") -> Callable[[], Awaitable[object]]:
    """`fn`, failing loudly when its tool calls did not all run or its answer is wrong."""

    async def run() -> object:
        before = side.tool_runs
        out = await fn()
        if side.tool_runs - before != runs:
            raise AssertionError(f"{side.label}: expected {runs} tool runs, saw "
                                 f"{side.tool_runs - before}")
        if expect is not None and out != expect:
            raise AssertionError(f"{side.label}: expected answer {expect!r}, got {out!r:.60}")
        return out

    return run


# -- the benchmark ----------------------------------------------------------------------


class Bench:
    def __init__(self, sides: list[Side | Missing], cfg: Config) -> None:
        self.sides = sides
        self.cfg = cfg
        self.lines: list[Line] = []
        self.failures: list[str] = []

    # A workload asks each side to `prepare` a sampler; what each side cannot do is a cell.
    async def collect(self, line: Line, prepare: Callable[[Side], Awaitable[Sampler]],
                      render: Callable[[float], Cell], keys: tuple[str, ...] | None = None,
                      reps: int | None = None) -> dict[str, float]:
        samplers: dict[str, Sampler] = {}
        for side in self.sides:
            if keys is not None and side.key not in keys:
                continue
            if isinstance(side, Missing):
                line.cells[side.key] = Cell(None, "not installed")
                continue
            try:
                samplers[side.key] = await prepare(side)
            except Unsupported as exc:
                line.cells[side.key] = Cell(None, f"— ({exc})")
            except Exception as exc:
                self._fail(line, side.key, exc)
        settle()
        values: dict[str, float] = {}
        for key, result in (await interleave(samplers, reps or self.cfg.reps)).items():
            if isinstance(result, BaseException):
                self._fail(line, key, result)
            else:
                values[key] = result
                line.cells[key] = render(result)
        self.lines.append(line)
        return values

    def _fail(self, line: Line, key: str, exc: BaseException) -> None:
        line.cells[key] = Cell(None, f"failed ({type(exc).__name__})")
        self.failures.append(f"{line.workload} / {key}: {type(exc).__name__}: {exc}")

    # 1 and 2 ---------------------------------------------------------------------------

    async def agent_loop(self) -> None:
        cfg = self.cfg

        async def marginal(side: Side) -> Sampler:
            run10 = checked(side, side.agent_run(10), 10)
            run1 = checked(side, side.agent_run(1), 1)
            await run1()  # checks and warms up; so does the calibration of run10
            n = await calibrate(run10, cfg.cpu_target / 2)

            async def sample() -> float:
                return (await cpu_per_op(run10, n) - await cpu_per_op(run1, n)) / 9

            return sample

        await self.collect(
            Line("1. marginal cost of a tool call in the agent loop (one turn of 10 calls "
                 "vs 1, no-op tool)", "CPU per call ↓", "lower"),
            marginal, lambda v: Cell(v, us(v)))

        async def fixed(side: Side) -> Sampler:
            run0 = checked(side, side.agent_run(0), 0)
            n = await calibrate(run0, cfg.cpu_target)
            return lambda: cpu_per_op(run0, n)

        await self.collect(
            Line("2. fixed cost of a run with no tool call (one model turn, answer)",
                 "CPU per run ↓", "lower"),
            fixed, lambda v: Cell(v, us(v)))

    # 3 ---------------------------------------------------------------------------------

    async def fan_out(self) -> None:
        cfg = self.cfg
        delay = 0.05
        for n, bound in ((100, 10), (1000, 1000)):
            ideal = delay * -(-n // bound)

            async def prepare(side: Side, n: int = n, bound: int = bound) -> Sampler:
                run = checked(side, side.fan_out(n, bound, delay), n)
                if not cfg.quick:
                    await run()  # warm up (quick: the median of 3 drops a cold first run)

                async def sample() -> float:
                    t = time.perf_counter()
                    await run()
                    return time.perf_counter() - t

                return sample

            if bound < n:
                line = Line(f"3a. fan-out {n} tools × 50 ms at bound {bound} (one run; "
                            "ideal / wall)", "efficiency ↑", "higher")
                await self.collect(line, prepare,
                                   lambda v, i=ideal: Cell(i / v, f"{i / v:.3f} ({ms(v)})"))
            else:
                line = Line(f"3b. fan-out {n} tools × 50 ms at bound {bound} (one run; "
                            "(wall − 50 ms) / n)", "wall overhead per tool ↓", "lower")
                await self.collect(line, prepare, lambda v, i=ideal, n=n: Cell(
                    (v - i) / n, f"{us((v - i) / n)} ({ms(v)})"))

    # 4 ---------------------------------------------------------------------------------

    async def cache_cost(self) -> None:
        cfg = self.cfg
        keys = ("floor", "pitstop", "langgraph", "pydantic_ai", "openai_agents")

        async def hit(side: Side) -> Sampler:
            cc = side.cached_tool(0.0)
            await cc.call(1)
            runs = cc.runs()

            async def one() -> object:
                return await cc.call(1)

            n = await calibrate(one, cfg.cpu_target)

            async def sample() -> float:
                v = await cpu_per_op(one, n)
                if cc.runs() != runs:
                    raise AssertionError(f"{side.label}: a cache hit ran the tool")
                return v

            return sample

        await self.collect(
            Line("4a. cache hit: one tool call answered from the cache", "CPU per call ↓",
                 "lower"), hit, lambda v: Cell(v, us(v)), keys)

        async def miss(side: Side) -> Sampler:
            cc = side.cached_tool(0.0)
            fresh = iter(range(10, 10**9))

            async def one() -> object:
                return await cc.call(next(fresh))

            n = await calibrate(one, cfg.cpu_target)

            async def sample() -> float:
                runs = cc.runs()
                v = await cpu_per_op(one, n)
                if cc.runs() - runs != n:
                    raise AssertionError(f"{side.label}: a miss did not run the tool")
                return v

            return sample

        await self.collect(
            Line("4b. cache miss: lookup, run a no-op tool, store", "CPU per call ↓", "lower"),
            miss, lambda v: Cell(v, us(v)), keys)

    # 5 ---------------------------------------------------------------------------------

    async def rate_limits(self) -> None:
        cfg = self.cfg
        rate, burst, r = 100.0, 1, cfg.requesters
        keys = ("floor", "pitstop", "langgraph", "aiolimiter", "pydantic_ai", "openai_agents")
        stamps: dict[str, list[float]] = {}
        ideal = (r - burst) / rate
        deadline = 1.5 * ideal + 0.5

        async def accuracy(side: Side) -> Sampler:
            limiter = side.limiter(rate, burst)

            async def sample() -> float:
                t0 = time.monotonic()
                times: list[float] = []

                async def requester() -> None:
                    await limiter.acquire()
                    times.append(time.monotonic() - t0)

                tasks = [asyncio.ensure_future(requester()) for _ in range(r)]
                _done, late = await asyncio.wait(tasks, timeout=deadline)
                for task in late:  # a limiter far slower than its rate: stop, and say so
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                stamps[side.key] = sorted(times)
                return math.inf if late else max(times)

            return sample

        windows = math.ceil(r / rate)
        ideal_windows = [str(min(int(rate), r - int(rate) * w)) for w in range(windows)]
        last = await self.collect(
            Line(f"5a. rate limit {rate:.0f}/s, burst {burst}: {r} concurrent requesters, "
                 f"time of the last admission (ideal {ideal:.2f} s; stopped at "
                 f"{deadline:.1f} s)",
                 "seconds (closest to ideal)", None, rivals=LIMITERS),
            accuracy, lambda v: Cell(v, f"{v:.3f} s") if v != math.inf else Cell(
                None, f"not done at {deadline:.1f} s"), keys, reps=1)
        per_window = Line(f"5b. same run: admitted in each 1 s window (ideal "
                          f"{'/'.join(ideal_windows)})", "count", None, rivals=LIMITERS)
        sliding = Line("5c. same run: most admitted in any sliding 1 s window (limit "
                       f"{rate + burst:.0f} = rate + burst)", "count", None, rivals=LIMITERS)
        for side in self.sides:
            key = side.key
            if key not in keys:
                continue
            if key not in last:
                per_window.cells[key] = sliding.cells[key] = self.lines[-1].cells.get(
                    key, Cell(None, "—"))
                continue
            times = stamps[key]
            counts = [sum(1 for t in times if w <= t < w + 1)
                      for w in range(math.ceil(deadline))]
            while len(counts) > 1 and counts[-1] == 0:
                counts.pop()
            text = "/".join(map(str, counts))
            if len(times) < r:
                text += f" ({r - len(times)} never admitted)"
            per_window.cells[key] = Cell(None, text)
            most, j = 0, 0
            for i in range(len(times)):
                while times[i] - times[j] >= 1.0:
                    j += 1
                most = max(most, i - j + 1)
            ok = "ok" if most <= rate + burst else "OVER"
            sliding.cells[key] = Cell(most, f"{most} {ok}")
        self.lines += [per_window, sliding]

        async def overhead(side: Side) -> Sampler:
            limiter = side.limiter(1e9, 10**9)
            for _ in range(3):  # a bucket that starts empty fills on first use
                await limiter.acquire()
            n = await calibrate(limiter.acquire, cfg.cpu_target)
            return lambda: cpu_per_op(limiter.acquire, n)

        await self.collect(
            Line("5d. rate limiter: overhead of one acquire that does not wait", "CPU per "
                 "acquire ↓", "lower", rivals=LIMITERS), overhead, lambda v: Cell(v, us(v)), keys)

    # 6 ---------------------------------------------------------------------------------

    async def streaming(self) -> None:
        n = self.cfg.stream_tokens
        pieces = [f" w{i}" for i in range(n)]

        async def prepare(side: Side) -> Sampler:
            run = checked(side, side.stream(pieces), 0, expect=n)
            reps = await calibrate(run, self.cfg.cpu_target)  # also checks and warms up

            async def sample() -> float:
                return await cpu_per_op(run, reps) / n

            return sample

        await self.collect(
            Line(f"6. streaming: one run of a zero-latency model streaming {n:,} tokens, each "
                 "delta delivered to the caller", "CPU per token ↓", "lower"),
            prepare, lambda v: Cell(v, us(v)))

    # 7 ---------------------------------------------------------------------------------

    async def imports(self) -> None:
        py = sys.executable

        def run(code: str) -> float:
            t = time.perf_counter()
            subprocess.run([py, "-W", "ignore", "-c", code], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            return time.perf_counter() - t

        for row, title in (("ready", "7a. import what a first agent needs (fresh "
                                     "interpreter, minus a bare one)"),
                           ("package", "7b. import the top-level package (fresh interpreter, "
                                       "minus a bare one)")):
            line = Line(title, "wall ↓", "lower")
            codes: dict[str, str] = {"floor": "import asyncio"}
            for side in self.sides:
                if isinstance(side, Missing):
                    line.cells[side.key] = Cell(None, "not installed")
                    continue
                code = dict(side.imports).get(row)
                if row == "package" and self.cfg.quick and side.key in AGENTS:
                    line.cells[side.key] = Cell(None, "full run only")
                elif code and side.key != "floor":
                    codes[side.key] = code
            base: list[float] = []
            cost: dict[str, list[float]] = {k: [] for k in codes}
            failed: dict[str, str] = {}
            keys = list(codes)
            for r in range(self.cfg.import_reps):
                shift = r % len(keys)
                for key in keys[shift:] + keys[:shift]:
                    if key in failed:
                        continue
                    base.append(run("pass"))
                    try:
                        cost[key].append(run(codes[key]))
                    except subprocess.CalledProcessError as exc:
                        failed[key] = exc.stderr.decode(errors="replace").strip()[-300:]
            floor = statistics.median(base)
            for key, code in codes.items():
                if key in failed:
                    line.cells[key] = Cell(None, "failed")
                    self.failures.append(f"{title} / {key}: {failed[key]}")
                    continue
                v = max(0.0, statistics.median(cost[key]) - floor)
                line.cells[key] = Cell(v, f"{ms(v)} `{code}`")
            self.lines.append(line)

    # 8 ---------------------------------------------------------------------------------

    async def batch(self) -> None:
        n, bound = self.cfg.batch_tasks, 10

        async def prepare(side: Side) -> Sampler:
            run = side.batch(n, bound)
            out = await run()
            if not isinstance(out, list) or len(out) != n:
                raise AssertionError(f"{side.label}: batch returned {type(out).__name__}")

            async def sample() -> float:
                t = time.perf_counter()
                await run()
                return time.perf_counter() - t

            return sample

        line = Line(f"8a. batch of {n:,} no-tool tasks on one agent, at most {bound} at once "
                    "(zero-latency model)", "total wall ↓", "lower")
        values = await self.collect(line, prepare, lambda v: Cell(v, ms(v)))
        per = Line("8b. same batch: overhead per task (wall / tasks)", "wall per task ↓",
                   "lower")
        for key, cell in line.cells.items():
            per.cells[key] = (Cell(values[key] / n, us(values[key] / n)) if key in values
                              else cell)
        self.lines.append(per)

    # 9 ---------------------------------------------------------------------------------

    async def guide(self) -> None:
        async def prepare(side: Side) -> Sampler:
            par = checked(side, side.four_tools(parallel=True), 4)
            seq = checked(side, side.four_tools(parallel=False), 4)
            if not self.cfg.quick:
                await par()  # warm up

            # one after another takes 400 ms and more for everyone: measured once, after the
            # interleaved parallel runs
            parallel: list[float] = []

            async def sample() -> float:
                t = time.perf_counter()
                await par()
                parallel.append(time.perf_counter() - t)
                if len(parallel) == self.cfg.reps:
                    t = time.perf_counter()
                    await seq()
                    self._guide_times[side.key] = (statistics.median(parallel),
                                                   time.perf_counter() - t)
                return 0.0

            return sample

        self._guide_times: dict[str, tuple[float, float]] = {}
        line = Line("9a. guide: four tools × 100 ms in one turn, parallel vs one after "
                    "another (median parallel wall / one sequential run)",
                    "speed-up ↑ (parallel wall)", "higher")
        await self.collect(line, prepare, lambda v: Cell(None, ""))
        for key, (tp, ts) in self._guide_times.items():
            line.cells[key] = Cell(ts / tp, f"{ts / tp:.2f}× ({ms(tp)})")

        calls = zipf_arguments(self.cfg.replay_calls, distinct=1000)
        distinct = len(set(calls))
        latency = 0.001
        walls: dict[str, float] = {}
        keys = ("floor", "pitstop", "langgraph", "pydantic_ai", "openai_agents")

        async def replay(side: Side, cached: bool = True) -> Sampler:
            cc = side.cached_tool(latency) if cached else side.uncached_tool(latency)

            async def sample() -> float:
                t = time.perf_counter()
                for x in calls:
                    await cc.call(x)
                walls[side.key if cached else "uncached"] = time.perf_counter() - t
                return cc.runs()

            return sample

        reduction = Line(
            f"9b. guide: caching a replay of {len(calls):,} calls with Zipf(1.1) arguments "
            f"({distinct} distinct), cost = tool runs", "cost saved ↑", "higher")
        runs = await self.collect(
            reduction, replay,
            lambda v: Cell(1 - v / len(calls), f"{1 - v / len(calls):.1%} ({v:,.0f} runs)"),
            keys, reps=1)
        wall = Line(f"9c. same replay, wall with the cache (tool = {latency * 1e3:.0f} ms "
                    "sleep, calls one after another)", "wall ↓", "lower")
        for key, cell in reduction.cells.items():
            wall.cells[key] = Cell(walls[key], ms(walls[key])) if key in runs else cell
        pitstop = next((s for s in self.sides if s.key == "pitstop"), None)
        if isinstance(pitstop, Side) and "pitstop" in runs:
            try:
                sample = await replay(pitstop, cached=False)
                await sample()
                t = walls["uncached"]
                wall.metric += f" (pitstop without cache: {ms(t)})"
                wall.cells["pitstop"].text += f" ({1 - walls['pitstop'] / t:.0%} less)"
            except Exception as exc:
                self.failures.append(f"9c pitstop without cache: {exc!r}")
        self.lines.append(wall)


# -- rendering --------------------------------------------------------------------------


def ratio_cells(line: Line) -> tuple[str, str]:
    p = line.cells.get("pitstop")
    if line.better is None or p is None or p.value is None:
        return "", ""
    f = line.cells.get("floor")
    to_floor = ""
    if f is not None and f.value:
        to_floor = f"{p.value / f.value:.2f}×"
    peers = {k: c.value for k, c in line.cells.items()
             if k in line.rivals and c.value is not None}
    if not peers:
        return to_floor, "no peer"
    pick = min if line.better == "lower" else max
    best_key = pick(peers, key=lambda k: peers[k])
    best = peers[best_key]
    if best == 0:
        return to_floor, "—"
    r = p.value / best
    ahead = r < 1 if line.better == "lower" else r > 1
    if abs(r - 1) < 0.03:
        verdict = "≈ tie"
    else:
        verdict = "ahead" if ahead else "BEHIND"
    label = dict((k, t) for k, t, _m, _c in SIDES)[best_key]
    return to_floor, f"{r:.2f}× vs {label}: {verdict}"


def render(lines: list[Line]) -> str:
    cols = [(k, t) for k, t, _m, _c in SIDES]
    head = ["workload", "metric", *[t for _k, t in cols], "pitstop ÷ floor",
            "pitstop ÷ best peer"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for line in lines:
        cells = [line.cells.get(k, Cell(None, "")).text for k, _t in cols]
        out.append("| " + " | ".join([line.workload, line.metric, *cells,
                                      *ratio_cells(line)]) + " |")
    return "\n".join(out)


def versions(sides: list[Side | Missing]) -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for key, _t, _m, _c in SIDES:
        side = next((s for s in sides if s.key == key), None)
        dists = side.distributions if isinstance(side, Side) else ()
        for d in dists or ():
            try:
                out[d] = importlib.metadata.version(d)
            except importlib.metadata.PackageNotFoundError:
                out[d] = "not installed"
    for d in ("langgraph", "langchain-core", "pydantic-ai-slim", "openai-agents",
              "aiolimiter", "pydantic", "openai"):
        if d not in out:
            try:
                out[d] = importlib.metadata.version(d)
            except importlib.metadata.PackageNotFoundError:
                out[d] = "not installed"
    return out


WORKLOADS = ("agent", "fanout", "cache", "limits", "stream", "imports", "batch", "guide")


async def main_async(cfg: Config, only: tuple[str, ...]) -> Bench:
    bench = Bench(load_sides(), cfg)
    settle()
    steps: dict[str, Callable[[], Awaitable[None]]] = {
        "agent": bench.agent_loop, "fanout": bench.fan_out, "cache": bench.cache_cost,
        "limits": bench.rate_limits, "stream": bench.streaming, "imports": bench.imports,
        "batch": bench.batch, "guide": bench.guide,
    }
    for name in WORKLOADS:
        if name in only:
            t = time.perf_counter()
            await steps[name]()
            print(f"  [{name}: {time.perf_counter() - t:.1f} s]", file=sys.stderr, flush=True)
    return bench


def notes(sides: list[Side | Missing], cfg: Config) -> str:
    out = ["How each contender does the work (details in bench/README.md):", ""]
    for side in sides:
        if isinstance(side, Missing):
            out.append(f"- **{side.label}**: NOT INSTALLED ({side.error}); its cells say so.")
            continue
        bits = "; ".join(f"{k}: {v}" for k, v in side.notes.items())
        out.append(f"- **{side.label}**: {bits}.")
    if cfg.quick:
        out.append(f"- `--quick`: {cfg.reps} repetitions, {cfg.stream_tokens:,} streamed "
                   f"tokens, a batch of {cfg.batch_tasks:,} tasks (1,000 in the full run), "
                   f"{cfg.requesters} rate-limit requesters (300 in the full run).")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and sizes")
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--json", type=Path, help="also write the rows and versions here")
    args = parser.parse_args()
    # create_react_agent is deprecated in LangGraph 1.x in favour of langchain.agents,
    # which is not a LangGraph dependency; it is still what a LangGraph user calls
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    only = tuple(w.strip() for w in args.only.split(",") if w.strip())
    unknown = sorted(set(only) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {', '.join(WORKLOADS)}")
    cfg = config(args.quick)
    bench = asyncio.run(main_async(cfg, only))
    vers = versions(bench.sides)
    print("### pitstop vs peers (same workloads, same process, interleaved)\n")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()) + "\n")
    print(render(bench.lines) + "\n")
    print(notes(bench.sides, cfg) + "\n")
    behind = [line for line in bench.lines if "BEHIND" in ratio_cells(line)[1]]
    if behind:
        print("Where pitstop is not ahead of every peer:\n")
        for line in behind:
            print(f"- {line.workload}: {ratio_cells(line)[1]}")
        print()
    if bench.failures:
        print("Failures (a contender that failed a workload; not hidden):\n")
        for f in bench.failures:
            print(f"- {f}")
        print()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(
            {"versions": vers, "quick": cfg.quick, "lines": [asdict(x) for x in bench.lines],
             "failures": bench.failures}, indent=1, default=str))


if __name__ == "__main__":
    main()
