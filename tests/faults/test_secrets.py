"""Defect 4: a password planted in every URL pitstop takes appears in no output channel."""

from __future__ import annotations

import logging
import traceback
import warnings
from typing import Any

import pytest
from tests.conftest import free_port
from tests.llm.fake_openai_server import Reply, fake_openai_server

from pitstop import CacheConfig, HybridAgent, OpenAIClient, ResourceLimits, tool
from pitstop._redact import redact_url
from pitstop.errors import ConfigError
from pitstop.llm import FunctionLLM, LLMResponse, ToolCall

SECRET = "hunter2-planted-secret"


@tool(register=False)
def lookup(key: str) -> str:
    """A cacheable tool."""
    return key.upper()


def _calls_lookup(messages: Any, tools: Any) -> LLMResponse:
    if any(m.role == "tool" for m in messages):
        return LLMResponse(text="done")
    return LLMResponse(tool_calls=[ToolCall("lookup", {"key": "a"})])


def _text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


async def _run_everything(agent: HybridAgent) -> list[str]:
    """Every channel of one agent: reprs, the events of a task, spans, stats, usage."""
    out = [repr(agent), str(agent.__dict__)]
    try:
        async for event in agent.execute_task_streaming("look it up"):
            out.append(repr(event))
    except Exception as exc:  # a raised error is a channel too
        out.append(_text(exc))
    out += [repr(s) for s in agent.monitor.spans()]
    out.append(repr(agent.get_cache_stats()))
    out.append(repr(agent.get_resource_usage()))
    out.append(repr(agent.get_performance_metrics()))
    agent.invalidate_cache()
    await agent.aclose()
    return out


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://:{SECRET}@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        (f"redis://user:{SECRET}@host/1", "redis://user:***@host/1"),
        (f"http://{SECRET}@host/v1", "http://***@host/v1"),
        (f"redis://host/0?password={SECRET}", "redis://host/0?password=***"),
        ("redis://host:6379/0", "redis://host:6379/0"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    """Credentials in a URL are replaced by *** and everything else is kept."""
    assert redact_url(url) == shown


async def test_a_redis_password_leaks_nowhere(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cache and limiter Redis URLs with a password: reprs, warnings, logs, errors, events."""
    caplog.set_level(logging.DEBUG)
    url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"  # nothing listens there
    out: list[str] = []
    cache = CacheConfig(backend="redis", redis_url=url, redis_timeout=0.2)
    limits = ResourceLimits(max_tool_calls_per_minute=100, redis_url=url)
    out += [repr(cache), str(cache), repr(limits), str(limits)]
    for bad in (lambda: CacheConfig(redis_url=url),
                lambda: ResourceLimits(redis_url=url.replace("redis", "http"))):
        with pytest.raises(ConfigError) as info:
            bad()
        out.append(_text(info.value))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        agent = HybridAgent("a", FunctionLLM(_calls_lookup), tools=[lookup],
                            cache_config=cache, resource_limits=limits)
        out += await _run_everything(agent)
    out += [str(w.message) for w in caught]
    out += [r.getMessage() for r in caplog.records]
    captured = capsys.readouterr()
    out += [captured.out, captured.err]
    assert any("***" in text for text in out)  # the URL is shown, redacted
    leaks = [text for text in out if SECRET in text]
    assert not leaks, leaks[0]


async def test_credentials_in_an_openai_base_url_leak_nowhere(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A base_url with user:password: repr(client), repr(agent), every LLMError, events."""
    caplog.set_level(logging.DEBUG)
    out: list[str] = []
    with fake_openai_server(Reply(400, error="bad request")) as server:
        base = server.base_url.replace("http://", f"http://user:{SECRET}@")
        client = OpenAIClient("m", base_url=base, api_key="sk-test", max_retries=0)
        out.append(repr(client))
        out += await _run_everything(HybridAgent("a", client, tools=[lookup]))
    dead = OpenAIClient("m", base_url=f"http://user:{SECRET}@127.0.0.1:{free_port()}/v1",
                        api_key="sk-test", max_retries=0)
    out += await _run_everything(HybridAgent("b", dead, tools=[lookup]))
    out += [r.getMessage() for r in caplog.records]
    captured = capsys.readouterr()
    out += [captured.out, captured.err]
    assert any("user:***@127.0.0.1" in text for text in out)
    leaks = [text for text in out if SECRET in text]
    assert not leaks, leaks[0]
