"""Benchmark the local llama.cpp model and the overhead of `OpenAIClient.stream`.

Measures, on this machine:

- model load time: spawning ``llama_cpp.server`` until ``/v1/models`` answers;
- time to first token and decode speed (tokens per second after the first token);
- the per-token cost of `OpenAIClient.stream` against the raw ``openai`` client reading
  the same server with the same request (temperature 0, so the same tokens), with the
  two interleaved and the order alternated, reporting medians.

Wall time per token is dominated by the model. The client's own cost is the CPU time of
this process (the server is another process) divided by the chunks received, so the
overhead row compares that.

Run: ``python bench/bench_local.py [--repeats 9] [--max-tokens 64] [--loads 3] [--threads 1,2]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from openai import AsyncOpenAI

from pitstop.llm._base import Message
from pitstop.llm._local import LocalModel
from pitstop.llm._openai import LOCAL_API_KEY, OpenAIClient

PROMPT = "Write a short paragraph about the history of the bicycle."


@dataclass
class Run:
    ttft_s: float
    total_s: float
    chunks: int
    output_tokens: int
    cpu_s: float

    @property
    def decode_tps(self) -> float:
        return (self.output_tokens - 1) / max(self.total_s - self.ttft_s, 1e-9)

    @property
    def cpu_us_per_chunk(self) -> float:
        return self.cpu_s / max(self.chunks, 1) * 1e6

    @property
    def wall_ms_per_token(self) -> float:
        return self.total_s / max(self.output_tokens, 1) * 1e3


Chunks = Callable[[], AsyncIterator[bool]]
"""Starts one streamed answer; yields True for each text chunk, False for anything else."""


async def timed(chunks: Chunks) -> Run:
    """Time one streamed answer (wall and this process's CPU)."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    first: float | None = None
    count = 0
    async for is_text in chunks():
        if is_text:
            count += 1
            if first is None:
                first = time.perf_counter()
    end, cpu1 = time.perf_counter(), time.process_time()
    return Run((first or end) - t0, end - t0, count, count, cpu1 - cpu0)


def pitstop_run(client: OpenAIClient, max_tokens: int) -> Chunks:
    async def chunks() -> AsyncIterator[bool]:
        async for item in client.stream([Message("user", PROMPT)], max_tokens=max_tokens):
            yield isinstance(item, str)

    return chunks


def raw_run(raw: AsyncOpenAI, model: str, max_tokens: int) -> Chunks:
    async def chunks() -> AsyncIterator[bool]:
        stream = await raw.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=max_tokens,
            temperature=0.0,
        )
        async for chunk in stream:
            yield any(c.delta.content for c in chunk.choices)

    return chunks


def med(values: list[float]) -> float:
    return statistics.median(values)


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def row(name: str, ours: float, raw: float | None = None, note: str = "") -> None:
    raw_s = f"{raw:.2f}" if raw is not None else ""
    diff = f"{ours - raw:+.2f}" if raw is not None else ""
    print(f"{name:<30}{ours:>14.2f}{raw_s:>14}{diff:>14}  {note}")


async def main(repeats: int, max_tokens: int, loads: int, threads: list[int]) -> None:
    print(f"load average before: {load_average()} (cores usable: {len(os.sched_getaffinity(0))})")
    load_times = []
    for _ in range(loads):
        async with LocalModel() as lm:
            assert lm.load_time_s is not None
            load_times.append(lm.load_time_s)

    sweep: dict[int, list[Run]] = {}
    for n in threads:  # decode speed by thread count, through OpenAIClient
        async with LocalModel(n_threads=n, temperature=0.0) as lm:
            run = pitstop_run(lm.client, max_tokens)
            await timed(run)  # warm-up: prompt cache, connection pool
            sweep[n] = [await timed(run) for _ in range(repeats)]

    async with LocalModel(temperature=0.0) as lm:  # default threads
        raw = AsyncOpenAI(base_url=lm.base_url, api_key=LOCAL_API_KEY, max_retries=0)
        ours = pitstop_run(lm.client, max_tokens)
        theirs = raw_run(raw, lm.model_name, max_tokens)
        await timed(ours)
        await timed(theirs)
        results: dict[str, list[Run]] = {"pitstop": [], "raw": []}
        for i in range(repeats):
            order = [("pitstop", ours), ("raw", theirs)]
            for name, run in order if i % 2 == 0 else order[::-1]:
                results[name].append(await timed(run))
        await raw.close()

    print(f"load average after: {load_average()}")
    print(f"\nmodel {lm.model_path.name}, n_ctx={lm.n_ctx}, default threads={lm.n_threads}; "
          f"prompt {PROMPT!r}, max_tokens={max_tokens}; medians of {repeats} runs; "
          "tokens = streamed chunks (llama.cpp sends one token per chunk)\n")  # fmt: skip
    print(f"{'metric':<30}{'OpenAIClient':>14}{'raw openai':>14}{'difference':>14}  note")
    print("-" * 90)
    row("model load (s)", med(load_times), None, f"{loads} loads, {min(load_times):.2f}-"
        f"{max(load_times):.2f}")  # fmt: skip
    for n, runs in sweep.items():
        row(f"[{n} thr] time to first token ms", med([x.ttft_s for x in runs]) * 1e3)
        row(f"[{n} thr] decode tokens/s", med([x.decode_tps for x in runs]))
    p, r = results["pitstop"], results["raw"]
    note = f"{lm.n_threads} thr, interleaved"
    row("time to first token (ms)", med([x.ttft_s for x in p]) * 1e3,
        med([x.ttft_s for x in r]) * 1e3, note)  # fmt: skip
    row("decode tokens/s", med([x.decode_tps for x in p]), med([x.decode_tps for x in r]), note)
    row("wall ms/token", med([x.wall_ms_per_token for x in p]),
        med([x.wall_ms_per_token for x in r]), "dominated by the model")  # fmt: skip
    row("client CPU us/token", med([x.cpu_us_per_chunk for x in p]),
        med([x.cpu_us_per_chunk for x in r]), "this process only: the client's cost")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--threads", default="1,2", help="thread counts to compare, e.g. 1,2")
    args = parser.parse_args()
    counts = [int(x) for x in args.threads.split(",") if x.strip()]
    asyncio.run(main(args.repeats, args.max_tokens, max(1, args.loads), counts))
