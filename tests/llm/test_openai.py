"""OpenAIClient against a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import email.utils
import threading
from collections.abc import AsyncIterator

import pytest
from tests.conftest import free_port
from tests.llm.fake_openai_server import (
    FakeOpenAIServer,
    Reply,
    fake_openai_server,
    text_chunks,
    tool_call_chunks,
)

from pitstop.errors import ConfigError, LLMConnectionError, LLMError
from pitstop.llm._base import Message, RateLimitInfo, StreamItem, ToolCall, ToolSpec, Usage
from pitstop.llm._openai import (
    LOCAL_API_KEY,
    OpenAIClient,
    parse_duration,
    parse_retry_after,
)

SEARCH = ToolSpec(
    "search",
    "Search the web.",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)


class SleepRecorder:
    """An injected sleep that records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


def make_client(server: FakeOpenAIServer, sleeps: SleepRecorder, **kw: object) -> OpenAIClient:
    return OpenAIClient("fake-model", base_url=server.base_url, sleep=sleeps, **kw)  # type: ignore[arg-type]


async def collect(stream: AsyncIterator[StreamItem]) -> list[StreamItem]:
    return [item async for item in stream]


# --- streaming --------------------------------------------------------------------------


async def test_text_streams_in_order_with_usage(sleeps: SleepRecorder) -> None:
    """Text deltas arrive in order, then the server's usage."""
    with fake_openai_server(Reply(chunks=text_chunks(["Hel", "lo, ", "world"]))) as server:
        items = await collect(make_client(server, sleeps).stream([Message("user", "hi")]))
    assert items == ["Hel", "lo, ", "world", Usage(11, 7)]


async def test_first_delta_arrives_before_the_server_sends_the_rest(sleeps: SleepRecorder) -> None:
    """A delta is yielded while the server is still holding back the next chunks."""
    release = threading.Event()
    chunks = text_chunks(["first", " second", " third"])
    with fake_openai_server(Reply(chunks=chunks, gates={2: release})) as server:
        stream = make_client(server, sleeps).stream([Message("user", "hi")])
        first = await asyncio.wait_for(anext(stream), 10)
        assert first == "first"
        assert server.completed == 0  # the rest is still held back by the server
        release.set()
        rest = await collect(stream)
    assert rest == [" second", " third", Usage(11, 7)]
    assert server.completed == 1


async def test_tool_calls_are_assembled_from_split_deltas(sleeps: SleepRecorder) -> None:
    """Arguments split across chunks become one ToolCall per call, with its id."""
    calls = [
        ("call_a", "search", '{"query": "python asyncio"}'),
        ("call_b", "search", '{"query": "llama.cpp"}'),
    ]
    with fake_openai_server(Reply(chunks=tool_call_chunks(calls, pieces=4))) as server:
        client = make_client(server, sleeps)
        items = await collect(client.stream([Message("user", "find")], [SEARCH]))
    assert items == [
        ToolCall("search", {"query": "python asyncio"}, "call_a"),
        ToolCall("search", {"query": "llama.cpp"}, "call_b"),
        Usage(20, 9),
    ]


def _tool_delta(index: int, call_id: str, name: str, args: str) -> dict[str, object]:
    call = {"index": index, "id": call_id, "type": "function"}
    delta = {"tool_calls": [{**call, "function": {"name": name, "arguments": args}}]}
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}  # fmt: skip


def _finish(reason: str) -> dict[str, object]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}  # fmt: skip


async def test_llama_cpp_style_repeated_names(sleeps: SleepRecorder) -> None:
    """A server repeating id and name in every delta (llama.cpp) gives one clean call."""
    chunks = [_tool_delta(0, "c1", "search", p) for p in ['{"query"', ': "x"', "}", ""]]
    with fake_openai_server(Reply(chunks=[*chunks, _finish("tool_calls")])) as server:
        items = await collect(make_client(server, sleeps).stream([Message("user", "x")], [SEARCH]))
    assert items[0] == ToolCall("search", {"query": "x"}, "c1")
    assert isinstance(items[1], Usage)


async def test_complete_calls_sharing_index_zero(sleeps: SleepRecorder) -> None:
    """Complete calls each sent at index 0 with their own ids (Ollama) stay separate."""
    chunks = [
        _tool_delta(0, "c1", "search", '{"query": "a"}'),
        _tool_delta(0, "c2", "search", '{"query": "b"}'),
        _finish("tool_calls"),
    ]
    with fake_openai_server(Reply(chunks=chunks)) as server:
        items = await collect(make_client(server, sleeps).stream([Message("user", "x")], [SEARCH]))
    assert items[:2] == [
        ToolCall("search", {"query": "a"}, "c1"),
        ToolCall("search", {"query": "b"}, "c2"),
    ]


async def test_invalid_json_arguments_are_passed_on_raw(sleeps: SleepRecorder) -> None:
    """Arguments that are not a JSON object reach the agent as the raw text."""
    calls = [("c1", "search", '{"query": "unterminated'), ("c2", "search", "")]
    with fake_openai_server(Reply(chunks=tool_call_chunks(calls))) as server:
        items = await collect(make_client(server, sleeps).stream([Message("user", "x")], [SEARCH]))
    assert items[0] == ToolCall("search", '{"query": "unterminated', "c1")  # type: ignore[arg-type]
    assert items[1] == ToolCall("search", {}, "c2")


async def test_usage_is_estimated_when_the_server_sends_none(sleeps: SleepRecorder) -> None:
    """Without a usage chunk (llama.cpp), output tokens are the deltas, input is counted."""
    with fake_openai_server(Reply(chunks=text_chunks(["one", " two", " three"], usage=None))) as s:
        items = await collect(make_client(s, sleeps).stream([Message("user", "hello " * 20)]))
    usage = items[-1]
    assert isinstance(usage, Usage)
    assert usage.output_tokens == 3
    assert usage.input_tokens >= 20


async def test_request_payload_carries_messages_tools_and_options(sleeps: SleepRecorder) -> None:
    """Messages, tool calls, tool results, tools and options reach the server as OpenAI JSON."""
    history = [
        Message("system", "Be brief."),
        Message("user", "Find it."),
        Message("assistant", "", (ToolCall("search", {"query": "x"}, "call_1"),)),
        Message("tool", "result text", tool_call_id="call_1", name="search"),
    ]
    with fake_openai_server(Reply(chunks=text_chunks(["ok"]))) as server:
        client = make_client(
            server, sleeps, tool_choice="required", temperature=0.0, extra_body={"top_k": 5}
        )
        await collect(client.stream(history, [SEARCH], max_tokens=42))
    [req] = server.requests
    assert req.path == "/v1/chat/completions"
    body = req.body
    assert body["model"] == "fake-model"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 42
    assert body["temperature"] == 0.0
    assert body["tool_choice"] == "required"
    assert body["top_k"] == 5
    assert body["tools"] == [SEARCH.to_openai()]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Find it."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "search", "arguments": '{"query": "x"}'},
                }
            ],
        },
        {"role": "tool", "content": "result text", "tool_call_id": "call_1", "name": "search"},
    ]
    assert req.headers["authorization"] == f"Bearer {LOCAL_API_KEY}"


async def test_no_tools_means_no_tool_fields(sleeps: SleepRecorder) -> None:
    """tool_choice is only sent alongside tools, and max_tokens only when given."""
    with fake_openai_server(Reply(chunks=text_chunks(["ok"]))) as server:
        await collect(
            make_client(server, sleeps, tool_choice="required").stream([Message("user", "x")])
        )
    body = server.requests[0].body
    assert "tools" not in body and "tool_choice" not in body and "max_tokens" not in body


# --- retries ----------------------------------------------------------------------------


async def test_429_retry_honours_retry_after(sleeps: SleepRecorder) -> None:
    """Two 429s with Retry-After: 2 are waited out exactly, then the answer streams."""
    busy = Reply(429, {"Retry-After": "2"}, error="Rate limit reached")
    with fake_openai_server(busy, busy, Reply(chunks=text_chunks(["done"]))) as server:
        items = await collect(make_client(server, sleeps).stream([Message("user", "x")]))
    assert items == ["done", Usage(11, 7)]
    assert sleeps.delays == [2.0, 2.0]
    assert len(server.requests) == 3


async def test_retry_after_ms_wins_over_retry_after(sleeps: SleepRecorder) -> None:
    """retry-after-ms is the more precise header and is used when present."""
    busy = Reply(429, {"retry-after-ms": "250", "Retry-After": "1"})
    with fake_openai_server(busy, Reply(chunks=text_chunks(["ok"]))) as server:
        await collect(make_client(server, sleeps).stream([Message("user", "x")]))
    assert sleeps.delays == [0.25]


async def test_5xx_backs_off_exponentially_with_jitter(sleeps: SleepRecorder) -> None:
    """Without Retry-After, waits double per attempt and are jittered within [d/2, d]."""
    failing = Reply(500, error="boom")
    script = (failing, failing, Reply(503), Reply(chunks=text_chunks(["ok"])))
    with fake_openai_server(*script) as server:
        client = make_client(server, sleeps, initial_backoff=1.0)
        await collect(client.stream([Message("user", "x")]))
    assert len(sleeps.delays) == 3
    for attempt, delay in enumerate(sleeps.delays):
        assert 2**attempt / 2 <= delay <= 2**attempt


@pytest.mark.parametrize("status", [408, 409, 502])
async def test_retryable_statuses_are_retried(status: int, sleeps: SleepRecorder) -> None:
    """408, 409 and 5xx are transient: the request is sent again."""
    with fake_openai_server(Reply(status), Reply(chunks=text_chunks(["ok"]))) as server:
        items = await collect(make_client(server, sleeps).stream([Message("user", "x")]))
    assert items[0] == "ok"
    assert len(server.requests) == 2


async def test_gives_up_after_max_retries_naming_status_and_endpoint(sleeps: SleepRecorder) -> None:
    """After the last retry, LLMError names the status, the endpoint and the fix."""
    with fake_openai_server(Reply(503, {"Retry-After": "1"}, error="overloaded")) as server:
        client = make_client(server, sleeps, max_retries=2)
        with pytest.raises(LLMError) as info:
            await collect(client.stream([Message("user", "x")]))
    message = str(info.value)
    assert "503" in message and server.base_url in message and "overloaded" in message
    assert "after 3 attempt(s)" in message and "max_retries" in message
    assert len(server.requests) == 3
    assert sleeps.delays == [1.0, 1.0]


async def test_429s_are_waited_out_beyond_max_retries(sleeps: SleepRecorder) -> None:
    """A 429 means "not yet": five of them are waited out even with max_retries=1."""
    busy = Reply(429, {"retry-after-ms": "1500"}, error="slow down")
    with fake_openai_server(*[busy] * 5, Reply(chunks=text_chunks(["ok"]))) as server:
        client = make_client(server, sleeps, max_retries=1)
        items = await collect(client.stream([Message("user", "x")]))
    assert items[0] == "ok"
    assert sleeps.delays == [1.5] * 5


async def test_429s_fail_once_the_wait_budget_is_spent(sleeps: SleepRecorder) -> None:
    """429s stop being waited out when the next wait would pass max_rate_limit_wait."""
    with fake_openai_server(Reply(429, {"Retry-After": "4"}, error="slow down")) as server:
        client = make_client(server, sleeps, max_rate_limit_wait=10)
        with pytest.raises(LLMError) as info:
            await collect(client.stream([Message("user", "x")]))
    message = str(info.value)
    assert "429" in message and "slow down" in message and "max_rate_limit_wait=10" in message
    assert sleeps.delays == [4.0, 4.0]
    assert len(server.requests) == 3


async def test_429s_count_as_retries_when_the_wait_budget_is_zero(sleeps: SleepRecorder) -> None:
    """max_rate_limit_wait=0 treats a 429 like any retryable status, bounded by max_retries."""
    with fake_openai_server(Reply(429, {"Retry-After": "1"}, error="slow down")) as server:
        client = make_client(server, sleeps, max_retries=2, max_rate_limit_wait=0)
        with pytest.raises(LLMError, match="after 3 attempt"):
            await collect(client.stream([Message("user", "x")]))
    assert sleeps.delays == [1.0, 1.0]


@pytest.mark.parametrize(
    ("status", "hint"), [(400, "bad request"), (401, "OPENAI_API_KEY"), (404, "model name")]
)
async def test_client_errors_are_not_retried(status: int, hint: str, sleeps: SleepRecorder) -> None:
    """400, 401 and 404 raise at once with the server's message and a hint."""
    with fake_openai_server(Reply(status, error="bad request")) as server:
        with pytest.raises(LLMError) as info:
            await collect(make_client(server, sleeps).stream([Message("user", "x")]))
    assert not isinstance(info.value, LLMConnectionError)
    assert str(status) in str(info.value) and "bad request" in str(info.value)
    assert hint in str(info.value)
    assert len(server.requests) == 1
    assert sleeps.delays == []


async def test_retry_after_is_capped_by_max_backoff(sleeps: SleepRecorder) -> None:
    """A huge Retry-After is clipped to max_backoff rather than stalling for an hour."""
    with fake_openai_server(
        Reply(429, {"Retry-After": "3600"}), Reply(chunks=text_chunks(["ok"]))
    ) as server:
        await collect(make_client(server, sleeps, max_backoff=5.0).stream([Message("user", "x")]))
    assert sleeps.delays == [5.0]


# --- dropped connections ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["reset", "eof"])
async def test_drop_after_output_raises_connection_error(how: str, sleeps: SleepRecorder) -> None:
    """A connection lost after text was yielded raises LLMConnectionError, never retries."""
    reply = Reply(chunks=text_chunks(["partial", " more"]), drop_after=2, drop=how)  # type: ignore[arg-type]
    with fake_openai_server(reply) as server:
        received: list[StreamItem] = []
        with pytest.raises(LLMConnectionError) as info:
            async for item in make_client(server, sleeps).stream([Message("user", "x")]):
                received.append(item)
    assert received == ["partial"]
    assert "dropped after 7 characters" in str(info.value)
    assert len(server.requests) == 1


async def test_drop_before_any_output_is_retried(sleeps: SleepRecorder) -> None:
    """Nothing shown yet: a dropped stream is simply sent again."""
    dropped = Reply(chunks=text_chunks(["lost"]), drop_after=1)  # only the role chunk went out
    with fake_openai_server(dropped, Reply(chunks=text_chunks(["kept"]))) as server:
        items = await collect(make_client(server, sleeps).stream([Message("user", "x")]))
    assert items == ["kept", Usage(11, 7)]
    assert len(server.requests) == 2


async def test_unreachable_endpoint_raises_connection_error(sleeps: SleepRecorder) -> None:
    """Nothing listening: retries, then LLMConnectionError naming the endpoint."""
    url = f"http://127.0.0.1:{free_port()}/v1"
    client = OpenAIClient("m", base_url=url, sleep=sleeps, max_retries=2)
    with pytest.raises(LLMConnectionError) as info:
        await collect(client.stream([Message("user", "x")]))
    assert url in str(info.value) and "after 3 attempt(s)" in str(info.value)
    assert len(sleeps.delays) == 2


async def test_closing_the_stream_early_stops_cleanly(sleeps: SleepRecorder) -> None:
    """A consumer that stops after the first delta leaves no error and no hang."""
    release = threading.Event()
    with fake_openai_server(Reply(chunks=text_chunks(["a", "b"]), gates={2: release})) as server:
        stream = make_client(server, sleeps).stream([Message("user", "x")])
        assert await anext(stream) == "a"
        await asyncio.wait_for(stream.aclose(), 5)  # type: ignore[attr-defined]
        release.set()


# --- rate-limit headers -------------------------------------------------------------------


async def test_observers_receive_rate_limit_headers(sleeps: SleepRecorder) -> None:
    """Every response's rate-limit headers reach each observer, 429's Retry-After too."""
    limited = Reply(
        429,
        {"Retry-After": "3", "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "3s"},
    )
    ok = Reply(
        chunks=text_chunks(["ok"]),
        headers={"x-ratelimit-remaining-tokens": "1234", "x-ratelimit-reset-tokens": "6m0s"},
    )
    seen: list[RateLimitInfo] = []
    with fake_openai_server(limited, ok) as server:
        client = make_client(server, sleeps)
        client.rate_limit_observers.append(seen.append)
        await collect(client.stream([Message("user", "x")]))
    assert seen == [
        RateLimitInfo(remaining_tokens=0, reset_tokens_s=3.0, retry_after_s=3.0),
        RateLimitInfo(remaining_tokens=1234, reset_tokens_s=360.0, retry_after_s=None),
    ]


async def test_no_observer_call_without_headers(sleeps: SleepRecorder) -> None:
    """A server that sends no rate-limit headers (a local one) produces no observations."""
    seen: list[RateLimitInfo] = []
    with fake_openai_server(Reply(chunks=text_chunks(["ok"]))) as server:
        client = make_client(server, sleeps)
        client.rate_limit_observers.append(seen.append)
        await collect(client.stream([Message("user", "x")]))
    assert seen == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6m0s", 360.0), ("1.5s", 1.5), ("20ms", 0.02), ("1h2m3s", 3723.0), ("2", 2.0), ("x", None)],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    """Rate-limit durations in Go style or plain seconds."""
    if seconds is None:
        assert parse_duration(text) is None
    else:
        assert parse_duration(text) == pytest.approx(seconds)


def test_parse_retry_after_http_date() -> None:
    """An HTTP-date Retry-After is the seconds until that date (0 when already past)."""
    now = 1_700_000_000.0
    future = email.utils.formatdate(now + 30, usegmt=True)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"retry-after": future}, now=now) == pytest.approx(30.0)
    assert parse_retry_after({"retry-after": past}, now=now) == 0.0
    assert parse_retry_after({"retry-after": "soon"}, now=now) is None
    assert parse_retry_after({}, now=now) is None


# --- construction -------------------------------------------------------------------------


def test_remote_endpoint_without_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-local endpoint with no key fails at construction, naming OPENAI_API_KEY."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIClient("gpt-4o-mini")


def test_env_vars_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """OPENAI_BASE_URL and OPENAI_API_KEY are used when no arguments are given."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    client = OpenAIClient("m")
    assert client.base_url == "http://127.0.0.1:9/v1"
    assert client._client.api_key == "sk-test"
    assert client._client.max_retries == 0


@pytest.mark.parametrize("kw", [{"max_retries": -1}, {"timeout": 0}, {"initial_backoff": -1}])
def test_bad_arguments_name_the_value(kw: dict[str, float]) -> None:
    """Out-of-range settings fail at construction with the value seen."""
    with pytest.raises(ConfigError, match=str(next(iter(kw.values())))):
        OpenAIClient("m", base_url="http://127.0.0.1:9/v1", **kw)  # type: ignore[arg-type]


def test_missing_openai_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the openai package, construction says which extra to install."""
    import sys

    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ConfigError, match=r"pip install 'pitstop\[openai\]'"):
        OpenAIClient("m", base_url="http://127.0.0.1:9/v1")


def test_is_an_llm_client() -> None:
    """OpenAIClient satisfies the LLMClient protocol and is exported from pitstop."""
    import pitstop
    from pitstop.llm._base import LLMClient

    client = pitstop.OpenAIClient("m", base_url="http://127.0.0.1:9/v1")
    assert isinstance(client, LLMClient)


async def test_observers_receive_every_x_ratelimit_header(sleeps: SleepRecorder) -> None:
    """Limits, remaining and reset times of both requests and tokens reach the observers."""
    headers = {
        "x-ratelimit-limit-requests": "500", "x-ratelimit-limit-tokens": "60000",
        "x-ratelimit-remaining-requests": "499", "x-ratelimit-remaining-tokens": "58800",
        "x-ratelimit-reset-requests": "120ms", "x-ratelimit-reset-tokens": "1.2s",
    }
    seen: list[RateLimitInfo] = []
    with fake_openai_server(Reply(chunks=text_chunks(["ok"]), headers=headers)) as server:
        client = make_client(server, sleeps)
        client.rate_limit_observers.append(seen.append)
        await collect(client.stream([Message("user", "x")]))
    assert seen == [RateLimitInfo(remaining_tokens=58800, reset_tokens_s=1.2, limit_tokens=60000,
                                  limit_requests=500, remaining_requests=499,
                                  reset_requests_s=0.12)]


async def test_request_tokens_count_the_json_sent_as_the_provider_does(
    sleeps: SleepRecorder,
) -> None:
    """request_tokens is the documented count of the exact request body plus max_tokens."""
    from pitstop.llm._tokens import count_chat_tokens

    spec = ToolSpec("search", "Search the web.", {
        "type": "object", "properties": {"query": {"type": "string", "description": "words"}}})
    messages = [
        Message("system", "Be brief."), Message("user", "Find pitstop news"),
        Message("assistant", "", tool_calls=(ToolCall("search", {"query": "pitstop"}, "c1"),)),
        Message("tool", "3 results", tool_call_id="c1", name="search"),
    ]
    with fake_openai_server(Reply(chunks=text_chunks(["ok"]))) as server:
        client = make_client(server, sleeps)
        await collect(client.stream(messages, [spec], max_tokens=100))
    body = server.requests[0].body
    sent = count_chat_tokens(body["messages"], body["tools"], client.model)
    assert client.request_tokens(messages, [spec], max_tokens=100) == sent + 100
    assert sent > count_chat_tokens(body["messages"], (), client.model) > 20


async def test_a_429_retry_waits_in_the_retry_waiters_queue(sleeps: SleepRecorder) -> None:
    """With retry waiters, a 429 awaits them (delay, charge) instead of sleeping."""
    waited: list[tuple[float, int]] = []

    async def waiter(delay: float, charge: int) -> None:
        waited.append((delay, charge))

    busy = Reply(429, {"retry-after-ms": "700"})
    messages = [Message("user", "x")]
    with fake_openai_server(busy, Reply(chunks=text_chunks(["ok"]))) as server:
        client = make_client(server, sleeps)
        client.retry_waiters.append(waiter)
        await collect(client.stream(messages, max_tokens=40))
    assert waited == [(0.7, client.request_tokens(messages, max_tokens=40))]
    assert sleeps.delays == []
