"""Defect 11: a value that would be fatal later is refused at the entry, with a sentence."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from pitstop import (
    AgentConfig,
    CacheConfig,
    CompressionConfig,
    HybridAgent,
    ResourceLimits,
    SimulatedLLM,
)
from pitstop.emulator import ProviderEmulator
from pitstop.errors import ConfigError
from pitstop.llm import OpenAIClient


def _agent(**kw: Any) -> HybridAgent:
    return HybridAgent("v", SimulatedLLM(), **kw)


CASES: list[tuple[str, Callable[[], object], str]] = [
    ("max_memory_mb=inf", lambda: CacheConfig(max_memory_mb=math.inf), "max_memory_mb"),
    ("max_memory_mb=nan", lambda: CacheConfig(max_memory_mb=math.nan), "max_memory_mb"),
    ("trace_size=10**30", lambda: CacheConfig(trace_size=10**30), "trace_size"),
    ("max_cache_size=10**30", lambda: CacheConfig(max_cache_size=10**30), "max_cache_size"),
    ("max_iterations=True", lambda: AgentConfig(max_iterations=True), "max_iterations"),
    ("tool_timeout=True", lambda: AgentConfig(tool_timeout=True), "tool_timeout"),
    ("max_concurrency=False", lambda: AgentConfig(max_concurrency=False), "max_concurrency"),
    ("keep_recent=True", lambda: CompressionConfig(keep_recent=True), "keep_recent"),
    ("max_concurrent_tasks=True", lambda: ResourceLimits(max_concurrent_tasks=True),
     "max_concurrent_tasks"),
    ("assigned True", lambda: setattr(AgentConfig(), "max_iterations", True), "max_iterations"),
    ("context_engine=123", lambda: _agent(context_engine=123), "context_engine"),
    ("monitor='garbage'", lambda: _agent(monitor="garbage"), "monitor"),
    ("registry='x'", lambda: _agent(registry="x"), "registry"),
    ("tools=5", lambda: _agent(tools=5), "tools"),
    ("enable_streaming='no'", lambda: _agent(enable_streaming="no"), "enable_streaming"),
    ("config={1: 2}", lambda: _agent(config={1: 2}), "config"),
    ("tokens_per_second='60'", lambda: SimulatedLLM(tokens_per_second="60"),  # type: ignore[arg-type]
     "tokens_per_second"),
    ("tokens_per_second=nan", lambda: SimulatedLLM(tokens_per_second=math.nan),
     "tokens_per_second"),
    ("time_to_first_token=inf", lambda: SimulatedLLM(time_to_first_token=math.inf),
     "time_to_first_token"),
    ("seed='x'", lambda: SimulatedLLM(seed="x"), "seed"),  # type: ignore[arg-type]
    ("emulator tokens_per_second='x'",
     lambda: ProviderEmulator(tokens_per_second="x"), "tokens_per_second"),  # type: ignore[arg-type]
    ("emulator seed='a'", lambda: ProviderEmulator(seed="a"), "ProviderEmulator(seed"),  # type: ignore[arg-type]
    ("emulator jitter='a'", lambda: ProviderEmulator(jitter="a"), "jitter"),  # type: ignore[arg-type]
    ("base_url=5", lambda: OpenAIClient("m", base_url=5), "base_url"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("label", "make", "names"), CASES, ids=[c[0] for c in CASES])
def test_bad_values_are_refused_at_the_entry(
    label: str, make: Callable[[], object], names: str
) -> None:
    """Each bad value raises ConfigError at once, naming the setting."""
    with pytest.raises(ConfigError) as info:
        make()
    assert names in str(info.value)


@pytest.mark.parametrize(
    ("label", "call", "names"),
    [
        ("tool_calls=None", lambda a: a.execute_tools_parallel(None), "tool_calls"),
        ("tool_calls=5", lambda a: a.execute_tools_parallel(5), "tool_calls"),
        ("tasks=None", lambda a: a.execute_batch(None, progress=False), "tasks"),
    ],
)
async def test_bad_arguments_of_methods_are_refused(label: str, call: Any, names: str) -> None:
    """Methods refuse a non-iterable argument with ConfigError, before anything runs."""
    with pytest.raises(ConfigError, match=names):
        await call(_agent())


def test_invalidate_cache_refuses_a_list_of_tool_names() -> None:
    """invalidate_cache(tool_name=[...]) is a ConfigError, not a raw TypeError."""
    agent = _agent(cache_config=CacheConfig())
    with pytest.raises(ConfigError, match="tool_name"):
        agent.invalidate_cache(tool_name=["search"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="pattern"):
        agent.invalidate_cache(pattern=3)  # type: ignore[arg-type]


async def test_a_valid_but_huge_memory_bound_still_caches() -> None:
    """The largest accepted max_memory_mb still lets every cacheable call be stored."""
    agent = _agent(tools=["calculator"], cache_config=CacheConfig(max_memory_mb=10**6))
    out = await agent.execute_tools_parallel(
        [{"tool_name": "calculator", "parameters": {"operation": "add", "a": 1, "b": 2}}] * 2
    )
    assert [r["success"] for r in out] == [True, True]
