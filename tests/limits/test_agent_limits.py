"""The guide's Resource Optimization blocks, run as written, are enforced by the agent.

Each block is copied from the guide with only its import changed; what follows it
proves the limit is real, from the agent's events and the Monitor's recorded spans.
The agent makes its own Governor on real time (there is no public way to give it a fake
clock), so nothing here depends on how fast the machine is: calls that must overlap are
held together by a `Crowd` until they all run, orders are forced with events, and a
duration is only bounded below (a wait cannot be shorter than its limit says) or very
generously above.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pitstop import (
    AgentConfig,
    FunctionLLM,
    HybridAgent,
    LLMResponse,
    Message,
    RateLimitExceeded,
    Tool,
    ToolCall,
    Usage,
)
from pitstop._metrics.monitor import Span
from pitstop.llm._base import RateLimitInfo


def max_overlap(spans: list[Span]) -> int:
    """The most spans open at the same instant."""
    edges = sorted([(s.start, 1) for s in spans] + [(s.end, -1) for s in spans])
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


async def collect(agent: HybridAgent, task: str) -> list[dict[str, Any]]:
    return [event async for event in agent.execute_task_streaming(task)]


def answer(delay_text: str = "done") -> FunctionLLM:
    return FunctionLLM(lambda messages, tools: delay_text, time_to_first_token=0.1)


GENEROUS_S = 30.0
"""Real seconds a test waits for something that takes milliseconds; reached only when
the behaviour under test is wrong, and then the assertions after it fail."""


class Crowd:
    """A model whose calls wait until `size` of them run at once and `queued` more tasks
    wait for a `max_concurrent_tasks` slot, then all answer: the calls overlap by
    construction, however slow the machine. A limiter that let more run would show it
    (the crowd fills with `queued` short), and one that let fewer run would leave it
    short of `size` (the calls then answer after `GENEROUS_S`, not overlapping enough)."""

    def __init__(self, size: int, queued: int, answer: str = "done") -> None:
        self.size, self.queued, self.answer = size, queued, answer
        self.running = 0
        self.full = asyncio.Event()
        self.agent: HybridAgent | None = None

    def waiting(self) -> int:
        assert self.agent is not None
        usage = self.agent.get_resource_usage()["limits"] or {}
        return int(usage["max_concurrent_tasks"]["waiting"])

    async def __call__(self, messages: list[Message], tools: Any) -> str:
        self.running += 1
        try:
            if self.running == self.size and not self.full.is_set():
                loop = asyncio.get_running_loop()
                deadline = loop.time() + GENEROUS_S
                # the Governor's queue has no event to await: look at it every millisecond
                while self.waiting() < self.queued and loop.time() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.001)
                self.full.set()
            try:
                await asyncio.wait_for(self.full.wait(), GENEROUS_S)
            except TimeoutError:
                pass
            return self.answer
        finally:
            self.running -= 1


def crowd_agent(agent_id: str, crowd: Crowd, **kwargs: Any) -> HybridAgent:
    agent = HybridAgent(agent_id, FunctionLLM(crowd), [], **kwargs)
    crowd.agent = agent
    return agent


async def test_guide_rate_limit_block_makes_a_second_call_wait_for_tokens() -> None:
    """Pattern 1: with the guide's 60k/min and 120k burst, two concurrent model calls that
    each may write 100k tokens cannot both reserve; the second waits for the first to
    settle, and says so in a rate_limit_wait event and a wait span."""
    from pitstop import ResourceLimits

    # Match API rate limits
    resource_limits = ResourceLimits(
        max_tokens_per_minute=60000,  # Match API limit
        max_tool_calls_per_minute=500,  # Match tool API limit
        token_burst_size=120000  # Allow 2x burst
    )

    agent = HybridAgent("limits-1", answer(), [], AgentConfig(max_output_tokens=100_000),
                        resource_limits=resource_limits)
    streams = await asyncio.gather(collect(agent, "first"), collect(agent, "second"))
    waits = [e for events in streams for e in events if e["type"] == "rate_limit_wait"
             and e["phase"] == "end"]
    assert len(waits) == 1
    assert waits[0]["limit"] == "max_tokens_per_minute" and waits[0]["waited"] >= 0.08
    llm = agent.monitor.spans(kind="llm")
    assert len(llm) == 2 and max_overlap(llm) == 1  # the calls did not overlap
    assert [s.name for s in agent.monitor.spans(kind="wait")] == ["max_tokens_per_minute"]
    usage = agent.get_resource_usage()["limits"]["max_tokens_per_minute"]
    assert usage["waits"] == 1
    # both calls were settled with their real (small) usage, not the 100k estimates
    real = sum(e["input_tokens"] + e["output_tokens"]
               for events in streams for e in events if e["type"] == "usage")
    assert usage["used_last_minute"] == real


async def test_a_wait_is_announced_when_it_begins_and_closed_when_it_ends() -> None:
    """rate_limit_wait comes in pairs: start (with the expected wait) reaches the consumer
    while the other task still holds the tokens, then end with the seconds waited."""
    from pitstop import ResourceLimits

    announced = asyncio.Event()

    async def holder(messages: list[Message], tools: Any) -> str:
        # Hold the tokens until the other task's wait is announced (or, if it is only
        # announced after the wait, for GENEROUS_S: the order asserted below then fails).
        try:
            await asyncio.wait_for(announced.wait(), GENEROUS_S)
        except TimeoutError:
            pass
        return "done"

    agent = HybridAgent("limits-pairs", FunctionLLM(holder), [],
                        AgentConfig(max_output_tokens=100_000),
                        resource_limits=ResourceLimits(max_tokens_per_minute=60000,
                                                       token_burst_size=120000))
    seen: list[tuple[str, dict[str, Any]]] = []

    async def watch(name: str) -> None:
        async for e in agent.execute_task_streaming(name):
            seen.append((name, dict(e)))
            if e["type"] == "rate_limit_wait" and e["phase"] == "start":
                announced.set()

    await asyncio.gather(watch("first"), watch("second"))
    waits = [(who, e) for who, e in seen if e["type"] == "rate_limit_wait"]
    assert [(e["phase"], e["limit"]) for _, e in waits] == \
        [("start", "max_tokens_per_minute"), ("end", "max_tokens_per_minute")]
    (who, start), (_, end) = waits
    assert start["expected"] > 0 and "waited" not in start
    assert end["waited"] > 0 and "expected" not in end
    order = [(w, e["type"], e.get("phase")) for w, e in seen]
    other = "first" if who == "second" else "second"
    # announced before the task holding the tokens finished, not after the wait
    assert order.index((who, "rate_limit_wait", "start")) < order.index((other, "result", None))


async def test_guide_concurrency_block_caps_tasks_running_at_once() -> None:
    """Pattern 2: max_concurrent_tasks = 2 x CPU cores; more tasks than that never run
    their model calls at once beyond the cap, and the extra ones report their wait."""
    import os

    from pitstop import ResourceLimits

    # Set based on CPU cores
    cpu_count = os.cpu_count() or 4
    max_concurrent = cpu_count * 2  # 2x CPU cores

    resource_limits = ResourceLimits(
        max_concurrent_tasks=max_concurrent
    )

    agent = crowd_agent("limits-2", Crowd(max_concurrent, queued=3),
                        resource_limits=resource_limits)
    streams = await asyncio.gather(*(collect(agent, f"t{i}") for i in range(max_concurrent + 3)))
    assert max_overlap(agent.monitor.spans(kind="llm")) == max_concurrent
    waited = [e for events in streams for e in events if e["type"] == "rate_limit_wait"
             and e["phase"] == "end"]
    assert len(waited) == 3 and {e["limit"] for e in waited} == {"max_concurrent_tasks"}
    assert agent.get_resource_usage()["limits"]["max_concurrent_tasks"]["peak"] == max_concurrent


async def test_two_slots_never_run_three_tasks() -> None:
    """max_concurrent_tasks=2: six tasks gathered at once run two at a time."""
    from pitstop import ResourceLimits

    agent = crowd_agent("limits-3", Crowd(2, queued=4),
                        resource_limits=ResourceLimits(max_concurrent_tasks=2))
    results = await asyncio.gather(*(agent.execute_task(f"t{i}") for i in range(6)))
    assert all(r["success"] for r in results)
    assert max_overlap(agent.monitor.spans(kind="llm")) == 2


async def test_reject_on_limit_refuses_a_task_with_rate_limit_exceeded() -> None:
    """reject_on_limit=True: a task over the limit fails at once with RateLimitExceeded."""
    from pitstop import ResourceLimits

    running, release = asyncio.Event(), asyncio.Event()

    async def held(messages: list[Message], tools: Any) -> str:
        running.set()
        await release.wait()
        return "done"

    agent = HybridAgent("limits-4", FunctionLLM(held), [], resource_limits=ResourceLimits(
        max_concurrent_tasks=1, reject_on_limit=True))
    first = asyncio.ensure_future(agent.execute_task("slow"))
    await running.wait()  # the first task holds the only slot
    events = await collect(agent, "refused")
    release.set()
    errors = [e for e in events if e["type"] == "error"]
    assert errors and errors[0]["error_type"] == RateLimitExceeded.__name__
    assert "max_concurrent_tasks=1: all 1 slots are in use" in errors[0]["error"]
    assert events[-1]["success"] is False
    assert (await first)["success"] is True
    assert agent.get_resource_usage()["total_rejections"] == 1


async def test_tool_calls_per_minute_are_enforced_across_a_turn() -> None:
    """A turn of 4 tool calls against a burst of 2 and 120/min: the last two wait ~0.5 s
    each for their tokens and say so."""
    from pitstop import ResourceLimits

    calls = [ToolCall("echo", {"n": i}) for i in range(4)]

    def fn(messages: list[Message], tools: Any) -> LLMResponse | str:
        return LLMResponse(tool_calls=calls) if len(messages) == 2 else "ok"

    async def echo(n: int) -> int:
        return n

    agent = HybridAgent("limits-5", FunctionLLM(fn), [Tool(echo, name="echo")],
                        resource_limits=ResourceLimits(max_tool_calls_per_minute=120,
                                                       tool_call_burst_size=2))
    events = await collect(agent, "four calls")
    waits = [e for e in events if e["type"] == "rate_limit_wait"
             and e["phase"] == "end"]
    assert [w["limit"] for w in waits] == ["max_tool_calls_per_minute"] * 2
    assert max(w["waited"] for w in waits) >= 0.9  # the 4th waits for two refills
    ends = sorted(s.end for s in agent.monitor.spans(kind="tool"))  # echo returns at once
    assert ends[3] - ends[0] >= 0.9


async def test_a_429_reported_by_the_client_holds_the_next_call_back() -> None:
    """The agent wires governor.observe to the client's observers: a Retry-After of
    0.3 s seen on one call pauses the token bucket for the next one."""
    from pitstop import ResourceLimits

    observers: list[Any] = []

    def fn(messages: list[Message], tools: Any) -> LLMResponse:
        if len(fn_calls) == 0:
            for observe in observers:
                observe(RateLimitInfo(retry_after_s=0.3))
        fn_calls.append(1)
        return LLMResponse(text="ok", usage=Usage(10, 2))

    fn_calls: list[int] = []
    llm = FunctionLLM(fn)
    llm.rate_limit_observers = observers  # type: ignore[attr-defined]
    agent = HybridAgent("limits-6", llm, [], AgentConfig(max_output_tokens=50),
                        resource_limits=ResourceLimits(max_tokens_per_minute=600_000))
    assert observers == [agent.governor.observe]
    await collect(agent, "first")
    events = await collect(agent, "second")
    waits = [e for e in events if e["type"] == "rate_limit_wait"
             and e["phase"] == "end"]
    assert waits and waits[0]["limit"] == "max_tokens_per_minute"
    # at least the Retry-After; the upper bound only says it was that pause, not a minute
    assert 0.2 <= waits[0]["waited"] <= 5.0
    assert agent.get_resource_usage()["provider"]["throttles"] == 1


async def test_best_practices_combined_configuration_is_enforced() -> None:
    """The guide's combined configuration: 12 tasks at once run 10 at a time, tokens are
    reserved and settled to the real usage, and a call larger than the burst fails."""
    from pitstop import CacheConfig, CompressionConfig, ContextEngine, ResourceLimits

    crowd = Crowd(10, queued=2, answer="fine")  # the 12 calls overlap 10 at a time
    llm_client = FunctionLLM(crowd)
    config = AgentConfig()

    # Optimized agent configuration
    cache_config = CacheConfig(
        enabled=True,
        default_ttl=300,
        tool_specific_ttl={"search": 600}
    )

    resource_limits = ResourceLimits(
        max_concurrent_tasks=10,
        max_tokens_per_minute=50000
    )

    compression_config = CompressionConfig(
        auto_compress_enabled=True,
        auto_compress_threshold=50
    )

    agent = HybridAgent(
        agent_id="agent-1",
        llm_client=llm_client,
        tools=["search"],
        config=config,
        cache_config=cache_config,
        resource_limits=resource_limits,
        context_engine=ContextEngine(compression_config=compression_config),
        enable_parallel_execution=True,
        enable_streaming=True
    )
    crowd.agent = agent

    results = await asyncio.gather(*(agent.execute_task(f"task {i}") for i in range(12)))
    assert all(r["success"] for r in results)
    assert max_overlap(agent.monitor.spans(kind="llm")) == 10
    tokens = agent.get_resource_usage()["limits"]["max_tokens_per_minute"]
    assert tokens["used_last_minute"] == sum(r["usage"]["total_tokens"] for r in results)
    agent.config = AgentConfig(max_output_tokens=60000)
    too_big = await agent.execute_task("one call may write 60000 tokens")
    assert too_big["success"] is False
    assert "max_tokens_per_minute allows a burst of at most 50000" in too_big["error"]
