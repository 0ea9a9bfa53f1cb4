"""Agent-core figures: tool-call cost, fan-out, streaming cost, import time, guide speed-up.

Run: ``.venv/bin/python bench/bench_core.py [--quick]``. Every figure is measured in
this process against a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _harness import Row, cpu_per_op, import_time, ms, print_table, us, wall

from pitstop import AgentConfig, FunctionLLM, HybridAgent, LLMResponse, Tool, ToolCall
from pitstop.llm._base import Message, ToolSpec, Usage


async def noop(x: int) -> int:
    return x


def calls_then_answer(k: int) -> FunctionLLM:
    """A zero-latency model: one turn of k tool calls, then a one-word answer."""
    turn = LLMResponse(tool_calls=[ToolCall("noop", {"x": i}) for i in range(k)],
                       usage=Usage(10, 10))
    done = LLMResponse(text="done", usage=Usage(10, 1))

    def fn(messages: list[Message], tools: object) -> LLMResponse:
        return done if messages[-1].role == "tool" else turn

    return FunctionLLM(fn)


class ListLLM:
    """A zero-latency model that streams a fixed list of deltas."""

    model = "list"

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (), *,
                     max_tokens: int | None = None) -> AsyncIterator[object]:
        for p in self.pieces:
            yield p
        yield Usage(1, len(self.pieces))


async def tool_call_cost(repeat: int) -> list[Row]:
    tool = Tool(noop)
    a10 = HybridAgent("b", calls_then_answer(10), tools=[tool])
    a1 = HybridAgent("b", calls_then_answer(1), tools=[tool])
    reps = 200

    async def run10() -> None:
        for _ in range(reps):
            await a10.execute_task("go")

    async def run1() -> None:
        for _ in range(reps):
            await a1.execute_task("go")

    async def floor() -> None:
        for i in range(reps * 9):
            await tool.invoke(tool.validate({"x": i}))

    # Interleave the two runs in each repetition and take the median of the paired
    # differences: drift on a shared machine then hits both sides of each pair alike.
    await run10()
    await run1()
    diffs = []
    for _ in range(repeat * 3):
        t = time.process_time()
        await run10()
        t10 = time.process_time() - t
        t = time.process_time()
        await run1()
        diffs.append((t10 - (time.process_time() - t)) / reps / 9)
    marginal = statistics.median(diffs)
    base = await cpu_per_op(floor, reps * 9, repeat)
    return [Row("marginal cost of a tool call in the agent loop (10 per turn, monitoring on, "
                "CPU)", us(marginal), "≤ 15 µs", f"validate+await floor {us(base)}",
                f"{marginal / base:.1f}× floor", "ok" if marginal <= 15e-6 else "MISSED")]


async def fan_out(n: int, bound: int, repeat: int) -> Row:
    async def sleepy(x: int) -> int:
        await asyncio.sleep(0.05)
        return x

    tool = Tool(sleepy)
    done = LLMResponse("done", usage=Usage(10, 1))
    turn = LLMResponse(tool_calls=[ToolCall("sleepy", {"x": i}) for i in range(n)],
                       usage=Usage(10, 10))
    llm = FunctionLLM(lambda m, t: done if m[-1].role == "tool" else turn)
    agent = HybridAgent("b", llm, tools=[tool],
                        config=AgentConfig(max_concurrency=bound, max_output_tokens=10))

    async def run() -> None:
        r = await agent.execute_task("go")
        assert r["success"] and len(r["tool_calls"]) == n

    async def raw() -> None:
        sem = asyncio.Semaphore(bound)

        async def one(i: int) -> int:
            async with sem:
                return await sleepy(i)

        await asyncio.gather(*(one(i) for i in range(n)))

    ideal = 0.05 * -(-n // bound)
    t_agent = await wall(run, repeat)
    t_raw = await wall(raw, repeat)
    if bound < n:
        eff = ideal / t_agent
        return Row(f"fan-out {n} tools × 50 ms at max_concurrency={bound} (wall)",
                   f"efficiency {eff:.3f} ({ms(t_agent)})", "≥ 0.97",
                   f"raw gather+semaphore efficiency {ideal / t_raw:.3f}",
                   f"{t_agent / t_raw:.3f}× raw", "ok" if eff >= 0.97 else "MISSED")
    per = (t_agent - ideal) / n
    per_raw = (t_raw - ideal) / n
    return Row(f"fan-out {n} tools × 50 ms at max_concurrency={bound} (wall overhead per tool)",
               us(per), "≤ 30 µs", f"raw asyncio.gather {us(per_raw)}",
               f"{per / per_raw:.2f}× raw", "ok" if per <= 30e-6 else "MISSED")


async def streaming(repeat: int) -> Row:
    n = 20_000
    pieces = [f" w{i}" for i in range(n)]
    agent = HybridAgent("b", ListLLM(pieces))

    async def through_agent() -> None:
        count = 0
        async for e in agent.execute_task_streaming("go"):
            if e["type"] == "token":
                count += 1
        assert count == n

    async def gen() -> AsyncIterator[str]:
        for p in pieces:
            yield p

    async def raw() -> None:
        async for _ in gen():
            pass

    t = await cpu_per_op(through_agent, n, repeat)
    base = await cpu_per_op(raw, n, repeat)
    return Row("streaming: cost per token event through execute_task_streaming (CPU)", us(t),
               "≤ 3 µs", f"raw async generator {us(base)}", f"{t / base:.1f}× raw",
               "ok" if t <= 3e-6 else "MISSED")


def imports(repeat: int) -> list[Row]:
    pyd = import_time("import pydantic", repeat)
    base_model = import_time("from pydantic import BaseModel", repeat)
    pit = import_time("import pitstop", repeat)
    ready = import_time("import pitstop; pitstop.HybridAgent", repeat)
    return [
        Row("`import pitstop` (wall, minus bare interpreter)", ms(pit), "≤ 1.3× import pydantic",
            f"import pydantic {ms(pyd)}", f"{pit / pyd:.2f}×",
            "ok" if pit <= 1.3 * pyd else "MISSED"),
        Row("`import pitstop; pitstop.HybridAgent` (everything a run needs)", ms(ready), "—",
            f"from pydantic import BaseModel {ms(base_model)}", f"{ready / base_model:.2f}×",
            "info"),
    ]


async def guide_speedup(repeat: int) -> Row:
    names = ["search", "weather", "calculator", "translator"]

    def make(name: str) -> Tool:
        async def api(q: str) -> str:
            await asyncio.sleep(0.1)
            return q
        return Tool(api, name=name)

    tools = [make(n) for n in names]
    calls = [{"tool_name": n, "parameters": {"q": n}} for n in names]
    agent = HybridAgent("b", FunctionLLM(lambda m, t: "x"), tools=tools)

    async def parallel() -> None:
        await agent.execute_tools_parallel(calls, max_concurrency=10)

    async def sequential() -> None:
        await agent.execute_tools_parallel(calls, max_concurrency=1)

    tp = await wall(parallel, repeat)
    ts = await wall(sequential, repeat)
    return Row("guide's four-tool example (4 × 100 ms), parallel vs one after another (wall)",
               f"{ts / tp:.2f}× faster ({ms(tp)} vs {ms(ts)})", "≥ 3.5×", f"sequential {ms(ts)}",
               f"{ts / tp:.2f}×", "ok" if ts / tp >= 3.5 else "MISSED")


class _DropSpans:
    """An OpenTelemetry span exporter that discards what it gets: the SDK's work is
    measured, a backend's network and encoding are not."""

    def export(self, spans: object) -> object:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


async def otel_cost(repeat: int) -> list[Row]:
    """Added CPU with `pitstop.otel.instrument()` on, against the same agents with it off,
    in paired, interleaved runs (SDK TracerProvider with a BatchSpanProcessor and a
    discarding exporter, SDK MeterProvider with an in-memory reader)."""
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from pitstop import otel
    except ImportError:
        return [Row("OpenTelemetry on: added CPU per tool call and per model call",
                    "not measured", "—", "pip install 'pitstop[otel]'", "", "info")]

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_DropSpans()))  # type: ignore[arg-type]
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    tool = Tool(noop)
    a10 = HybridAgent("b", calls_then_answer(10), tools=[tool])
    a1 = HybridAgent("b", calls_then_answer(1), tools=[tool])
    answer = HybridAgent("b", FunctionLLM(lambda m, t: LLMResponse("done", usage=Usage(10, 1))))
    reps = 200

    async def runs(agent: HybridAgent) -> float:
        t = time.process_time()
        for _ in range(reps):
            await agent.execute_task("go")
        return time.process_time() - t

    def on() -> None:
        otel.instrument(tracer_provider, meter_provider=meter_provider)

    per_tool: dict[bool, list[float]] = {False: [], True: []}
    per_task: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeat * 3):
        for instrumented in (False, True):  # interleaved: drift hits both sides alike
            if instrumented:
                on()
            per_tool[instrumented].append((await runs(a10) - await runs(a1)) / reps / 9)
            per_task[instrumented].append(await runs(answer) / reps)
            otel.uninstrument()
    tracer_provider.shutdown()
    tool_off, tool_on = (statistics.median(per_tool[k]) for k in (False, True))
    task_off, task_on = (statistics.median(per_task[k]) for k in (False, True))
    return [
        Row("OpenTelemetry on: added CPU per tool call (an execute_tool span, a cache-free "
            "call)", us(tool_on - tool_off), "—", f"off: {us(tool_off)} per call",
            f"{tool_on / tool_off:.2f}×", "info"),
        Row("OpenTelemetry on: added CPU per model call (a one-call task: invoke_agent + chat "
            "spans, duration and token metrics)", us(task_on - task_off), "—",
            f"off: {us(task_off)} per task", f"{task_on / task_off:.2f}×", "info"),
    ]


async def main_async(quick: bool) -> list[Row]:
    r = 3 if quick else 7
    rows = await tool_call_cost(r)
    rows.append(await fan_out(100, 10, r))
    rows.append(await fan_out(1000, 1000, r))
    rows.append(await streaming(r))
    rows.append(await guide_speedup(r))
    rows += await otel_cost(r)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = asyncio.run(main_async(args.quick))
    rows += imports(5 if args.quick else 15)
    print_table("Agent core", rows)


if __name__ == "__main__":
    main()
