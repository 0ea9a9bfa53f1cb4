"""The guide's Conversation Compression block, compressing for real through HybridAgent.

The guide block is kept as written; only its import line changed. The agent is driven by
a `FunctionLLM` (no pacing, so no real waits) that calls a tool on each task and answers
summary requests the way a model would: in text, from the transcript it is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pitstop import (
    ContextEngine,
    FunctionLLM,
    HybridAgent,
    LLMResponse,
    Message,
    ToolCall,
    ToolSpec,
)
from pitstop.llm._summary import is_summary, summary_count


def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def model(messages: list[Message], tools: list[ToolSpec]) -> LLMResponse | str:
    """Summaries in text; otherwise one lookup per task, then an answer from its result."""
    if not tools and "Summarize" in messages[0].content:
        lines = messages[-1].content.count("\n\n") + 1
        return f"The conversation so far covered {lines} exchanges about lookups."
    last = messages[-1]
    if last.role == "tool":
        return f"The answer is {last.content}."
    return LLMResponse(tool_calls=[ToolCall("lookup", {"key": last.content[-12:]})])


async def run(agent: HybridAgent, task: str, context: dict[str, Any]) -> list[dict[str, Any]]:
    return [event async for event in agent.execute_task_streaming(task, context)]


async def test_guide_conversation_compression_through_the_agent() -> None:
    """The guide's settings compress a real agent session: events, bounded history, a summary."""
    # --- guide block (imports changed) ---
    from pitstop import CompressionConfig, ContextEngine

    compression_config = CompressionConfig(
        strategy="summarize",
        auto_compress_enabled=True,
        auto_compress_threshold=50,
        auto_compress_target=30,
    )

    context_engine = ContextEngine(compression_config=compression_config)
    # --- end of guide block ---

    llm = FunctionLLM(model)
    seen_by_model: list[int] = []

    def counting(messages: list[Message], tools: list[ToolSpec]) -> LLMResponse | str:
        if tools:
            seen_by_model.append(len(messages) - 1)  # the session, without the system prompt
        return model(messages, tools)

    llm.fn = counting
    agent = HybridAgent("a", llm, tools=[lookup], context_engine=context_engine)
    compressions = []
    for i in range(40):  # 4 messages a task: task, tool call, tool result, answer
        events = await run(agent, f"question number {i}", {"session_id": "s"})
        assert events[-1]["type"] == "result" and events[-1]["success"], events[-1]
        compressions += [e for e in events if e["type"] == "compression"]

    assert compressions, "no compression event in 160 messages with threshold 50"
    for event in compressions:
        assert event["strategy"] == "summarize"
        assert event["before"] > 50 and event["after"] <= 30
        assert event["tokens_after"] < event["tokens_before"]
    assert max(seen_by_model) <= 51
    history = context_engine.messages("s")
    assert len(history) <= 51
    assert is_summary(history[0])
    assert summary_count(history[0]) + len(history) - 1 == 40 * 4
    spans = agent.monitor.spans(kind="compression")
    assert len(spans) == len(compressions)


async def test_the_agent_remembers_a_session_and_forgets_without_one() -> None:
    """With a session id the next task sees the previous one; without one it sees nothing."""
    from pitstop import ContextEngine

    prompts: list[list[Message]] = []

    def fn(messages: list[Message], tools: list[ToolSpec]) -> LLMResponse | str:
        prompts.append(messages)
        return model(messages, tools)

    engine = ContextEngine()
    agent = HybridAgent("a", FunctionLLM(fn), tools=[lookup], context_engine=engine)
    await agent.execute_task("first question", {"session_id": "s"})
    await agent.execute_task("second question", {"session_id": "s"})
    assert Message("user", "first question") in prompts[-2]
    assert Message("user", "first question") in prompts[-1]
    await agent.execute_task("third question")
    assert Message("user", "first question") not in prompts[-1]
    assert [m.role for m in engine.messages("s")] == ["user", "assistant", "tool", "assistant"] * 2


async def test_sessions_persist_across_a_new_engine_on_the_same_file(tmp_path: Path) -> None:
    """A notebook restart: a new engine and agent on the same SQLite path continue the talk."""
    from pitstop import CompressionConfig, ContextEngine

    path = tmp_path / "sessions.sqlite"
    cfg = CompressionConfig(
        strategy="summarize",
        auto_compress_enabled=True,
        auto_compress_threshold=50,
        auto_compress_target=30,
    )
    first = HybridAgent(
        "a", FunctionLLM(model), tools=[lookup], context_engine=ContextEngine(cfg, path=path)
    )
    for i in range(15):
        await first.execute_task(f"question {i}", {"session_id": "nb"})
    before = first.context_engine.messages("nb")  # type: ignore[union-attr]
    assert is_summary(before[0])

    prompts: list[list[Message]] = []

    def fn(messages: list[Message], tools: list[ToolSpec]) -> LLMResponse | str:
        prompts.append(messages)
        return model(messages, tools)

    engine = ContextEngine(cfg, path=path)
    assert engine.messages("nb") == before
    second = HybridAgent("a", FunctionLLM(fn), tools=[lookup], context_engine=engine)
    await second.execute_task("after the restart", {"session_id": "nb"})
    assert prompts[0][1:-1] == before  # system prompt, the saved history, the new task
    assert ContextEngine(path=path).messages("nb")[-1].role == "assistant"


async def test_a_task_cancelled_during_its_tools_leaves_no_orphan_tool_call() -> None:
    """The session never holds an assistant tool call without its results."""
    import asyncio

    from pitstop import FunctionLLM, HybridAgent, LLMResponse, ToolCall

    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    engine = ContextEngine()
    agent = HybridAgent("a", FunctionLLM(lambda m, t: LLMResponse(
        tool_calls=[ToolCall("forever", {})])), tools=[forever], context_engine=engine)
    job = asyncio.create_task(agent.execute_task("go", {"session_id": "s"}))
    await started.wait()
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert [m.role for m in engine.messages("s")] == ["user"]
