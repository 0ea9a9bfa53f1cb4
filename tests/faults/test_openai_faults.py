"""Defects 3 and 16: a misbehaving OpenAI-compatible server ends every call with a clear error."""

from __future__ import annotations

import time

import pytest
from tests.llm.fake_openai_server import Reply, fake_openai_server, text_chunks

from pitstop.errors import LLMError, LLMTimeoutError
from pitstop.llm._base import Message, Usage
from pitstop.llm._openai import OpenAIClient

_DELTA = b'data: {"choices": [{"index": 0, "delta": {"content": "x"}}]}\n\n'


async def _no_sleep(seconds: float) -> None:
    pass


async def test_defect_3_endless_streams_end_on_a_deadline_or_past_max_tokens() -> None:
    """A server ignoring max_tokens is cut off; keep-alives alone hit the idle deadline."""
    endless = Reply(chunks=text_chunks(["a"], usage=None)[:1], repeat=_DELTA, repeat_interval=0)
    silent = Reply(chunks=text_chunks(["a"], usage=None)[:1], repeat=b": keep-alive\n\n")
    with fake_openai_server(endless, silent) as server:
        client = OpenAIClient("gpt-4o-mini", base_url=server.base_url, idle_timeout=0.3)
        got: list[object] = []
        with pytest.raises(LLMError) as runaway:
            async for item in client.stream([Message("user", "x")], max_tokens=50):
                got.append(item)
        assert "max_tokens=50" in str(runaway.value) and server.base_url in str(runaway.value)
        assert 50 <= len(got) <= 2 * 50 + 64 + 1  # stopped a clear margin past max_tokens
        started = time.monotonic()
        with pytest.raises(LLMTimeoutError) as idle:
            _ = [i async for i in client.stream([Message("user", "x")], max_tokens=50)]
        assert idle.value.deadline == "idle" and "idle_timeout=0.3" in str(idle.value)
        assert time.monotonic() - started < 5  # not the server's 30 s of keep-alives


@pytest.mark.parametrize(
    ("frame", "shown"),
    [(b"data: {not json\n\n", b"{not json"),
     (b'data: {"choices": [{"delta": {"content": 42}}]}\n\n', b'"content": 42')],
    ids=["malformed", "wrong-shape"],
)
async def test_defect_16_a_bad_event_is_an_llm_error_naming_server_and_bytes_and_is_retried(
    frame: bytes, shown: bytes
) -> None:
    """A bad event before any text is retried; after text it is an LLMError with the bytes."""
    early = Reply(frames=[frame])
    late = Reply(chunks=text_chunks(["partial"], usage=None)[:2], frames=[frame])
    good = Reply(chunks=text_chunks(["fine"]))
    with fake_openai_server(early, good, late) as server:
        client = OpenAIClient("gpt-4o-mini", base_url=server.base_url, sleep=_no_sleep)
        items = [i async for i in client.stream([Message("user", "x")])]
        assert items[0] == "fine" and isinstance(items[-1], Usage)
        assert len(server.requests) == 2  # the bad first answer was retried
        with pytest.raises(LLMError) as info:
            _ = [i async for i in client.stream([Message("user", "x")])]
    message = str(info.value)
    assert server.base_url in message and repr(shown)[2:-1] in message
    assert "after 7 characters" in message
    assert not isinstance(info.value.__cause__, ValueError | TypeError)
