"""Fixtures for the notebook layer: a real IPython shell with the extension, and agents
whose model and tools are scripted so every test is exact and quick."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from pitstop import AgentConfig, CacheConfig, HybridAgent, LLMResponse, ToolCall
from pitstop.testing import ScriptedLLM


@pytest.fixture(autouse=True, scope="session")
def _close_widgets() -> Iterator[None]:
    """Close the widgets the tests made, before interpreter shutdown tears ipywidgets down
    (a widget still open then fails noisily in its __del__)."""
    yield
    import ipywidgets

    ipywidgets.Widget.close_all()


@pytest.fixture(autouse=True)
def _fast_demo_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo tools answer at once in these tests."""
    monkeypatch.setenv("PITSTOP_DEMO_LATENCY_SCALE", "0")


@pytest.fixture
def ip() -> Iterator[Any]:
    """A real InteractiveShell with ``%load_ext pitstop``; unloaded afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    from pitstop.notebook._magics import default_agent

    shell = InteractiveShell.instance()
    before = set(shell.user_ns)
    shell.run_line_magic("load_ext", "pitstop")
    demo = default_agent(shell).llm  # the real demo agent, paced for tests
    demo.time_to_first_token, demo.tokens_per_second = 0.0, 1e6
    yield shell
    shell.run_line_magic("unload_ext", "pitstop")
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]


async def lookup(query: str) -> dict[str, str]:
    """Look something up (a test tool that yields once to the loop)."""
    await asyncio.sleep(0)
    return {"query": query, "answer": query.upper()}


def make_agent(
    calls: list[ToolCall] | None = None,
    *,
    answer: str = "The answer is 42.",
    tools: list[Callable[..., Any]] | None = None,
    **kwargs: Any,
) -> HybridAgent:
    """An agent whose model asks for `calls`, then answers; the `lookup` tool; a cache."""
    kwargs.setdefault("cache_config", CacheConfig())
    kwargs.setdefault("config", AgentConfig())
    llm = ScriptedLLM(LLMResponse(tool_calls=calls), answer) if calls else ScriptedLLM(answer)
    return HybridAgent("t", llm, tools=tools or [lookup], **kwargs)
