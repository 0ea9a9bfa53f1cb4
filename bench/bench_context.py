"""Conversation-memory figures: the guide's compression over a 500-message session, and
compression's own cost.

Run: ``.venv/bin/python bench/bench_context.py [--quick]``. Every figure is measured in
this process; the baseline (the same session without compression) runs in the same run.

1. A session driven to 500 messages through `HybridAgent` with a zero-latency
   `FunctionLLM` and ``context={"session_id": ...}``, with the guide's settings
   (summarize, threshold 50, target 30): the most messages the model is ever sent,
   prompt tokens per model call with and without compression, the tokens the summary
   calls cost, and the memory the engine's sessions hold (tracemalloc).
2. Compression itself: ``truncate`` of a 1,000-message session, ``summarize`` of it with
   a zero-latency fake model (so the figure excludes the model), and `prepare` when no
   trigger fires (its cost on every model call).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _harness import Row, machine, ms, print_table, us

from pitstop import (
    CompressionConfig,
    ContextEngine,
    FunctionLLM,
    HybridAgent,
    LLMResponse,
    Message,
    ToolCall,
)
from pitstop.llm._base import StreamItem, ToolSpec, Usage
from pitstop.llm._tokens import count_message_tokens

GUIDE = CompressionConfig(
    strategy="summarize",
    auto_compress_enabled=True,
    auto_compress_threshold=50,
    auto_compress_target=30,
)
MESSAGES = 500  # each task adds 4: the task, a tool call, its result, the answer


def lookup(city: str) -> str:
    """The weather of a city."""
    return f"{city}: 18 degrees, light wind from the west, no rain expected this afternoon."


class Recorder:
    """A zero-latency model: one tool call per task, then an answer; summaries in text."""

    def __init__(self) -> None:
        self.prompt_tokens: list[int] = []  # per answering call, summary calls excluded
        self.prompt_messages: list[int] = []
        self.summary_tokens = 0  # input + output of the summary calls
        self.llm = FunctionLLM(self.answer, model="bench")

    def answer(self, messages: list[Message], tools: list[ToolSpec]) -> LLMResponse:
        tokens = count_message_tokens(messages, "bench")
        if not tools:  # the engine asking for a summary
            text = "Earlier the user asked for the weather of many cities; all were mild."
            self.summary_tokens += tokens + len(text) // 4
            return LLMResponse(text=text, usage=Usage(tokens, len(text) // 4))
        self.prompt_tokens.append(tokens)
        self.prompt_messages.append(len(messages) - 1)  # the session; the system prompt is extra
        last = messages[-1]
        if last.role == "tool":
            return LLMResponse(text=f"Here you go: {last.content}", usage=Usage(tokens, 20))
        city = last.content.rsplit(" ", 1)[-1]
        return LLMResponse(tool_calls=[ToolCall("lookup", {"city": city})], usage=Usage(tokens, 10))


async def drive(compress: bool) -> dict[str, Any]:
    """One session to 500 messages through the agent; returns what the model saw."""
    gc.collect()
    tracemalloc.start()
    engine = ContextEngine(GUIDE if compress else None)
    model = Recorder()
    agent = HybridAgent("bench", model.llm, tools=[lookup], context_engine=engine)
    compressions: list[dict[str, Any]] = []
    tasks = MESSAGES // 4
    for task in range(tasks):
        async for event in agent.execute_task_streaming(
            f"What is the weather in city{task}", {"session_id": "bench"}
        ):
            if event["type"] == "compression":
                compressions.append(event)
            elif event["type"] == "result" and not event["success"]:
                raise RuntimeError(event["error"])
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    stats = engine.stats()
    engine.clear()
    gc.collect()
    freed = held - tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {
        "tasks": tasks,
        "model": model,
        "compressions": compressions,
        "memory": freed,
        "stats": stats,
    }


def _summary(values: list[int]) -> str:
    return f"mean {statistics.fmean(values):,.0f}, max {max(values):,}, total {sum(values):,}"


async def guide_session() -> list[Row]:
    on, off = await drive(True), await drive(False)
    m_on, m_off = on["model"], off["model"]
    events = on["compressions"]
    print(
        f"Session driven through HybridAgent + FunctionLLM (zero latency), "
        f"context={{'session_id': 'bench'}}: {on['tasks']} tasks, {on['tasks'] * 4} messages "
        f"appended, {len(m_on.prompt_tokens)} model calls each way."
    )
    print(f"  prompt tokens per call, compressed:   {_summary(m_on.prompt_tokens)}")
    print(f"  prompt tokens per call, uncompressed: {_summary(m_off.prompt_tokens)}")
    print(
        f"  {len(events)} compressions (before -> after: "
        f"{events[0]['before']} -> {events[0]['after']}), summary calls cost "
        f"{m_on.summary_tokens:,} tokens; median compression "
        f"{ms(statistics.median(e['duration'] for e in events))} (zero-latency model)"
    )
    print(
        f"  engine memory (tracemalloc, freed by clear()): {on['memory'] / 1024:,.1f} KiB "
        f"compressed vs {off['memory'] / 1024:,.1f} KiB uncompressed "
        f"(stats() estimate {on['stats']['memory_bytes'] / 1024:,.1f} vs "
        f"{off['stats']['memory_bytes'] / 1024:,.1f} KiB)\n"
    )
    max_held = max(m_on.prompt_messages)
    total_on = sum(m_on.prompt_tokens) + m_on.summary_tokens
    total_off = sum(m_off.prompt_tokens)
    return [
        Row(
            "most session messages sent to the model (500-msg session, threshold 50/target 30)",
            str(max_held),
            "<= 51",
            f"{max(m_off.prompt_messages)} uncompressed",
            "",
            "ok" if max_held <= 51 else "MISSED",
        ),
        Row(
            "prompt tokens per model call, mean",
            f"{statistics.fmean(m_on.prompt_tokens):,.0f}",
            "",
            f"{statistics.fmean(m_off.prompt_tokens):,.0f}",
            f"{statistics.fmean(m_off.prompt_tokens) / statistics.fmean(m_on.prompt_tokens):.1f}x"
            " fewer",
            "",
        ),
        Row(
            "total tokens of the session's model calls (summary calls included)",
            f"{total_on:,}",
            "",
            f"{total_off:,}",
            f"{total_off / total_on:.1f}x fewer",
            "",
        ),
        Row(
            "engine memory after 500 messages (tracemalloc)",
            f"{on['memory'] / 1024:,.1f} KiB",
            "",
            f"{off['memory'] / 1024:,.1f} KiB",
            f"{off['memory'] / max(1, on['memory']):.1f}x less",
            "",
        ),
    ]


class InstantLLM:
    """A zero-latency summariser: one short delta, then the usage."""

    model = "instant"

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        max_tokens: int | None = None,
    ) -> AsyncIterator[StreamItem]:
        yield "The user asked about many cities; the weather was mild everywhere."
        yield Usage(1, 1)


def long_session(n: int) -> list[Message]:
    """`n` messages of tasks, tool groups and answers, like an agent writes them."""
    out: list[Message] = [Message("system", "You keep notes.")]
    i = 0
    while len(out) < n:
        call = ToolCall("lookup", {"city": f"city{i}"}, f"c{i}")
        out += [
            Message("user", f"What is the weather in city{i}?"),
            Message("assistant", "", (call,)),
            Message("tool", lookup(f"city{i}"), tool_call_id=f"c{i}", name="lookup"),
            Message("assistant", f"Here you go: {lookup(f'city{i}')}"),
        ]
        i += 1
    return out[:n]


async def compression_cost(repeat: int) -> list[Row]:
    history = long_session(1000)

    async def once(strategy: str) -> float:
        engine = ContextEngine(CompressionConfig(keep_recent=10), InstantLLM())
        engine.append("s", *history)
        t = time.perf_counter()
        result = await engine.compress_conversation("s", strategy)
        elapsed = time.perf_counter() - t
        assert result.changed and result.after <= 12, result
        return elapsed

    rows = []
    for strategy, target in (("truncate", 0.002), ("summarize", None)):
        await once(strategy)  # warm up
        samples = [await once(strategy) for _ in range(repeat)]
        med = statistics.median(samples)
        rows.append(
            Row(
                f"{strategy} a 1,000-message session (median of {repeat})"
                + (", zero-latency model" if strategy == "summarize" else ""),
                ms(med) if med >= 1e-3 else us(med),
                "<= 2 ms" if target else "",
                "",
                "",
                ("ok" if med <= target else "MISSED") if target else "",
            )
        )

    engine = ContextEngine(GUIDE)
    engine.append("s", *history[:40])
    llm = InstantLLM()
    calls = 20_000
    samples = []
    for _ in range(max(3, repeat // 5)):
        t = time.perf_counter()
        for _ in range(calls):
            await engine.prepare("s", llm=llm)
        samples.append((time.perf_counter() - t) / calls)
    rows.append(
        Row("prepare() before a model call, no trigger fires", us(statistics.median(samples)))
    )
    return rows


async def main_async(quick: bool) -> list[Row]:
    rows = await guide_session()
    rows += await compression_cost(5 if quick else 30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(machine())
    rows = asyncio.run(main_async(args.quick))
    print_table("Conversation memory", rows)


if __name__ == "__main__":
    main()
