"""ProviderEmulator as a real server on loopback: pitstop's client, agent and CLI against it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from pitstop import HybridAgent, LLMConnectionError, Message, OpenAIClient, ResourceLimits
from pitstop.emulator import ProviderEmulator

TASK = "Search for pitstop news and get the weather in Paris"
FAST = {"ttft": 0.005, "tokens_per_second": 5000.0}


def agent_for(emu: ProviderEmulator, limits: ResourceLimits | None = None) -> HybridAgent:
    llm = OpenAIClient("gpt-4o-mini", base_url=emu.base_url)
    return HybridAgent("rehearsal", llm, tools=["search", "weather"],
                       config={"max_output_tokens": 200}, resource_limits=limits)


def test_the_server_starts_on_a_free_loopback_port_and_stops() -> None:
    """The context manager serves on 127.0.0.1 and frees the thread when it ends."""
    with ProviderEmulator(**FAST) as emu:
        assert emu.running and re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", emu.base_url)
        with urllib.request.urlopen(emu.base_url + "/models", timeout=5) as r:
            assert json.load(r)["data"][0]["id"] == "gpt-4o-mini"
    assert not emu.running


async def test_an_agent_task_runs_its_turns_against_the_emulator() -> None:
    """Two model turns with two tool calls; the emulator counted both calls' tokens."""
    with ProviderEmulator(**FAST) as emu:
        agent = agent_for(emu)
        result = await agent.execute_task(TASK)
        stats = emu.stats()
    assert result["success"], result["error"]
    assert sorted(c["tool_name"] for c in result["tool_calls"]) == ["search", "weather"]
    assert result["iterations"] == 2 and stats["completed"] == 2
    assert result["usage"]["input_tokens"] == stats["prompt_tokens"]
    assert result["usage"]["output_tokens"] == stats["completion_tokens"]
    assert stats["tokens_charged"] == stats["prompt_tokens"] + 2 * 200


async def test_limits_set_to_the_quota_draw_no_429() -> None:
    """A batch with ResourceLimits equal to the quota is paced by pitstop, not refused."""
    with ProviderEmulator(rpm=None, tpm=120_000, burst_tokens=2_000, **FAST) as emu:
        agent = agent_for(emu, ResourceLimits(max_tokens_per_minute=120_000,
                                              token_burst_size=2_000))
        results = await agent.execute_batch([TASK] * 8, progress=False)
        stats = emu.stats()
    assert all(r["success"] for r in results)
    assert stats["throttled"] == 0 and stats["admitted"] == 16
    waited = agent.get_resource_usage()["limits"]["max_tokens_per_minute"]["waits"]
    assert waited > 0  # the quota, not the latency, was the bottleneck


async def test_without_limits_429s_are_waited_out_and_the_quota_learned() -> None:
    """No limits set, a quota someone else just spent: the 429s are waited out, the
    quota is learned from the headers, and every task finishes."""
    with ProviderEmulator(rpm=None, tpm=24_000, burst_tokens=1_000, **FAST) as emu:
        drain = urllib.request.Request(
            emu.base_url + "/chat/completions", method="POST",
            data=json.dumps({"model": "gpt-4o-mini", "max_tokens": 990,
                             "messages": [{"role": "user", "content": "x"}]}).encode(),
            headers={"content-type": "application/json"})
        # The bucket then holds a few tokens: the agent's first call must get a 429.
        await asyncio.to_thread(lambda: urllib.request.urlopen(drain, timeout=10).close())
        llm = OpenAIClient("gpt-4o-mini", base_url=emu.base_url)
        agent = HybridAgent("rehearsal", llm, tools=["search", "weather"],
                            config={"max_output_tokens": 50})
        results = await agent.execute_batch([TASK] * 4, progress=False)
        stats = emu.stats()
    assert all(r["success"] for r in results), [r["error"] for r in results]
    assert stats["throttled"] >= 1 and stats["admitted"] == 1 + 8
    assert agent.governor is not None
    assert agent.governor.learned == {"max_tokens_per_minute": 24_000}
    # Read off remaining (whole tokens) + reset (ms) x rate: the bucket's size to a token.
    assert abs(agent.get_resource_usage()["limits"]["max_tokens_per_minute"]["burst"]
               - 1_000) <= 1


async def test_a_cut_stream_reaches_the_client_as_a_dropped_connection() -> None:
    """cut_rate=1: the answer stops mid-text and the client reports the drop."""
    brain = lambda messages, tools: "one two three four five six seven eight nine ten"
    with ProviderEmulator(cut_rate=1.0, brain=brain, **FAST) as emu:
        llm = OpenAIClient("gpt-4o-mini", base_url=emu.base_url)
        shown: list[object] = []
        with pytest.raises(LLMConnectionError, match="dropped after"):
            async for item in llm.stream([Message("user", "count")]):
                shown.append(item)
        assert emu.stats()["streams_cut"] == 1
    assert "".join(map(str, shown)) == "one two three four five"


def test_python_m_pitstop_emulate_serves_until_stopped() -> None:
    """The CLI prints its URL, answers, and prints its counters when terminated."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pitstop", "emulate", "--tpm", "5000", "--rpm", "50",
         "--ttft", "0", "--stats-on-exit"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/v1", first)
        assert url, first
        request = urllib.request.Request(
            url.group(0) + "/chat/completions", method="POST",
            data=json.dumps({"model": "gpt-4o-mini", "max_tokens": 50,
                             "messages": [{"role": "user", "content": "hi"}]}).encode(),
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.headers["x-ratelimit-limit-tokens"] == "5000"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["admitted"] == 1 and stats["tpm"] == 5000


def test_the_cli_rejects_bad_settings_with_the_reason() -> None:
    """A bad flag value exits 2 with the ConfigError's sentence."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    done = subprocess.run([sys.executable, "-m", "pitstop", "emulate", "--error-rate", "2"],
                          capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 2 and "error_rate must be a share" in done.stderr
