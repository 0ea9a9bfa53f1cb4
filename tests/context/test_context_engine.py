"""ContextEngine: sessions, compression by hand, and auto-compression before model calls."""

from __future__ import annotations

import asyncio

import pytest

from pitstop import CompressionConfig, CompressionError, ConfigError, ContextEngine, Message
from pitstop.llm._summary import is_summary, summary_count
from pitstop.llm._tokens import count_tokens
from pitstop.testing import FakeClock

from .helpers import FakeLLM, chat, tool_turn

GUIDE = {
    "strategy": "summarize",
    "auto_compress_enabled": True,
    "auto_compress_threshold": 50,
    "auto_compress_target": 30,
}


def test_sessions_are_kept_apart_and_copied_out() -> None:
    """Each session id has its own history; messages() is a copy."""
    engine = ContextEngine()
    engine.append("a", *chat(3))
    engine.append("b", Message("user", "hi"))
    copy = engine.messages("a")
    copy.clear()
    assert engine.messages("a") == chat(3)
    assert engine.messages("b") == [Message("user", "hi")]
    assert engine.messages("nobody") == []
    engine.append("empty")
    assert engine.sessions() == ["a", "b"]
    engine.clear("a")
    assert engine.sessions() == ["b"]
    engine.clear()
    assert engine.sessions() == []


def test_bad_session_id_and_bad_message_are_errors() -> None:
    """An empty id or a non-Message says what was seen and what to pass."""
    engine = ContextEngine()
    with pytest.raises(ConfigError, match="non-empty string, got ''"):
        engine.append("", Message("user", "x"))
    with pytest.raises(TypeError, match="got dict"):
        engine.append("s", {"role": "user", "content": "x"})  # type: ignore[arg-type]


async def test_truncate_keeps_system_and_recent_messages() -> None:
    """truncate drops the oldest messages, keeps system prompts and keep_recent messages."""
    engine = ContextEngine(CompressionConfig(keep_recent=4))
    history = [Message("system", "sys"), *chat(20)]
    engine.append("s", *history)
    result = await engine.compress_conversation("s", "truncate")
    assert engine.messages("s") == [history[0], *history[-4:]]
    assert (result.before, result.after, result.dropped, result.summarized) == (21, 5, 16, 0)
    assert result.tokens_after < result.tokens_before
    assert result.trigger == "manual"


async def test_summarize_replaces_the_oldest_by_one_summary() -> None:
    """The folded messages become one summary written by the model, which says its count."""
    llm = FakeLLM("They talked about messages zero to fifteen.")
    cfg = CompressionConfig(strategy="summarize", keep_recent=4, summary_max_tokens=123)
    engine = ContextEngine(cfg, llm)
    history = chat(20)
    engine.append("s", *history)
    result = await engine.compress_conversation("s")
    after = engine.messages("s")
    assert len(after) == 5
    assert is_summary(after[0]) and summary_count(after[0]) == 16
    assert "16 earlier messages" in after[0].content
    assert after[0].content.endswith("They talked about messages zero to fifteen.")
    assert after[1:] == history[-4:]
    assert (result.summarized, result.dropped) == (16, 0)
    assert result.summary_usage is not None and result.summary_usage.output_tokens == 7
    [(request, tools, max_tokens)] = llm.requests
    assert tools == () and max_tokens == 123
    assert request[0].role == "system" and "Summarize" in request[0].content
    assert request[1].role == "user"
    assert "message 0" in request[1].content and "message 15" in request[1].content
    assert "message 16" not in request[1].content


async def test_summary_is_clipped_to_summary_max_tokens() -> None:
    """A model that ignores max_tokens still yields a summary within the bound."""
    llm = FakeLLM("blah " * 400)
    engine = ContextEngine(CompressionConfig(strategy="summarize", summary_max_tokens=20), llm)
    engine.append("s", *chat(30))
    await engine.compress_conversation("s")
    text = engine.messages("s")[0].content.split("\n", 1)[1]
    assert count_tokens(text) <= 20


async def test_second_summary_folds_the_first_and_counts_all_originals() -> None:
    """With max_summaries=1 summaries roll up: the new one stands for every message before it."""
    engine = ContextEngine(CompressionConfig(strategy="summarize", keep_recent=4,
                                             max_summaries=1), FakeLLM("s"))
    engine.append("s", *chat(20))
    await engine.compress_conversation("s")
    engine.append("s", *chat(10, start=20))
    result = await engine.compress_conversation("s")
    first = engine.messages("s")[0]
    assert summary_count(first) == 16 + 10
    assert result.summarized == 11  # the old summary and ten messages
    assert sum(is_summary(m) for m in engine.messages("s")) == 1


async def test_new_summaries_are_appended_so_the_prompt_start_stays_byte_identical() -> None:
    """Earlier summaries are kept word for word (prompt cache stays warm) up to max_summaries."""
    engine = ContextEngine(CompressionConfig(strategy="summarize", keep_recent=4,
                                             max_summaries=2), FakeLLM("s"))
    engine.append("s", *chat(20))
    await engine.compress_conversation("s")
    first = engine.messages("s")[0]
    engine.append("s", *chat(10, start=20))
    result = await engine.compress_conversation("s")
    held = engine.messages("s")
    assert held[0] is first  # the start of the prompt is unchanged
    assert is_summary(held[1]) and summary_count(held[1]) == 10
    assert result.summarized == 10
    engine.append("s", *chat(10, start=30))
    await engine.compress_conversation("s")  # a third would pass max_summaries: fold all
    held = engine.messages("s")
    assert sum(is_summary(m) for m in held) == 1 and summary_count(held[0]) == 36


async def test_summarize_failure_raises_and_leaves_the_session() -> None:
    """summarize never drops what it could not summarise: the error names the fix."""
    engine = ContextEngine(
        CompressionConfig(strategy="summarize"), FakeLLM(fail=ConnectionError("down"))
    )
    engine.append("s", *chat(30))
    with pytest.raises(CompressionError, match=r"ConnectionError: down.*strategy='hybrid'"):
        await engine.compress_conversation("s")
    assert engine.messages("s") == chat(30)
    assert engine.stats()["compressions"] == 0


async def test_summarize_timeout_raises_and_hybrid_truncates_instead() -> None:
    """A hung summary call times out: summarize raises, hybrid falls back to truncate."""
    hung = FakeLLM(gate=asyncio.Event())  # never set
    cfg = CompressionConfig(strategy="summarize", summary_timeout=0.001, keep_recent=4)
    engine = ContextEngine(cfg, hung)
    engine.append("s", *chat(30))
    with pytest.raises(CompressionError, match=r"summary_timeout \(0.001 s\)"):
        await engine.compress_conversation("s")
    assert len(engine.messages("s")) == 30
    result = await engine.compress_conversation("s", "hybrid")
    assert result.fell_back_to_truncate and "summary_timeout" in (result.error or "")
    assert (result.dropped, result.summarized, result.after) == (26, 0, 4)
    assert engine.messages("s") == chat(30)[-4:]
    assert engine.stats()["summary_fallbacks"] == 1


async def test_hybrid_summarises_when_the_model_works() -> None:
    """hybrid is summarize when the summary call succeeds."""
    engine = ContextEngine(CompressionConfig(strategy="hybrid", keep_recent=4), FakeLLM("ok"))
    engine.append("s", *chat(30))
    result = await engine.compress_conversation("s")
    assert not result.fell_back_to_truncate
    assert (result.summarized, result.dropped) == (26, 0)


async def test_no_model_and_empty_summary_are_errors() -> None:
    """summarize with no model known, or an empty answer, raises and changes nothing."""
    engine = ContextEngine(CompressionConfig(strategy="summarize"))
    engine.append("s", *chat(30))
    with pytest.raises(CompressionError, match=r"needs a model.*llm_client="):
        await engine.compress_conversation("s")
    with pytest.raises(CompressionError, match="came back empty"):
        await engine.compress_conversation("s", llm=FakeLLM("   "))
    assert len(engine.messages("s")) == 30
    result = await engine.compress_conversation("s", "hybrid")
    assert result.fell_back_to_truncate and result.dropped == 20


async def test_unknown_strategy_and_session_are_errors() -> None:
    """compress_conversation names the bad strategy or session and the choices."""
    engine = ContextEngine()
    engine.append("real", *chat(3))
    with pytest.raises(ConfigError, match=r"unknown strategy 'zip'.*'truncate'"):
        await engine.compress_conversation("real", "zip")
    with pytest.raises(CompressionError, match=r"no session 'typo'.*'real'"):
        await engine.compress_conversation("typo")


async def test_nothing_to_compress_is_reported_as_such() -> None:
    """A session within keep_recent is left alone and the result says so."""
    engine = ContextEngine()
    engine.append("s", *chat(5))
    result = await engine.compress_conversation("s")
    assert not result.changed and result.before == result.after == 5


async def test_duration_comes_from_the_injected_clock() -> None:
    """The duration is measured on the engine's clock, summary call included."""
    clock = FakeClock(start=100.0)

    def reply(_: object) -> str:
        clock.advance(0.25)  # the model takes a quarter second
        return "summary"

    engine = ContextEngine(CompressionConfig(strategy="summarize"), FakeLLM(reply), clock=clock)
    engine.append("s", *chat(30))
    result = await engine.compress_conversation("s")
    assert result.duration == 0.25
    assert (result.start, result.end) == (100.0, 100.25)


async def test_prepare_does_nothing_until_the_threshold_is_passed() -> None:
    """Auto-compression fires only when the session holds more than the threshold."""
    engine = ContextEngine(CompressionConfig(**GUIDE))
    llm = FakeLLM("s")
    engine.append("s", *chat(50))
    assert await engine.prepare("s", llm=llm) is None
    engine.append("s", Message("user", "one more"))
    result = await engine.prepare("s", llm=llm)
    assert result is not None and result.trigger == "messages"
    assert (result.before, result.after) == (51, 30)
    assert result.event_fields() == {
        "strategy": "summarize",
        "before": 51,
        "after": 30,
        "tokens_before": result.tokens_before,
        "tokens_after": result.tokens_after,
        "duration": result.duration,
    }
    assert len(llm.requests) == 1  # the agent's model wrote the summary


async def test_prepare_is_off_by_default_and_for_unknown_sessions() -> None:
    """With auto-compression off (the default) prepare never changes a session."""
    engine = ContextEngine()
    engine.append("s", *chat(500))
    assert await engine.prepare("s", llm=FakeLLM()) is None
    assert await engine.prepare("other", llm=FakeLLM()) is None
    assert len(engine.messages("s")) == 500


async def test_engine_model_writes_summaries_when_given() -> None:
    """llm_client given to the engine is used instead of the agent's model."""
    own, agents = FakeLLM("own"), FakeLLM("agent's")
    engine = ContextEngine(CompressionConfig(**GUIDE), own)
    engine.append("s", *chat(51))
    await engine.prepare("s", llm=agents)
    assert (len(own.requests), len(agents.requests)) == (1, 0)


async def test_guide_settings_bound_a_long_session_before_every_model_call() -> None:
    """Driven to 500 messages with tool turns, the session never exceeds 51 before a call."""
    engine = ContextEngine(CompressionConfig(**GUIDE))
    llm = FakeLLM("summary")
    held_before_call: list[int] = []
    results = []
    total = task = 0
    while total < 500:
        task += 1
        engine.append("s", Message("user", f"task {task}"))
        total += 1
        for turn in range(2):  # two tool turns, then the answer
            if (r := await engine.prepare("s", llm=llm)) is not None:
                results.append(r)
            held_before_call.append(len(engine.messages("s")))
            group = tool_turn(task * 10 + turn, 1 + (task + turn) % 3)
            engine.append("s", *group)
            total += len(group)
        if (r := await engine.prepare("s", llm=llm)) is not None:
            results.append(r)
        held_before_call.append(len(engine.messages("s")))
        engine.append("s", Message("assistant", f"answer {task}"))
        total += 1
    assert max(held_before_call) <= 51
    assert results and all(r.after <= 30 and r.before > 50 for r in results)
    held = engine.messages("s")
    assert is_summary(held[0])
    assert sum(summary_count(m) for m in held) == total


async def test_token_trigger_fires_on_long_messages() -> None:
    """A few very long messages trigger compression by tokens, not by count."""
    cfg = CompressionConfig(
        strategy="truncate",
        keep_recent=2,
        auto_compress_enabled=True,
        auto_compress_max_tokens=1000,
        auto_compress_target_tokens=400,
    )
    engine = ContextEngine(cfg)
    big = [Message("user" if i % 2 == 0 else "assistant", "x" * 600) for i in range(8)]
    engine.append("s", *big[:6])  # 6 * (150 + 4) = 924 tokens
    assert await engine.prepare("s", llm=FakeLLM()) is None
    engine.append("s", *big[6:])
    result = await engine.prepare("s", llm=FakeLLM())
    assert result is not None and result.trigger == "tokens"
    assert result.tokens_before == 8 * 154
    assert result.tokens_after == 2 * 154  # two fit in 400 tokens, the third would not
    assert engine.trigger("s", model="fake-model") is None


async def test_concurrent_prepares_compress_once_and_keep_new_messages() -> None:
    """Two tasks preparing at once: one summary call; appends made meanwhile survive."""
    gate = asyncio.Event()
    llm = FakeLLM("summary", gate=gate)
    engine = ContextEngine(CompressionConfig(**GUIDE))
    engine.append("s", *chat(51))
    first = asyncio.create_task(engine.prepare("s", llm=llm))
    second = asyncio.create_task(engine.prepare("s", llm=llm))
    await llm.started.wait()
    engine.append("s", Message("user", "arrived during the summary"))
    gate.set()
    results = await asyncio.gather(first, second)
    assert len(llm.requests) == 1
    assert sum(r is not None for r in results) == 1
    after = engine.messages("s")
    assert after[-1] == Message("user", "arrived during the summary")
    assert after[-30:-1] == chat(51)[-29:]
    assert len(after) == 31


async def test_clear_during_a_summary_is_not_undone() -> None:
    """A session cleared while its summary is written stays cleared."""
    gate = asyncio.Event()
    engine = ContextEngine(CompressionConfig(strategy="summarize"), FakeLLM("s", gate=gate))
    engine.append("s", *chat(30))
    task = asyncio.create_task(engine.compress_conversation("s"))
    await asyncio.sleep(0)
    engine.clear("s")
    gate.set()
    result = await task
    assert not result.changed
    assert engine.sessions() == [] and engine.messages("s") == []


async def test_stats_count_sessions_messages_and_compressions() -> None:
    """stats() reports what the engine holds and what compression did."""
    engine = ContextEngine(CompressionConfig(keep_recent=2))
    engine.append("a", *chat(10))
    engine.append("b", *chat(3))
    small = engine.stats()["memory_bytes"]
    engine.append("b", Message("user", "y" * 10_000))
    stats = engine.stats()
    assert stats["memory_bytes"] >= small + 10_000
    await engine.compress_conversation("a")
    stats = engine.stats()
    assert (stats["sessions"], stats["messages"], stats["largest_session"]) == (2, 6, 4)
    assert (stats["compressions"], stats["messages_dropped"]) == (1, 8)
    assert stats["last_compression"]["session_id"] == "a"
    assert stats["path"] is None
