"""The emulator's HTTP app in-process (httpx ASGITransport) on fake time."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pitstop import LLMResponse, Message, ToolCall, ToolSpec
from pitstop.emulator import ProviderEmulator
from pitstop.errors import ConfigError
from pitstop.llm._tokens import count_chat_tokens

SEARCH = {"type": "function", "function": {
    "name": "search", "description": "Search the web.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                   "required": ["query"]}}}
WEATHER = {"type": "function", "function": {
    "name": "weather", "description": "Weather in a city.",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                   "required": ["location"]}}}


class Time:
    """A fake clock whose sleep records the wait and moves the clock on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def emulator(t: Time, **kw: Any) -> ProviderEmulator:
    kw.setdefault("ttft", 0.0)
    kw.setdefault("tokens_per_second", None)
    return ProviderEmulator(clock=t, sleep=t.sleep, **kw)


@pytest.fixture
async def client_for() -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(emu: ProviderEmulator) -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app),
                              base_url="http://emulator")
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


def body(text: str = "What is the weather in Paris?", **kw: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **kw}


def events(response: httpx.Response) -> list[Any]:
    out = []
    for line in response.text.split("\n\n"):
        if line.startswith("data: "):
            data = line[6:]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


async def test_every_success_carries_the_rate_limit_headers(client_for: Any) -> None:
    """A 200 has all six x-ratelimit headers, with the request's charge taken off."""
    t = Time()
    emu = emulator(t, rpm=100, tpm=10_000)
    r = await client_for(emu).post("/v1/chat/completions", json=body(max_tokens=100))
    assert r.status_code == 200
    prompt = r.json()["usage"]["prompt_tokens"]
    assert prompt == count_chat_tokens(body()["messages"], (), "gpt-4o-mini")
    assert r.headers["x-ratelimit-limit-requests"] == "100"
    assert r.headers["x-ratelimit-limit-tokens"] == "10000"
    assert r.headers["x-ratelimit-remaining-requests"] == "99"
    assert r.headers["x-ratelimit-remaining-tokens"] == str(10_000 - prompt - 100)
    assert r.headers["x-ratelimit-reset-requests"] == "600ms"
    assert r.headers["x-ratelimit-reset-tokens"].endswith("s")
    assert emu.stats()["tokens_charged"] == prompt + 100


async def test_over_the_quota_a_429_with_openais_body_and_headers(client_for: Any) -> None:
    """The second request of a full bucket gets 429, Retry-After and the error body."""
    t = Time()
    emu = emulator(t, rpm=None, tpm=600)
    c = client_for(emu)
    assert (await c.post("/v1/chat/completions", json=body(max_tokens=500))).status_code == 200
    r = await c.post("/v1/chat/completions", json=body(max_tokens=500))
    assert r.status_code == 429
    err = r.json()["error"]
    assert err["code"] == "rate_limit_exceeded" and err["type"] == "tokens"
    assert "tokens per min (TPM): Limit 600" in err["message"]
    wait = float(r.headers["retry-after-ms"]) / 1000
    assert r.headers["retry-after"] == str(math.ceil(wait))
    assert "x-ratelimit-remaining-tokens" in r.headers
    t.now += wait
    assert (await c.post("/v1/chat/completions", json=body(max_tokens=500))).status_code == 200
    stats = emu.stats()
    assert (stats["admitted"], stats["throttled"], stats["requests"]) == (2, 1, 3)


async def test_a_minute_of_saturating_traffic_admits_the_quota(client_for: Any) -> None:
    """Through HTTP on fake time, minute two admits TPM within 2%."""
    t = Time()
    emu = emulator(t, rpm=None, tpm=12_000)
    c = client_for(emu)
    charged: list[tuple[float, int]] = []
    while t.now < 120:
        before = emu.stats()["tokens_charged"]
        r = await c.post("/v1/chat/completions", json=body("hello", max_tokens=250))
        if r.status_code == 200:
            charged.append((t.now, emu.stats()["tokens_charged"] - before))
        else:
            t.now += 0.25
    minute_two = sum(n for when, n in charged if 60 <= when < 120)
    assert minute_two == pytest.approx(12_000, rel=0.02)


async def test_a_stream_is_openais_chunks_with_usage_last(client_for: Any) -> None:
    """Streaming: role chunk, text deltas, finish, usage chunk (when asked), [DONE]."""
    t = Time()
    emu = emulator(t, brain=lambda m, tools: "The answer is four.")
    r = await client_for(emu).post("/v1/chat/completions", json=body(
        stream=True, stream_options={"include_usage": True}))
    assert r.headers["content-type"].startswith("text/event-stream")
    got = events(r)
    assert got[-1] == "[DONE]"
    assert got[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in got[:-2])
    assert text == "The answer is four."
    assert got[-3]["choices"][0]["finish_reason"] == "stop"
    usage = got[-2]["usage"]
    assert got[-2]["choices"] == [] and usage["completion_tokens"] == 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + 5


async def test_the_default_brain_calls_tools_then_answers(client_for: Any) -> None:
    """SimulatedLLM's rules: tool calls first, an answer from the results next."""
    t = Time()
    emu = emulator(t)
    c = client_for(emu)
    first = await c.post("/v1/chat/completions", json=body(
        "Get the weather in Paris and search for pitstop news", tools=[SEARCH, WEATHER]))
    message = first.json()["choices"][0]["message"]
    assert first.json()["choices"][0]["finish_reason"] == "tool_calls"
    names = sorted(call["function"]["name"] for call in message["tool_calls"])
    assert names == ["search", "weather"]
    conversation = [*body("Get the weather in Paris")["messages"], message] + [
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21 C"}
        for call in message["tool_calls"]]
    second = await c.post("/v1/chat/completions", json={
        "model": "gpt-4o-mini", "messages": conversation, "tools": [SEARCH, WEATHER]})
    answer = second.json()["choices"][0]
    assert answer["finish_reason"] == "stop" and "sunny" in answer["message"]["content"]


async def test_streamed_tool_calls_reassemble(client_for: Any) -> None:
    """A function brain's tool call streams as an id+name delta then the arguments."""
    t = Time()
    emu = emulator(t, brain=lambda m, tools: LLMResponse(
        tool_calls=[ToolCall("search", {"query": "pitstop"})]))
    got = events(await client_for(emu).post("/v1/chat/completions", json=body(
        stream=True, tools=[SEARCH])))
    deltas = [d for e in got[:-1] for d in e["choices"][0]["delta"].get("tool_calls", ())]
    assert deltas[0]["function"]["name"] == "search" and deltas[0]["id"]
    args = "".join(d["function"]["arguments"] for d in deltas)
    assert json.loads(args) == {"query": "pitstop"}
    assert got[-2]["choices"][0]["finish_reason"] == "tool_calls"


async def test_the_brain_sees_pitstop_messages_and_tool_specs(client_for: Any) -> None:
    """A function brain gets Message and ToolSpec objects, like FunctionLLM's function."""
    seen: list[tuple[list[Message], list[ToolSpec]]] = []

    async def brain(messages: list[Message], tools: list[ToolSpec]) -> str:
        seen.append((messages, tools))
        return "ok"

    emu = emulator(Time(), brain=brain)
    await client_for(emu).post("/v1/chat/completions", json=body(tools=[SEARCH]))
    (messages, tools), = seen
    assert messages == [Message("user", "What is the weather in Paris?")]
    assert tools[0].name == "search" and tools[0].parameters["required"] == ["query"]


async def test_max_tokens_cuts_the_answer_with_finish_length(client_for: Any) -> None:
    """An answer longer than max_tokens stops there, finish_reason "length"."""
    emu = emulator(Time(), brain=lambda m, t: "one two three four five six seven eight")
    r = await client_for(emu).post("/v1/chat/completions", json=body(max_tokens=3))
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "length"
    assert r.json()["usage"]["completion_tokens"] == 3
    assert choice["message"]["content"] == "one two three"


async def test_latency_model_waits_ttft_then_paces_tokens(client_for: Any) -> None:
    """ttft, then completion tokens / tokens_per_second, each within the jitter."""
    t = Time()
    emu = emulator(t, ttft=0.4, tokens_per_second=50, jitter=0.1,
                   brain=lambda m, tools: " ".join(["word"] * 100))
    await client_for(emu).post("/v1/chat/completions", json=body(stream=True))
    assert 0.36 <= t.sleeps[0] <= 0.44
    assert sum(t.sleeps[1:]) == pytest.approx(100 / 50, rel=0.1)
    assert all(s >= 0.005 for s in t.sleeps[1:-1])  # paced in steps, not per delta


async def test_repeated_long_prefixes_report_cached_tokens(client_for: Any) -> None:
    """A prompt sharing a 1,024+ token prefix with an earlier one reports cached tokens."""
    emu = emulator(Time(), brain=lambda m, t: "ok")
    c = client_for(emu)
    system = {"role": "system", "content": "rule " * 1500}
    ask = lambda q: {"model": "gpt-4o-mini",
                     "messages": [system, {"role": "user", "content": q}]}
    first = (await c.post("/v1/chat/completions", json=ask("a"))).json()["usage"]
    second = (await c.post("/v1/chat/completions", json=ask("b"))).json()["usage"]
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    cached = second["prompt_tokens_details"]["cached_tokens"]
    assert cached >= 1024 and (cached - 1024) % 128 == 0
    assert cached <= second["prompt_tokens"]
    assert emu.stats()["cached_tokens"] == cached


@pytest.mark.parametrize(("error_rate", "cut_rate"), [(0.1, 0.0), (0.0, 0.2), (0.05, 0.05)])
async def test_faults_are_injected_at_the_configured_rate(
    client_for: Any, error_rate: float, cut_rate: float
) -> None:
    """Over 1,500 requests each fault's share is its rate within 4 standard deviations."""
    n = 1500
    emu = emulator(Time(), rpm=None, tpm=None, error_rate=error_rate, cut_rate=cut_rate,
                   brain=lambda m, t: "a few words of answer")
    c = client_for(emu)
    statuses = []
    for _ in range(n):
        try:
            statuses.append((await c.post("/v1/chat/completions",
                                          json=body(stream=True))).status_code)
        except Exception as exc:  # the ASGI transport raises the cut into the caller
            assert "stream cut" in str(exc)
            statuses.append(-1)
    stats = emu.stats()
    for rate, seen, counted in ((error_rate, statuses.count(500), stats["errors_injected"]),
                                (cut_rate, statuses.count(-1), stats["streams_cut"])):
        assert seen == counted
        tolerance = 4 * math.sqrt(n * rate * (1 - rate)) + 1
        assert abs(seen - n * rate) <= tolerance, (seen, n * rate)
    assert stats["completed"] == statuses.count(200)


async def test_the_same_seed_gives_the_same_faults(client_for: Any) -> None:
    """Faults are drawn from the seed: two emulators with one seed fail the same requests."""
    runs = []
    for _ in range(2):
        emu = emulator(Time(), error_rate=0.3, seed=7, brain=lambda m, t: "ok")
        c = client_for(emu)
        runs.append([(await c.post("/v1/chat/completions", json=body())).status_code
                     for _ in range(40)])
    assert runs[0] == runs[1] and 500 in runs[0]


@pytest.mark.parametrize(("payload", "fragment"), [
    ({"model": "m"}, "'messages' must be a non-empty array"),
    ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "Invalid role"),
    ({**body(), "max_tokens": 0}, "max_tokens must be an integer >= 1"),
])
async def test_bad_requests_are_400_with_openais_error_body(
    client_for: Any, payload: dict[str, Any], fragment: str
) -> None:
    """A malformed request is a 400 naming the problem, and costs no quota."""
    emu = emulator(Time())
    r = await client_for(emu).post("/v1/chat/completions", json=payload)
    assert r.status_code == 400 and fragment in r.json()["error"]["message"]
    assert emu.stats()["tokens_charged"] == 0 and emu.stats()["bad_requests"] == 1


async def test_stats_timeline_and_reset_endpoints(client_for: Any) -> None:
    """/emulator/stats and /timeline report; /emulator/reset refills and zeroes."""
    emu = emulator(Time(), tpm=1_000)
    c = client_for(emu)
    await c.post("/v1/chat/completions", json=body(max_tokens=100))
    assert (await c.get("/emulator/stats")).json()["admitted"] == 1
    assert (await c.get("/emulator/timeline")).json()[0]["requests"] == 1
    reset = (await c.post("/emulator/reset")).json()
    assert reset["admitted"] == 0 and reset["remaining_tokens"] == 1_000
    assert (await c.get("/v1/models")).json()["data"][0]["id"] == "gpt-4o-mini"


@pytest.mark.parametrize(("kw", "fragment"), [
    ({"rpm": 0}, "rpm must be a whole number >= 1"),
    ({"tpm": -5}, "tpm must be a whole number"),
    ({"ttft": -1}, "ttft must be >= 0"),
    ({"tokens_per_second": 0}, "tokens_per_second must be > 0"),
    ({"error_rate": 1.5}, "error_rate must be a share between 0 and 1"),
    ({"error_rate": 0.6, "cut_rate": 0.6}, "at most 1"),
    ({"jitter": 1.0}, "jitter must be in [0, 1)"),
    ({"tpm": None, "burst_tokens": 10}, "needs tpm"),
    ({"brain": "smart"}, "brain must be a function"),
])
def test_bad_settings_are_config_errors_naming_the_value(kw: dict[str, Any],
                                                         fragment: str) -> None:
    """Every bad argument is a ConfigError saying what and what to do."""
    with pytest.raises(ConfigError) as info:
        ProviderEmulator(**kw)
    assert fragment in str(info.value)
