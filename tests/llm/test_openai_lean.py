"""The lean stream (msgspec) against the SDK's parsed path, deadlines, usage and cost."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

import pytest
from tests.llm.fake_openai_server import (
    Reply,
    fake_openai_server,
    text_chunks,
    tool_call_chunks,
    usage_chunk,
)

from pitstop.errors import LLMError, LLMTimeoutError
from pitstop.llm._base import Message, ToolCall, ToolSpec, Usage
from pitstop.llm._openai import OpenAIClient
from pitstop.llm._pricing import Price, clear_prices, lookup_price, set_price

SEARCH = ToolSpec("search", "Search.", {"type": "object", "properties": {}})


async def _no_sleep(seconds: float) -> None:
    pass


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip


def _tool(index: int, call_id: str | None, name: str | None, args: str) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id:
        call["id"] = call_id
        call["type"] = "function"
    if name:
        call["function"]["name"] = name
    return _chunk({"tool_calls": [call]})


def _detailed_usage(prompt: int, completion: int, cached: int, reasoning: int) -> dict[str, Any]:
    chunk = usage_chunk(prompt, completion)
    chunk["usage"]["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
    chunk["usage"]["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return chunk


RECORDED: dict[str, list[dict[str, Any]]] = {
    "text": text_chunks(["Hel", "lo", ", wor", "ld", "!"]),
    "tool fragments": tool_call_chunks(
        [("a", "search", '{"query": "python asyncio"}'), ("b", "search", '{"query": "x"}'),
         ("c", "search", '{"query": "llama.cpp", "n": 3}')], pieces=5),
    "text then tools": [
        _chunk({"role": "assistant", "content": "Let me look."}),
        _tool(0, "t1", "search", '{"q'), _tool(0, None, None, 'uery": 1}'),
        _tool(1, "t2", "search", "{}"), _chunk({}, "tool_calls"), usage_chunk(30, 12),
    ],
    "llama.cpp repeats": [_tool(0, "c1", "search", p) for p in ['{"query"', ': "x"', "}", ""]]
    + [_chunk({}, "tool_calls")],
    "ollama index 0": [_tool(0, "c1", "search", '{"query": "a"}'),
                       _tool(0, "c2", "search", '{"query": "b"}'), _chunk({}, "tool_calls")],
    "cached and reasoning usage": [
        *text_chunks(["ok"], usage=None), _detailed_usage(2000, 300, 1536, 128)],
    "no usage": text_chunks(["one", " two"], usage=None),
    "unicode": text_chunks(["héllo ", "wörld ", "日本語", " 🎉"]),
}


async def _run(base_url: str, decoder: str, *, tools: Sequence[ToolSpec] = ()) -> list[Any]:
    client = OpenAIClient("gpt-4o-mini", base_url=base_url, decoder=decoder,  # type: ignore[arg-type]
                          sleep=_no_sleep, max_retries=0)
    out: list[Any] = []
    try:
        async for item in client.stream([Message("user", "hi")], tools):
            out.append(item)
    except LLMError as e:
        out.append((type(e).__name__, str(e)))
    return out


@pytest.mark.parametrize("name", list(RECORDED))
async def test_lean_stream_matches_the_parsed_path(name: str) -> None:
    """On each recorded chunk sequence both decoders give the same deltas, calls and usage."""
    chunks = RECORDED[name]
    with fake_openai_server(Reply(chunks=chunks)) as server:
        lean = await _run(server.base_url, "msgspec", tools=[SEARCH])
        parsed = await _run(server.base_url, "sdk", tools=[SEARCH])
    assert lean == parsed
    assert isinstance(lean[-1], Usage)


async def test_an_error_event_mid_stream_is_the_same_llm_error_on_both_paths() -> None:
    """An error object inside the stream raises the same LLMError after the same deltas."""
    error = {"error": {"message": "the model is overloaded", "type": "server_error"}}
    reply = Reply(chunks=[*text_chunks(["par", "tial"], usage=None)[:3], error])
    with fake_openai_server(reply) as server:
        lean = await _run(server.base_url, "msgspec")
        parsed = await _run(server.base_url, "sdk")
    assert lean == parsed
    assert lean[:2] == ["par", "tial"]
    assert lean[2][0] == "LLMError" and "the model is overloaded" in lean[2][1]


async def test_cached_and_reasoning_tokens_are_priced_by_hand_computation() -> None:
    """gpt-4o-mini: 2000 prompt tokens of which 1536 cached, 300 out, priced as computed."""
    clear_prices()
    with fake_openai_server(Reply(chunks=RECORDED["cached and reasoning usage"])) as server:
        items = await _run(server.base_url, "msgspec")
    usage = items[-1]
    assert isinstance(usage, Usage)
    assert (usage.input_tokens, usage.output_tokens) == (2000, 300)
    assert (usage.cached_input_tokens, usage.reasoning_tokens) == (1536, 128)
    # genai-prices: $0.15 input, $0.075 cached input, $0.60 output per million tokens
    expected = (464 * 0.15 + 1536 * 0.075 + 300 * 0.60) / 1_000_000
    assert usage.cost == pytest.approx(expected, rel=1e-9)
    price = lookup_price("gpt-4o-mini")
    assert price is not None and price.cache_saving(1536) == pytest.approx(1536 * 0.075 / 1e6)


async def test_price_override_and_one_warning_for_an_unknown_model() -> None:
    """An unknown model costs None with one warning; price= and set_price give a cost."""
    clear_prices()
    with fake_openai_server(Reply(chunks=text_chunks(["ok"], usage=(1000, 100)))) as server:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                client = OpenAIClient("my-finetune", base_url=server.base_url)
                items = [i async for i in client.stream([Message("user", "x")])]
                assert items[-1].cost is None
        mine = [str(w.message) for w in caught if "my-finetune" in str(w.message)]
        assert len(mine) == 1 and "price=" in mine[0]
        client = OpenAIClient("my-finetune", base_url=server.base_url,
                              price={"input": 1.0, "output": 2.0})
        items = [i async for i in client.stream([Message("user", "x")])]
        assert items[-1].cost == pytest.approx((1000 * 1.0 + 100 * 2.0) / 1e6)
        set_price("my-finetune", Price(input=3.0, output=4.0))
        try:
            client = OpenAIClient("my-finetune", base_url=server.base_url)
            assert client.price is not None and client.price.source == "set_price"
        finally:
            clear_prices()


async def test_each_tool_call_is_yielded_when_the_next_one_begins() -> None:
    """The first call arrives while the server still holds back the second call's arguments."""
    release = threading.Event()
    chunks = tool_call_chunks([("a", "search", '{"query": "one"}'),
                               ("b", "search", '{"query": "two"}')], pieces=2)
    second_args = next(i for i, c in enumerate(chunks)
                       if c["choices"] and c["choices"][0]["delta"].get("tool_calls", [{}])[0]
                       .get("index") == 1 and "id" not in c["choices"][0]["delta"]["tool_calls"][0])
    with fake_openai_server(Reply(chunks=chunks, gates={second_args: release})) as server:
        client = OpenAIClient("gpt-4o-mini", base_url=server.base_url)
        stream = client.stream([Message("user", "x")], [SEARCH])
        first = await asyncio.wait_for(anext(stream), 10)
        assert first == ToolCall("search", {"query": "one"}, "a")
        assert server.completed == 0
        release.set()
        rest = [i async for i in stream]
    assert rest[0] == ToolCall("search", {"query": "two"}, "b")


async def test_idle_deadline_ignores_keep_alive_comments() -> None:
    """A server that only sends keep-alive comments fails the idle deadline, named as such."""
    reply = Reply(chunks=text_chunks(["a"], usage=None)[:1], repeat=b": keep-alive\n\n")
    with fake_openai_server(reply) as server:
        client = OpenAIClient("gpt-4o-mini", base_url=server.base_url, idle_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(LLMTimeoutError) as info:
            _ = [i async for i in client.stream([Message("user", "x")])]
        took = time.monotonic() - started
    assert info.value.deadline == "idle" and info.value.seconds == 0.3
    assert "idle_timeout=0.3" in str(info.value) and server.base_url in str(info.value)
    assert isinstance(info.value, TimeoutError)
    assert took < 5  # the deadline fired; the server would have gone on for 30 s


async def test_total_deadline_ends_a_stream_that_keeps_talking() -> None:
    """Deltas every 10 ms keep the idle deadline happy; the total deadline still ends it."""
    reply = Reply(chunks=text_chunks(["a"], usage=None)[:1],
                  repeat=b'data: {"choices": [{"delta": {"content": "x"}}]}\n\n')
    with fake_openai_server(reply) as server:
        client = OpenAIClient("gpt-4o-mini", base_url=server.base_url, timeout=0.5,
                              idle_timeout=5)
        started = time.monotonic()
        got: list[Any] = []
        with pytest.raises(LLMTimeoutError) as info:
            async for item in client.stream([Message("user", "x")]):
                got.append(item)
        took = time.monotonic() - started
    assert info.value.deadline == "total" and "timeout=0.5" in str(info.value)
    assert got and took < 5


async def test_a_slow_consumer_does_not_count_as_server_silence() -> None:
    """Time the caller spends holding a delta is not idle time of the server."""
    with fake_openai_server(Reply(chunks=text_chunks(["a", "b", "c"]))) as server:
        client = OpenAIClient("gpt-4o-mini", base_url=server.base_url, idle_timeout=0.2)
        got = []
        async for item in client.stream([Message("user", "x")]):
            got.append(item)
            await asyncio.sleep(0.3)  # longer than idle_timeout, between two deltas
    assert got[:3] == ["a", "b", "c"]


async def test_an_outside_cancellation_stays_a_cancellation() -> None:
    """Cancelling the consumer is not reported as a deadline."""
    release = threading.Event()
    with fake_openai_server(Reply(chunks=text_chunks(["a", "b"]), gates={2: release})) as server:
        client = OpenAIClient("gpt-4o-mini", base_url=server.base_url, idle_timeout=5)

        async def consume() -> None:
            async for _ in client.stream([Message("user", "x")]):
                pass

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()


@pytest.mark.parametrize(("kw", "value"), [("timeout", 0), ("idle_timeout", -1),
                                           ("timeout", "10"), ("decoder", "json")])
def test_bad_deadlines_and_decoders_name_the_value(kw: str, value: object) -> None:
    """Deadlines must be positive seconds or None; the decoder one of two names."""
    with pytest.raises(Exception, match=repr(value).replace("(", r"\(")) as info:
        OpenAIClient("m", base_url="http://127.0.0.1:9/v1", **{kw: value})  # type: ignore[arg-type]
    assert type(info.value).__name__ == "ConfigError"


async def test_the_wait_for_the_first_chunk_is_not_idle_time() -> None:
    """A server that thinks before its first chunk (a reasoning model) is not cut off."""
    release = threading.Event()
    with fake_openai_server(Reply(chunks=text_chunks(["a"]), gates={0: release})) as server:
        client = OpenAIClient("gpt-4o-mini", base_url=server.base_url, idle_timeout=0.2)
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, release.set)  # longer than idle_timeout before anything comes
        items = [i async for i in client.stream([Message("user", "x")])]
    assert items[0] == "a"


def test_the_new_errors_survive_pickling() -> None:
    """LLMTimeoutError and BudgetExceeded come back from pickle with message and fields."""
    import pickle

    from pitstop.errors import BudgetExceeded

    for exc in (LLMTimeoutError("too slow", deadline="idle", seconds=2.5),
                BudgetExceeded("over", limit="max_cost_total", budget=1.0, spent=0.9,
                               estimate=0.2, waited=0.0)):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc) and vars(back) == vars(exc)


def test_one_client_streams_on_two_event_loops() -> None:
    """The same client answers on a second event loop while the first stays open (a
    notebook's loop and the private loop of ``run_sync``): each loop has its own pool."""
    replies = [Reply(chunks=text_chunks(["hi", " there"])) for _ in range(3)]
    with fake_openai_server(*replies) as server:
        client = OpenAIClient("gpt-4o-mini", base_url=server.base_url, sleep=_no_sleep,
                              max_retries=0)

        async def once() -> list[Any]:
            return [i async for i in client.stream([Message("user", "hi")])]

        first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
        try:
            a = first.run_until_complete(once())
            b = second.run_until_complete(once())
            c = first.run_until_complete(once())
        finally:
            first.close()
            second.close()
    assert a == b == c and a[:2] == ["hi", " there"]
