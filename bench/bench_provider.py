"""The real provider path: CPU per streamed chunk, and the wall time eager tools save.

Run: ``.bench-venv/bin/python bench/bench_provider.py [--quick]`` (``bench/run.py`` does;
with the library's ``.venv`` the peers' rows say "not installed").

1. **CPU per chunk.** An OpenAI-compatible server in a *separate process* streams a
   2,000-chunk answer (one ``data:`` event per HTTP chunk, a finish chunk, usage,
   ``[DONE]``) as fast as it can. Each client reads the whole answer; the figure is this
   process's CPU time (``time.process_time``, so the server's CPU is not in it) divided
   by the chunks. Rows, all against the same server in one run, interleaved:

   - the floor: raw ``httpx`` streaming the body, splitting lines, ``json.loads`` per
     ``data:`` line and reading the delta's text: the least a Python client can do;
   - pitstop's `OpenAIClient` (the lean stream: the SDK's raw response, msgspec);
   - pitstop's `OpenAIClient(decoder="sdk")` and the ``openai`` SDK itself
     (``chat.completions.create(stream=True)``): the parsed path, pydantic per chunk;
   - LangChain's ``ChatOpenAI.astream`` and pydantic-ai's ``Agent.run_stream`` with its
     ``OpenAIChatModel`` (``stream_text(delta=True, debounce_by=None)``).

2. **Eager tools.** The server streams four tool calls whose JSON arguments arrive at
   a realistic 60 tokens a second (about 0.5 s per call); the tools take 1.5, 1.0, 0.5
   and 0.3 s (a slow search first). One turn with ``AgentConfig(eager_tools=True)``
   against ``False``: wall time of the task, median of runs, and the tools' start
   times relative to the end of the model's stream (from the Monitor's spans, the data
   the timeline draws). Equal tool times are shown too, where eager start saves little.

3. **Prompt cache.** A long session with summarize auto-compression on the simulated
   model, which bills prompt caching the way OpenAI does (prompts of 1,024+ tokens, the
   previously seen prefix in steps of 128): folding earlier summaries into each new one
   (``max_summaries=1``, the default) against appending them, and both against a
   sliding window that truncates every turn. Cached share of the input and dollars at
   gpt-4o-mini's price.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

SERVER = r'''
import asyncio, json, sys

CHUNK = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
         "system_fingerprint": "fp", "choices": [{"index": 0, "delta": {"content": "tok"},
         "logprobs": None, "finish_reason": None}]}

def frame(obj):
    data = b"data: " + json.dumps(obj).encode() + b"\n\n"
    return b"%x\r\n" % len(data) + data + b"\r\n"

def chunk(delta, finish=None):
    c = json.loads(json.dumps(CHUNK))
    c["choices"][0]["delta"] = delta
    c["choices"][0]["finish_reason"] = finish
    return c

def text_frames(n):
    body = [frame(chunk({"role": "assistant", "content": ""}))]
    one = frame(CHUNK)
    body += [one] * n
    body.append(frame(chunk({}, "stop")))
    body.append(frame({"id": "c", "object": "chat.completion.chunk", "created": 0,
                       "model": "m", "choices": [],
                       "usage": {"prompt_tokens": 10, "completion_tokens": n,
                                 "total_tokens": 10 + n,
                                 "prompt_tokens_details": {"cached_tokens": 0}}}))
    body.append(b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
    return body

def tool_frames(names, tokens_per_call):
    out = [(0.0, frame(chunk({"role": "assistant", "content": None})))]
    for i, name in enumerate(names):
        head = {"index": i, "id": f"call_{i}", "type": "function",
                "function": {"name": name, "arguments": ""}}
        out.append((0.0, frame(chunk({"tool_calls": [head]}))))
        args = json.dumps({"query": " ".join(["word"] * (tokens_per_call - 4))})
        step = max(1, len(args) // tokens_per_call)
        for k in range(0, len(args), step):
            piece = {"index": i, "function": {"arguments": args[k:k + step]}}
            out.append((1.0, frame(chunk({"tool_calls": [piece]}))))
    out.append((0.0, frame(chunk({}, "tool_calls"))))
    out.append((0.0, frame({"id": "c", "object": "chat.completion.chunk", "created": 0,
                            "model": "m", "choices": [],
                            "usage": {"prompt_tokens": 50, "completion_tokens": 120,
                                      "total_tokens": 170}})))
    out.append((0.0, b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"))
    return out

ANSWER = [frame(chunk({"role": "assistant", "content": "done"})),
          frame(chunk({}, "stop")), b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"]

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = json.loads(await reader.readexactly(length))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            model = body["model"]
            if model.startswith("text-"):
                for f in text_frames(int(model[5:])):
                    writer.write(f)
                    await writer.drain()
            elif model.startswith("tools-"):
                if any(m.get("role") == "tool" for m in body["messages"]):
                    for f in ANSWER:
                        writer.write(f)
                else:
                    rate = float(model.split("-")[1])
                    for pause, f in tool_frames(["search", "lookup", "fetch", "sum"], 30):
                        if pause:
                            await asyncio.sleep(pause / rate)
                        writer.write(f)
                        await writer.drain()
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
'''


class Server:
    """The bench's OpenAI-compatible server, in its own process on a loopback port."""

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(5)


Reader = Callable[[], Awaitable[int]]


def floor_reader(base_url: str, n: int) -> Reader:
    import httpx

    client = httpx.AsyncClient(timeout=None)
    body = {"model": f"text-{n}", "messages": [{"role": "user", "content": "hi"}],
            "stream": True}

    async def read() -> int:
        got = 0
        async with client.stream("POST", f"{base_url}/chat/completions", json=body) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    for choice in json.loads(line[6:])["choices"]:
                        if choice["delta"].get("content"):
                            got += 1
        return got

    return read


def pitstop_reader(base_url: str, n: int, decoder: str) -> Reader:
    from pitstop import OpenAIClient
    from pitstop.llm._base import Message

    client = OpenAIClient(f"text-{n}", base_url=base_url, decoder=decoder,  # type: ignore[arg-type]
                          price={"input": 0.15, "output": 0.6})
    messages = [Message("user", "hi")]

    async def read() -> int:
        got = 0
        async for item in client.stream(messages):
            if item.__class__ is str:
                got += 1
        return got

    return read


def sdk_reader(base_url: str, n: int) -> Reader:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)

    async def read() -> int:
        got = 0
        stream = await client.chat.completions.create(
            model=f"text-{n}", messages=[{"role": "user", "content": "hi"}], stream=True)
        async for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    got += 1
        return got

    return read


def langchain_reader(base_url: str, n: int) -> Reader:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model=f"text-{n}", base_url=base_url, api_key="x", max_retries=0)  # type: ignore[arg-type]

    async def read() -> int:
        got = 0
        async for chunk in llm.astream("hi"):
            if chunk.content:
                got += 1
        return got

    return read


def pydantic_ai_reader(base_url: str, n: int) -> Reader:
    from pydantic_ai import Agent

    try:
        from pydantic_ai.models.openai import OpenAIChatModel as Model
    except ImportError:  # older pydantic-ai
        from pydantic_ai.models.openai import OpenAIModel as Model  # type: ignore[attr-defined,no-redef]
    from pydantic_ai.providers.openai import OpenAIProvider

    model = Model(f"text-{n}", provider=OpenAIProvider(base_url=base_url, api_key="x"))
    agent = Agent(model)

    async def read() -> int:
        got = 0
        async with agent.run_stream("hi") as run:
            async for delta in run.stream_text(delta=True, debounce_by=None):
                if delta:
                    got += 1
        return got

    return read


async def cpu_per_chunk(quick: bool) -> None:
    n = 2000
    rounds = 3 if quick else 9
    with Server() as server:
        url = server.base_url
        candidates: list[tuple[str, Callable[[], Reader]]] = [
            ("raw httpx + json.loads (floor)", lambda: floor_reader(url, n)),
            ("pitstop OpenAIClient (lean: SDK raw response + msgspec)",
             lambda: pitstop_reader(url, n, "msgspec")),
            ("pitstop OpenAIClient(decoder='sdk') (SDK parsed chunks)",
             lambda: pitstop_reader(url, n, "sdk")),
            ("openai SDK chat.completions.create(stream=True)", lambda: sdk_reader(url, n)),
            ("LangChain ChatOpenAI.astream", lambda: langchain_reader(url, n)),
            ("pydantic-ai Agent.run_stream (OpenAIChatModel)",
             lambda: pydantic_ai_reader(url, n)),
        ]
        readers: dict[str, Reader | str] = {}
        for label, make in candidates:
            try:
                readers[label] = make()
            except ImportError as e:
                readers[label] = f"not installed here ({e.name}); run with .bench-venv"
        samples: dict[str, list[float]] = {k: [] for k, v in readers.items() if callable(v)}
        counts: dict[str, int] = {}
        for label, r in readers.items():  # warm up: connections, imports, caches
            if callable(r):
                counts[label] = await r()
        for _ in range(rounds):  # interleaved, so drift on the machine hits every row alike
            for label, r in readers.items():
                if callable(r):
                    t = time.process_time()
                    await r()
                    samples[label].append((time.process_time() - t) / n)
    floor = statistics.median(samples["raw httpx + json.loads (floor)"])
    print(f"1. CPU per streamed chunk, {n:,}-chunk answers from a loopback server in another "
          f"process (median of {rounds}, client process only)")
    print()
    print("| client | µs CPU per chunk | × floor | deltas read |")
    print("|---|---:|---:|---:|")
    for label, r in readers.items():
        if not callable(r):
            print(f"| {label} | {r} | | |")
            continue
        per = statistics.median(samples[label])
        print(f"| {label} | {per * 1e6:.1f} | {per / floor:.2f} | {counts[label]:,} |")
    lean = statistics.median(samples["pitstop OpenAIClient (lean: SDK raw response + msgspec)"])
    verdict = "met" if lean <= 2 * floor else "NOT met"
    print()
    print(f"Target: pitstop at most 2× the floor: {lean / floor:.2f}× ({verdict}).")
    print()


async def eager_tools(quick: bool) -> None:
    from pitstop import AgentConfig, HybridAgent, OpenAIClient, Tool

    def make_tools(durations: dict[str, float]) -> list[Tool]:
        def one(name: str, seconds: float) -> Tool:
            async def fn(query: str) -> str:
                await asyncio.sleep(seconds)
                return "ok"
            return Tool(fn, name=name, description=f"{name} something")

        return [one(name, seconds) for name, seconds in durations.items()]

    rate = 60.0
    runs = 2 if quick else 5
    print(f"2. Eager tool start: 4 tool calls streamed at {rate:g} tokens/s (~0.5 s of "
          f"arguments each), median of {runs} tasks")
    print()
    print("| tool durations (s) | eager_tools=False | eager_tools=True | saved per turn | "
          "tool starts after the stream ended (eager) |")
    print("|---|---:|---:|---:|---|")
    with Server() as server:
        for durations in ({"search": 1.5, "lookup": 1.0, "fetch": 0.5, "sum": 0.3},
                          {"search": 0.5, "lookup": 0.5, "fetch": 0.5, "sum": 0.5}):
            results = {}
            starts = ""
            for eager in (False, True):
                llm = OpenAIClient(f"tools-{rate:g}", base_url=server.base_url,
                                   price={"input": 0.15, "output": 0.6})
                agent = HybridAgent("bench", llm, tools=make_tools(durations),
                                    config=AgentConfig(eager_tools=eager))
                times = []
                for _ in range(runs):
                    t = time.perf_counter()
                    r = await agent.execute_task("go")
                    times.append(time.perf_counter() - t)
                    assert r["success"], r["error"]
                results[eager] = statistics.median(times)
                if eager:
                    task = agent.monitor.last_task_id()
                    llm_end = agent.monitor.spans(task_id=task, kind="llm")[0].end
                    starts = ", ".join(
                        f"{s.name} {s.start - llm_end:+.2f} s"
                        for s in agent.monitor.spans(task_id=task, kind="tool"))
            label = ", ".join(f"{v:g}" for v in durations.values())
            print(f"| {label} | {results[False]:.2f} s | {results[True]:.2f} s | "
                  f"{results[False] - results[True]:.2f} s | {starts} |")
    print()
    print("Negative start times: the tool ran while the model was still streaming the "
          "next calls (the timeline shows the same spans).")


async def prompt_cache(quick: bool) -> None:
    from pitstop import (
        AgentConfig,
        CompressionConfig,
        ContextEngine,
        HybridAgent,
        SimulatedLLM,
        Tool,
    )

    async def search_docs(query: str) -> str:
        """Search the documentation (instant here: the row is about the prompt)."""
        return f"Three pages mention {query}: setup, usage and a changelog entry."

    tasks = 40 if quick else 120
    print(f"3. Prompt cache and compression: one session of {tasks} tasks (two model calls "
          "each), a 300-token system prompt, SimulatedLLM billing prompt caching as OpenAI "
          "does (1,024+ token prompts, cached prefix in steps of 128), priced as gpt-4o-mini")
    print()
    print("| compression | model calls | input tokens | cached share | model cost | "
          "prompt-cache saving |")
    print("|---|---:|---:|---:|---:|---:|")
    system = "You are a careful research assistant. " + "Follow the house style. " * 60
    setups = [
        ("sliding window: truncate every turn past 20 messages", "truncate", 21, 20, 4),
        ("truncate at 40 down to 20 messages (pitstop's hysteresis)", "truncate", 40, 20, 4),
        ("summarize at 40 down to 20, fold summaries (max_summaries=1, the default)",
         "summarize", 40, 20, 1),
        ("summarize at 40 down to 20, append summaries (max_summaries=4)", "summarize", 40, 20,
         4),
    ]
    for label, strategy, threshold, target, max_summaries in setups:
        llm = SimulatedLLM(time_to_first_token=0, tokens_per_second=1e9,
                           price_as="gpt-4o-mini")
        engine = ContextEngine(CompressionConfig(
            strategy=strategy, auto_compress_enabled=True, auto_compress_threshold=threshold,
            auto_compress_target=target, keep_recent=min(10, target - 1),
            max_summaries=max_summaries), llm)
        agent = HybridAgent("cache", llm, tools=[Tool(search_docs)], context_engine=engine,
                            config=AgentConfig(system_prompt=system))
        for i in range(tasks):
            await agent.execute_task(f"Search for topic {i} news", {"session_id": "s"})
        m = agent.get_performance_metrics()
        model = m["models"]["simulated-llm"]
        share = model["cached_input_tokens"] / model["input_tokens"]
        print(f"| {label} | {model['calls']} | {model['input_tokens']:,} | {share:.0%} | "
              f"${model['cost']:.4f} | ${model['prompt_cache_saved']:.4f} |")
    print()
    print("The model calls that write summaries are not counted in these rows.")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="cpu,eager,cache")
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "not-needed")
    only = set(args.only.split(","))
    if "cpu" in only:
        asyncio.run(cpu_per_chunk(args.quick))
    if "eager" in only:
        asyncio.run(eager_tools(args.quick))
    if "cache" in only:
        asyncio.run(prompt_cache(args.quick))


if __name__ == "__main__":
    main()
