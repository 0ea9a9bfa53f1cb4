"""The end-to-end batch: agent tasks against a provider's quota, pitstop and its peers (issue 16).

Run inside the benchmark environment (``bench/run.py`` does it)::

    .bench-venv/bin/python bench/bench_e2e.py [--quick] [--only pitstop,langgraph] [--json PATH]

One `pitstop.emulator` server, in its own process (``python -m pitstop emulate``), plays
the provider: an OpenAI-compatible endpoint with a tokens-per-minute quota charged the
way OpenAI documents it (prompt + ``max_tokens`` at admission), 429s with
``Retry-After``, a latency per token, and the scripted answers of ``e2e_brain.py`` so
every contender's tasks make the same model turns and tool calls. The quota is set so
that it, not the latency, is the bottleneck. Each contender runs the whole batch once
against a freshly reset emulator, with its best documented setting for a quota.

Measured per contender: wall time against the floor (tokens charged minus the initial
bucket, divided by the refill rate: no client can finish sooner), the share of the
quota used, 429s and retries as the server counted them, tasks failed, and this
process's CPU per token (the emulator's own CPU is in the other process).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from e2e_brain import plan  # noqa: E402

MODEL = "gpt-4o-mini"
SYSTEM = "You are a research assistant. Call the tools you need, then answer in one paragraph."
MAX_TOKENS = 120
API_KEY = "not-needed"


@dataclass(frozen=True)
class Settings:
    tasks: int
    concurrency: int = 50
    tpm: int = 600_000
    """Tokens per minute: 10,000 a second."""
    burst: int = 20_000
    """The provider's token bucket (two seconds' worth): quota enforced over short periods."""
    rpm: int = 30_000
    ttft: float = 0.15
    tokens_per_second: float = 150.0
    tool_latency: float = 0.02

    @property
    def rate(self) -> float:
        return self.tpm / 60.0


def settings(quick: bool) -> Settings:
    return Settings(tasks=200 if quick else 1000)


# -- the provider ------------------------------------------------------------------------


class Emulator:
    """``python -m pitstop emulate`` in a subprocess, with the scripted brain."""

    def __init__(self, s: Settings) -> None:
        cmd = [sys.executable, "-m", "pitstop", "emulate", "--tpm", str(s.tpm),
               "--burst-tokens", str(s.burst), "--rpm", str(s.rpm), "--ttft", str(s.ttft),
               "--tokens-per-second", str(s.tokens_per_second), "--jitter", "0.1",
               "--seed", "0", "--model", MODEL, "--brain", "e2e_brain:answer"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(BENCH), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.proc = subprocess.Popen(cmd, cwd=BENCH, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if "http://" not in first:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"the emulator did not start: {first}{err}")
        found = re.search(r"http://\S+/v1", first)
        assert found is not None, first
        self.base_url = found.group(0)
        self.root = self.base_url.removesuffix("/v1")

    def _call(self, path: str, method: str = "GET") -> dict[str, Any]:
        request = urllib.request.Request(self.root + path, method=method, data=b"" if
                                         method == "POST" else None)
        with urllib.request.urlopen(request, timeout=30) as r:
            return dict(json.load(r))

    def stats(self) -> dict[str, Any]:
        return self._call("/emulator/stats")

    def reset(self) -> None:
        self._call("/emulator/reset", "POST")

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the tools every contender registers ---------------------------------------------------


class Tools:
    """Three async tools with a small latency, counting their runs."""

    def __init__(self, latency: float) -> None:
        self.runs = 0
        latency_s = latency

        async def lookup(query: str) -> str:
            """Look a topic up and return what the sources say."""
            await asyncio.sleep(latency_s)
            self.runs += 1
            return f"3 sources about {query}"

        async def weather(city: str) -> str:
            """The current weather in a city."""
            await asyncio.sleep(latency_s)
            self.runs += 1
            return f"{city}: 18 C, light wind"

        async def convert(amount: float, currency: str) -> str:
            """Convert an amount of a currency to US dollars."""
            await asyncio.sleep(latency_s)
            self.runs += 1
            return f"{amount} {currency} = {amount * 1.08:.2f} USD"

        self.functions = [lookup, weather, convert]


Outputs = list[object]
"""One per task: the final text, or the exception that ended the task."""
Runner = Callable[[str, list[str], Settings, Tools, dict[str, Any]], Awaitable[Outputs]]


async def gathered(tasks: list[str], bound: int,
                   one: Callable[[str], Awaitable[object]]) -> Outputs:
    """Run `one` over the tasks, at most `bound` at once, keeping each task's exception."""
    sem = asyncio.Semaphore(bound)

    async def gated(t: str) -> object:
        async with sem:
            try:
                return await one(t)
            except Exception as exc:
                return exc

    return list(await asyncio.gather(*(gated(t) for t in tasks)))


# -- the contenders ----------------------------------------------------------------------


async def run_pitstop(base_url: str, tasks: list[str], s: Settings, tools: Tools,
                      note: dict[str, Any], *, limits: bool = True) -> Outputs:
    from pitstop import AgentConfig, HybridAgent, OpenAIClient, ResourceLimits

    config = AgentConfig(system_prompt=SYSTEM, max_output_tokens=MAX_TOKENS,
                         max_concurrency=s.concurrency)
    resource_limits = None
    if limits:
        resource_limits = ResourceLimits(max_tokens_per_minute=s.tpm, token_burst_size=s.burst,
                                         max_requests_per_minute=s.rpm,
                                         max_concurrent_tasks=s.concurrency)
    agent = HybridAgent("e2e", OpenAIClient(MODEL, base_url=base_url), tools=tools.functions,
                        config=config, resource_limits=resource_limits)
    results = await agent.execute_batch(tasks, max_concurrency=s.concurrency, progress=False)
    return [r["output"] if r["success"] else RuntimeError(r["error"]) for r in results]


async def run_pitstop_learning(base_url: str, tasks: list[str], s: Settings, tools: Tools,
                               note: dict[str, Any]) -> Outputs:
    return await run_pitstop(base_url, tasks, s, tools, note, limits=False)


async def run_langgraph(base_url: str, tasks: list[str], s: Settings, tools: Tools,
                        note: dict[str, Any]) -> Outputs:
    from langchain_core.rate_limiters import InMemoryRateLimiter
    from langchain_core.tools import StructuredTool
    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import create_react_agent

    # The request rate that matches the token quota: its rate / the tokens a request of
    # this very agent is charged (measured by `calibrate` on a few tasks beforehand).
    per_request = note["charged_per_request"]
    rps = s.rate / per_request
    bucket = max(1, int(s.burst / per_request))
    note["setting"] = (f"InMemoryRateLimiter(requests_per_second={rps:.1f}, "
                       f"max_bucket_size={bucket}, check_every_n_seconds=0.05), "
                       "ChatOpenAI(max_retries=10)")
    limiter = InMemoryRateLimiter(requests_per_second=rps, check_every_n_seconds=0.05,
                                  max_bucket_size=bucket)
    llm = ChatOpenAI(model=MODEL, base_url=base_url, api_key=API_KEY, max_tokens=MAX_TOKENS,
                     max_retries=10, rate_limiter=limiter)
    lc_tools = [StructuredTool.from_function(coroutine=f, name=f.__name__,
                                             description=f.__doc__ or f.__name__)
                for f in tools.functions]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent's deprecation notice
        graph = create_react_agent(llm, lc_tools, prompt=SYSTEM)
    results = await graph.abatch([{"messages": [("user", t)]} for t in tasks],
                                 config={"max_concurrency": s.concurrency,
                                         "recursion_limit": 25},
                                 return_exceptions=True)
    return [r if isinstance(r, BaseException) else r["messages"][-1].content for r in results]


async def run_pydantic_ai(base_url: str, tasks: list[str], s: Settings, tools: Tools,
                          note: dict[str, Any]) -> Outputs:
    from pydantic_ai import Agent, ModelSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    note["setting"] = ("OpenAIChatModel + ModelSettings(max_tokens, max_retries=10): the "
                       "OpenAI SDK's retries, which honour Retry-After")
    model = OpenAIChatModel(MODEL, provider=OpenAIProvider(base_url=base_url, api_key=API_KEY))
    agent = Agent(model, instructions=SYSTEM, tools=tools.functions,
                  model_settings=ModelSettings(max_tokens=MAX_TOKENS, max_retries=10))

    async def one(t: str) -> object:
        return (await agent.run(t)).output

    return await gathered(tasks, s.concurrency, one)


async def run_openai_agents(base_url: str, tasks: list[str], s: Settings, tools: Tools,
                            note: dict[str, Any]) -> Outputs:
    from agents import (
        Agent,
        ModelRetrySettings,
        ModelSettings,
        OpenAIChatCompletionsModel,
        Runner,
        function_tool,
        retry_policies,
        set_tracing_disabled,
    )
    from openai import AsyncOpenAI

    set_tracing_disabled(True)
    note["setting"] = ("ModelSettings(retry=ModelRetrySettings(max_retries=10, policy=any("
                       "provider_suggested, retry_after, network_error)))")
    retry = ModelRetrySettings(max_retries=10, policy=retry_policies.any(
        retry_policies.provider_suggested(), retry_policies.retry_after(),
        retry_policies.network_error()))
    model = OpenAIChatCompletionsModel(model=MODEL, openai_client=AsyncOpenAI(
        base_url=base_url, api_key=API_KEY))
    agent = Agent(name="e2e", instructions=SYSTEM, model=model,
                  tools=[function_tool(f) for f in tools.functions],
                  model_settings=ModelSettings(max_tokens=MAX_TOKENS, retry=retry))

    async def one(t: str) -> object:
        return (await Runner.run(agent, t, max_turns=10)).final_output

    return await gathered(tasks, s.concurrency, one)


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    run: Runner
    distribution: str
    how: str


CONTENDERS = (
    Contender("pitstop", "pitstop (limits = quota)", run_pitstop, "pitstop",
              "HybridAgent + OpenAIClient, ResourceLimits(max_tokens_per_minute=TPM, "
              "token_burst_size=burst, max_requests_per_minute=RPM); execute_batch"),
    Contender("pitstop_learning", "pitstop (no limits set)", run_pitstop_learning, "pitstop",
              "HybridAgent + OpenAIClient, no ResourceLimits: the quota learned from the "
              "x-ratelimit headers, 429s waited out"),
    Contender("langgraph", "LangGraph", run_langgraph, "langgraph",
              "create_react_agent + ChatOpenAI(rate_limiter=InMemoryRateLimiter at the "
              "matching request rate, max_retries=10); graph.abatch"),
    Contender("pydantic_ai", "pydantic-ai", run_pydantic_ai, "pydantic-ai-slim",
              "Agent + OpenAIChatModel, ModelSettings(max_retries=10); gather + semaphore"),
    Contender("openai_agents", "openai-agents", run_openai_agents, "openai-agents",
              "Agent + OpenAIChatCompletionsModel, ModelSettings(retry=ModelRetrySettings("
              "max_retries=10, provider_suggested/retry_after)); gather + semaphore"),
)


# -- measuring ---------------------------------------------------------------------------


@dataclass
class Row:
    key: str
    label: str
    version: str = ""
    status: str = "ok"
    wall: float = math.nan
    floor: float = math.nan
    tokens_charged: int = 0
    tokens_used: int = 0
    throttled: int = 0
    retries: int = 0
    failed: int = 0
    cpu_s: float = math.nan
    tool_runs: int = 0
    expected_tool_runs: int = 0
    setting: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def utilisation(self) -> float:
        return self.tokens_charged / (self.burst + self.rate * self.wall) if self.wall else 0

    burst: float = 0.0
    rate: float = 1.0


def tasks_for(n: int) -> list[str]:
    return [f"Task {i}: research topic {i} and check the weather and the budget"
            for i in range(n)]


async def calibrate(c: Contender, emu: Emulator, s: Settings) -> float:
    """Tokens the provider charges per request of this contender (a 6-task probe, which
    also warms up its imports)."""
    emu.reset()
    probe = tasks_for(6)
    no_pacing = {"charged_per_request": 1e-3}  # a request rate far above the quota
    await c.run(emu.base_url, probe, s, Tools(s.tool_latency), no_pacing)
    stats = emu.stats()
    return float(stats["tokens_charged"]) / max(1, int(stats["admitted"]))


async def measure(c: Contender, emu: Emulator, s: Settings) -> Row:
    row = Row(c.key, c.label, burst=s.burst, rate=s.rate)
    try:
        row.version = importlib.metadata.version(c.distribution)
    except importlib.metadata.PackageNotFoundError:
        row.status = "not installed"
        return row
    note: dict[str, Any] = {}
    tasks = tasks_for(s.tasks)
    tools = Tools(s.tool_latency)
    row.expected_tool_runs = sum(len(turn) for i in range(s.tasks) for turn in plan(i))
    try:
        # An untimed probe first: it imports the library and loads the tokenizer, so the
        # timed run measures the batch, not the first import; LangGraph's probe also
        # measures what its requests are charged, to set its limiter's request rate.
        note["charged_per_request"] = await calibrate(c, emu, s)
        emu.reset()
        # Generous: 3x the floor of a prompt of ~330 tokens, plus half a minute.
        deadline = 3 * s.tasks * 2.5 * (330 + MAX_TOKENS) / s.rate + 30
        cpu0, t0 = time.process_time(), time.perf_counter()
        try:
            outputs = await asyncio.wait_for(c.run(emu.base_url, tasks, s, tools, note),
                                             deadline)
        except TimeoutError:
            row.status = f"not done in {deadline:.0f} s"
            outputs = []
        row.wall = time.perf_counter() - t0
        row.cpu_s = time.process_time() - cpu0
    except ImportError as exc:
        row.status = f"not installed ({exc.name})"
        return row
    stats = emu.stats()
    row.setting = note.get("setting", "")
    row.tool_runs = tools.runs
    row.tokens_charged = int(stats["tokens_charged"])
    row.tokens_used = int(stats["prompt_tokens"]) + int(stats["completion_tokens"])
    row.throttled = int(stats["throttled"])
    row.retries = int(stats["requests"]) - int(stats["admitted"])
    row.floor = max(0.0, (row.tokens_charged - s.burst) / s.rate)
    for i, out in enumerate(outputs):
        if not (isinstance(out, str) and f"Answer for task {i}" in out):
            row.failed += 1
            if len(row.errors) < 3:
                row.errors.append(f"task {i}: {type(out).__name__}: {str(out)[:200]}")
    if row.status == "ok" and row.failed:
        row.status = f"{row.failed} failed"
    return row


# -- the report --------------------------------------------------------------------------


def render(rows: list[Row], s: Settings, quick: bool) -> str:
    lines = [
        "### End-to-end batch against a provider emulator",
        "",
        f"{s.tasks} agent tasks ({'quick' if quick else 'full'} run), each 2–3 model turns "
        "with 2–4 tool calls (20 ms each), at most "
        f"{s.concurrency} at once, against `python -m pitstop emulate` in its own process: "
        f"TPM {s.tpm:,} ({s.rate:,.0f} tokens/s) in a bucket of {s.burst:,}, RPM {s.rpm:,}, "
        f"time to first token {s.ttft} s, {s.tokens_per_second:.0f} tokens/s, max_tokens "
        f"{MAX_TOKENS}. A request is charged its prompt plus max_tokens at admission. "
        "The floor is (tokens charged − the initial bucket) ÷ the refill rate: no client "
        "can finish sooner. Quota used = tokens charged ÷ (bucket + rate × wall).",
        "",
        "| contender | wall | floor | wall ÷ floor | quota used | 429s | retries | tasks "
        "failed | client CPU per token | tokens charged |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.status.startswith("not installed"):
            lines.append(f"| {r.label} | {r.status} | | | | | | | | |")
            continue
        used = r.tokens_used or 1
        cpu = f"{r.cpu_s / used * 1e6:.1f} µs" if math.isfinite(r.cpu_s) else "—"
        wall = f"{r.wall:.1f} s" + ("" if r.status == "ok" else f" ({r.status})")
        ratio = f"{r.wall / r.floor:.2f}×" if r.floor > 0 else "— (within the bucket)"
        lines.append(
            f"| {r.label} {r.version} | {wall} | {r.floor:.1f} s | {ratio} | "
            f"{r.utilisation:.0%} | {r.throttled:,} | {r.retries:,} | {r.failed} of {s.tasks} | "
            f"{cpu} | {r.tokens_charged:,} |")
    lines += ["", "How each contender was set up:", ""]
    for c in CONTENDERS:
        row = next((r for r in rows if r.key == c.key), None)
        if row is None:
            continue
        detail = f" ({row.setting})" if row.setting else ""
        lines.append(f"- **{c.label}**: {c.how}{detail}.")
    problems = [(r, e) for r in rows for e in r.errors]
    mismatched = [r for r in rows if r.status == "ok" and r.tool_runs != r.expected_tool_runs]
    if problems or mismatched:
        lines += ["", "Failures and checks:", ""]
        for r, e in problems:
            lines.append(f"- {r.label}: {e}")
        for r in mismatched:
            lines.append(f"- {r.label}: ran {r.tool_runs} tool calls, the script has "
                         f"{r.expected_tool_runs}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    s = settings(args.quick)
    if args.tasks:
        s = Settings(tasks=args.tasks)
    only = {k.strip() for k in args.only.split(",") if k.strip()}
    chosen = [c for c in CONTENDERS if not only or c.key in only]
    emu = Emulator(s)
    rows: list[Row] = []
    try:
        for c in chosen:
            print(f"[e2e] {c.label} ...", file=sys.stderr, flush=True)
            row = await measure(c, emu, s)
            print(f"[e2e] {c.label}: {row.status}, wall {row.wall:.1f} s, floor "
                  f"{row.floor:.1f} s, 429s {row.throttled}", file=sys.stderr, flush=True)
            rows.append(row)
    finally:
        emu.close()
    print(render(rows, s, args.quick))
    return rows_json(rows, args.json)


def rows_json(rows: list[Row], path: str | None) -> int:
    if path:
        Path(path).write_text(json.dumps(
            [{**asdict(r), "utilisation": r.utilisation} for r in rows], indent=1))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 tasks instead of 1,000")
    parser.add_argument("--only", default="", help="comma-separated contender keys: " +
                        ", ".join(c.key for c in CONTENDERS))
    parser.add_argument("--tasks", type=int, default=0, help="override the number of tasks")
    parser.add_argument("--json", default=None, help="also write the rows as JSON here")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
